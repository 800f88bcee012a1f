"""What an audit entry may keep of an action's parameters: secrets replaced, everything else
as it was. Plain data in and out."""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[redacted]"
# A key naming a secret, as a whole word of it: `hf_token`, `password1`, `api_key`,
# `Authorization`; not `max_tokens` (a count).
SECRET_KEY = re.compile(r"(?:^|[^a-z])(?:token|password|passwd|secret|authorization|key)"
                        r"(?:[^a-z]|$)", re.IGNORECASE)
# Values that are credentials wherever they appear: the panel's tokens and Hugging Face's.
SECRET_VALUE = re.compile(r"\b(?:arthur|hf)_[A-Za-z0-9_-]{8,}")


def is_secret_key(name: str) -> bool:
    return SECRET_KEY.search(name) is not None


def redact_text(text: str) -> str:
    return SECRET_VALUE.sub(REDACTED, text)


def redact(value: Any) -> Any:
    """`value` with every secret replaced by REDACTED: values under a secret-sounding key, and
    token-like strings anywhere, in nested dicts and lists."""
    if isinstance(value, dict):
        return {key: REDACTED if is_secret_key(str(key)) else redact(item)
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
