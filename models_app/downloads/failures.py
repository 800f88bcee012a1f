"""How a file transfer fails, and the words the job shows for it."""

from __future__ import annotations

import httpx

from cluster_app.jobs.failures import WorkFailed

# Rate limits and request timeouts are worth waiting out; every other 4xx will not change.
RETRYABLE_4XX = frozenset({408, 429})


class TransferError(WorkFailed):
    """A file could not be downloaded; the message names the file and says what happened."""

    code = "transfer_failed"


class VerificationError(TransferError):
    """A downloaded file's size or sha256 differs from the listing; its partial is deleted."""

    code = "verification_failed"


class Retry(Exception):
    """A failure worth another attempt (5xx, short body), handled like a network error."""


class LinkExpired(Retry):
    """The CDN refused a signed link (403 or 410): ask the Hub for a fresh one."""


def retryable(status: int) -> bool:
    return status >= 500 or status in RETRYABLE_4XX


def refusal(path: str, status: int) -> str:
    if status in (401, 403):
        return f"{path}: the hub refused the download (HTTP {status}): needs a token / access"
    if status == 404:
        return f"{path}: not found on the hub (HTTP 404)"
    return f"{path}: the hub refused the download (HTTP {status})"


def check_size(path: str, expected: int, declared: int | None) -> None:
    """Raises VerificationError when the server declares another size than the listing's (a
    stale listing, another revision: retrying would never fix it)."""
    if declared is not None and declared != expected:
        raise VerificationError(f"{path}: expected {expected} bytes, got {declared}")


def describe(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no bytes arrived for too long ({type(exc).__name__})"
    if isinstance(exc, httpx.TransportError):
        return f"network error: {str(exc) or type(exc).__name__}"
    return str(exc)
