"""The panel's version, as every machine of the cluster must run the same: the package's version,
and the commit of the checkout it runs from (`0.1.0+g6b9182b50908`), since an upgrade is a
`git pull` that leaves the package's version as it was."""

from __future__ import annotations

import functools
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def git_commit(root: Path = ROOT) -> str | None:
    """The checkout's commit (12 hex digits), or None outside a git checkout or without git."""
    try:
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, timeout=10, check=False,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


@functools.cache
def panel_version() -> str:
    try:
        base = version("arthur-panel")
    except PackageNotFoundError:
        base = "unknown"
    commit = git_commit()
    return f"{base}+g{commit}" if commit else base
