"""The multiprocess directory (PROMETHEUS_MULTIPROC_DIR): each process of this machine
counts in files of its own, named for its pid, and a scrape adds them all up.

A process that exits leaves its files: its counts happened and must stay in the totals, or a
counter would go down. So the files of dead processes are folded into one archive file per
type, and removed: the directory holds one file per live process, plus the archive, however
often the workers restart."""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client.mmap_dict import MmapedDict

from arthur_panel.prometheus import HOST

# counter_<host>-<pid>.db, histogram_<host>-<pid>.db (arthur_panel/prometheus.py); the pushed
# families are counters and histograms only.
_FILE = re.compile(r"(counter|histogram)_(.+)-(\d+)\.db")


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """One scrape or compaction at a time in `directory` (across the web processes): a scrape
    must never see a dead process's counts both in its file and in the archive."""
    with (directory / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def compact(directory: Path) -> int:
    """Fold the files of this host's dead processes into the archive; returns how many were
    folded. Another host's (another container's) are left: whether they live cannot be told
    from here. The caller holds `locked(directory)`."""
    folded = 0
    archives: dict[str, MmapedDict] = {}
    try:
        for path in sorted(directory.iterdir()):
            match = _FILE.fullmatch(path.name)
            if match is None or match[2] != HOST or alive(int(match[3])):
                continue
            kind = match[1]
            archive = archives.get(kind) or archives.setdefault(
                kind, MmapedDict(str(directory / f"{kind}_archive.db")))
            for key, value, timestamp, _ in MmapedDict.read_all_values_from_file(str(path)):
                total, _ = archive.read_value(key)
                archive.write_value(key, total + value, timestamp)
            path.unlink()
            folded += 1
    finally:
        for archive in archives.values():
            archive.close()
    return folded
