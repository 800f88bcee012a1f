"""The downloads' families, counted where the bytes arrive: on the worker of the node they
are for (events, so pushed; a scrape adds up every process of the machine). Labels: the
inventory's node, and a failure's error code (a fixed set)."""

from __future__ import annotations

from prometheus_client import Counter

DOWNLOAD_BYTES = Counter("arthur_download_bytes", "Bytes of model files received, by node.",
                         ["node"])
DOWNLOAD_FAILURES = Counter("arthur_download_failures", "Download jobs that failed, by node and "
                            "error code (transfer_failed, verification_failed, "
                            "insufficient_disk, ...).", ["node", "reason"])


def failure_reason(exc: Exception) -> str:
    """The error code a failed download job gets; `internal` for a bug."""
    code = getattr(exc, "code", None)
    return code if isinstance(code, str) and code.isidentifier() else "internal"
