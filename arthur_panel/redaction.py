"""Secrets kept out of what the panel writes: its processes' logs, and the jobs' log lines,
messages and errors (shown in pages, the API and live events), and the log ring.

The values the panel is configured with (the Hugging Face token, the Redis, database and email
passwords, the secret key) and anything shaped like one of its API keys or a Hugging Face
token become `****`. Nothing writes them on purpose; this catches an error message or a
command line that carries one.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from django.conf import settings

from arthur_panel.masking import redact


@lru_cache(maxsize=8)
def _secrets(hf_token: str, redis_url: str, database_password: str,
             secret_key: str, email_password: str) -> tuple[str, ...]:
    redis_password = urlsplit(redis_url).password or ""
    found = {hf_token, redis_password, unquote(redis_password), database_password, secret_key,
             email_password}
    # Longest first: a secret containing another is masked whole.
    return tuple(sorted(found, key=len, reverse=True))


def configured_secrets() -> tuple[str, ...]:
    """The secret values in this process's settings (empty ones included)."""
    return _secrets(settings.HF_TOKEN, settings.REDIS_URL,
                    str(settings.DATABASES["default"].get("PASSWORD") or ""), settings.SECRET_KEY,
                    settings.EMAIL_HOST_PASSWORD)


def redact_secrets(text: str) -> str:
    """`text` with this panel's secrets, and anything shaped like a key, masked."""
    return redact(text, configured_secrets())


class RedactingFormatter(logging.Formatter):
    """Every log line the panel's processes write, tracebacks included, with secrets masked."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_secrets(super().format(record))
