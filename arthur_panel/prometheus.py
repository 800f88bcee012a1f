"""prometheus_client's multiprocess mode, for every process of the panel (web, workers, beat,
the log follower): each counts in files of its own in one directory, and /metrics adds them up
(cluster_app/metrics).

A process's files are named for its host and pid, not its pid alone: processes of several
containers may share the directory (docker compose mounts one var volume into each), and each
container numbers its processes from 1."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

from prometheus_client import values

HOST = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "host"


def process_key() -> str:
    """This process in the directory's file names: `<host>-<pid>`."""
    return f"{HOST}-{os.getpid()}"


def use_directory(directory: Path) -> None:
    """Count in `directory` from now on (before any family is made: each takes the value class
    in force when it is made, and prometheus_client reads the directory from the environment)."""
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    values.ValueClass = values.MultiProcessValue(process_identifier=process_key)
