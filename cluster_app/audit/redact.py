"""What an audit entry may keep of an action's parameters: secrets replaced, everything else
as it was. Plain data in and out."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from arthur_panel.masking import MASK
from arthur_panel.masking import redact as mask_text

REDACTED = MASK
# A key naming a secret, as a whole word of it: `hf_token`, `password1`, `api_key`,
# `Authorization`; not `max_tokens` (a count).
SECRET_KEY = re.compile(r"(?:^|[^a-z])(?:token|password|passwd|secret|authorization|key)"
                        r"(?:[^a-z]|$)", re.IGNORECASE)


def is_secret_key(name: str) -> bool:
    return SECRET_KEY.search(name) is not None


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    return mask_text(text, secrets)


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """`value` with every secret replaced by REDACTED: values under a secret-sounding key, and
    `secrets` and token-like strings anywhere, in nested dicts and lists."""
    if isinstance(value, dict):
        return {key: REDACTED if is_secret_key(str(key)) else redact(item, secrets)
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(item, secrets) for item in value]
    if isinstance(value, str):
        return redact_text(value, secrets)
    return value
