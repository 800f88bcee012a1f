"""What a node's worker sees of its models directory: there or not, writable or not, and the
free space of its disk. Standard library only."""

from __future__ import annotations

import shutil
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import Any


def _existing(path: Path) -> Path:
    """`path`, or the nearest of its parents that exists."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def models_dir_facts(path: Path) -> dict[str, Any]:
    """Whether this process can write to `path` (by writing there: permission bits do not say
    what a read-only disk or an ACL does), or create it when it is not there yet."""
    facts: dict[str, Any] = {"path": str(path), "exists": path.is_dir(), "writable": False,
                             "free_bytes": None, "error": ""}
    if path.exists() and not path.is_dir():
        return {**facts, "error": "it is a file, not a directory"}
    where = _existing(path)
    try:
        with tempfile.NamedTemporaryFile(dir=where, prefix=".arthur-write-check-"):
            pass
    except OSError as exc:
        facts["error"] = exc.strerror or str(exc)
    else:
        facts["writable"] = True
    with suppress(OSError):
        facts["free_bytes"] = shutil.disk_usage(where).free
    return facts
