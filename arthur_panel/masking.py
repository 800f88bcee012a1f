"""Masking secrets in text: the values given, and anything shaped like one of the panel's API
keys or a Hugging Face token. Plain data in and out; `redaction.py` feeds it the configured
secrets."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "****"
# Shorter values would mask ordinary words wherever they occur.
MIN_SECRET_LENGTH = 8
# API keys are `arthur_` + token_urlsafe(32) (43 characters; the stored hint is shorter);
# Hugging Face tokens are `hf_` + 34 letters and digits.
SHAPES = re.compile(r"\barthur_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])|\bhf_[A-Za-z0-9]{30,}\b")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with each of `secrets` (the long enough ones) and each key-shaped word masked."""
    for secret in secrets:
        if len(secret) >= MIN_SECRET_LENGTH and secret in text:
            text = text.replace(secret, MASK)
    return SHAPES.sub(MASK, text)
