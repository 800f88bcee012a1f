"""Counters tests read back: requests per route and, per file, requests and bytes served."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class FileStats:
    head: int = 0
    get: int = 0
    ranged_get: int = 0
    bytes: int = 0
    # GETs whose whole requested range went out; a cached file must not add to this
    completed: int = 0
    redirects: int = 0  # Hub answers sending the client to the CDN (LFS files)


class Counters:
    def __init__(self) -> None:
        self.routes: Counter[str] = Counter()
        self.files: dict[str, FileStats] = {}

    def request(self, route: str) -> None:
        self.routes[route] += 1

    def file(self, repo_id: str, path: str) -> FileStats:
        """Returns the (live) stats of one file, created on first use."""
        return self.files.setdefault(f"{repo_id}/{path}", FileStats())

    def reset(self) -> None:
        self.routes.clear()
        self.files.clear()

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": dict(self.routes),
            "files": {key: asdict(stats) for key, stats in sorted(self.files.items())},
        }
