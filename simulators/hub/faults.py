"""Injected faults: which requests they hit, how often, and what they do.

A fault is a JSON object (the same for the --fault flag and POST /_sim/faults)::

    {"kind": "drop",    "path": "*.safetensors", "after_bytes": 65536, "times": 1}
    {"kind": "error",   "path": "config.json", "status": 503, "times": 2, "methods": ["HEAD"]}
    {"kind": "error",   "scope": "api", "repo": "org/*", "status": 500}
    {"kind": "stall",   "path": "model.safetensors", "after_bytes": 1024, "seconds": 3}
    {"kind": "corrupt", "path": "*.safetensors", "offset": 4096, "length": 16}

Common keys: "repo" and "path" are fnmatch patterns (default "*"); "times" is how many
responses it hits before it retires (default 1; null = every time).
- drop: closes the connection after `after_bytes` body bytes of a GET.
- error: answers `status` (5xx, default 503) instead of the file; "methods" limits it to HEAD
  or GET (default both). With "scope": "api" it hits the repo's /api/models routes instead
  (info, tree, paths-info; "path" and "methods" are then ignored).
- stall: sends nothing for `seconds` after `after_bytes` body bytes of a GET.
- corrupt: flips `length` bytes at file offset `offset` (default: mid-file) in GET bodies,
  while headers keep the true sha256 and size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fnmatch import fnmatch
from typing import Any

KINDS = ("drop", "error", "stall", "corrupt")
BODY_KINDS = ("drop", "stall", "corrupt")
_KEYS = {
    "kind",
    "repo",
    "path",
    "times",
    "after_bytes",
    "status",
    "seconds",
    "offset",
    "length",
    "methods",
    "scope",
}


class FaultSpecError(ValueError):
    """A fault description that cannot be used; the message says which key is wrong."""


@dataclass
class Fault:
    id: int
    kind: str
    repo: str = "*"
    path: str = "*"
    times: int | None = 1
    after_bytes: int = 0
    status: int = 503
    seconds: float = 1.0
    offset: int | None = None
    length: int = 16
    methods: tuple[str, ...] = ("GET", "HEAD")
    scope: str = "files"
    hits: int = 0

    @property
    def active(self) -> bool:
        return self.times is None or self.hits < self.times

    def matches(self, scope: str, repo_id: str, path: str, method: str) -> bool:
        return (
            self.active
            and self.scope == scope
            and fnmatch(repo_id, self.repo)
            # api faults hit every request of the repo's /api routes, whatever path or method
            and (scope == "api" or (method in self.methods and fnmatch(path, self.path)))
        )

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["methods"] = list(self.methods)
        data["active"] = self.active
        return data


def _int(data: dict[str, Any], key: str, default: int, minimum: int) -> int:
    value = data.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise FaultSpecError(f"{key} must be an integer >= {minimum}")
    return value


def parse_fault(fault_id: int, data: object) -> Fault:
    """Returns the fault described by decoded JSON `data`, validated."""
    if not isinstance(data, dict):
        raise FaultSpecError("a fault must be a JSON object")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise FaultSpecError(f"unknown fault keys: {', '.join(unknown)}")
    kind = data.get("kind")
    if kind not in KINDS:
        raise FaultSpecError(f"kind must be one of {', '.join(KINDS)}")
    repo, path, scope = data.get("repo", "*"), data.get("path", "*"), data.get("scope", "files")
    if not isinstance(repo, str) or not isinstance(path, str):
        raise FaultSpecError("repo and path must be strings")
    if scope not in ("files", "api") or (scope == "api" and kind != "error"):
        raise FaultSpecError('scope must be "files", or "api" for error faults')
    times = data.get("times", 1)
    if times is not None:
        times = _int(data, "times", 1, 1)
    seconds = data.get("seconds", 1.0)
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
        raise FaultSpecError("seconds must be a number >= 0")
    status = _int(data, "status", 503, 500)
    if status > 599:
        raise FaultSpecError("status must be a 5xx code")
    offset = data.get("offset")
    if offset is not None:
        offset = _int(data, "offset", 0, 0)
    default_methods = ["GET", "HEAD"] if kind == "error" else ["GET"]
    methods = data.get("methods", default_methods)
    if not isinstance(methods, list) or not methods or not set(methods) <= {"GET", "HEAD"}:
        raise FaultSpecError('methods must be a non-empty list of "GET" and "HEAD"')
    if kind != "error" and methods != ["GET"]:
        raise FaultSpecError(f"{kind} faults only apply to GET")
    return Fault(
        id=fault_id,
        kind=kind,
        repo=repo,
        path=path,
        times=times,
        after_bytes=_int(data, "after_bytes", 0, 0),
        status=status,
        seconds=float(seconds),
        offset=offset,
        length=_int(data, "length", 16, 1),
        methods=tuple(methods),
        scope=scope,
    )


class FaultBook:
    """The active faults; each request takes (and uses up) the ones that match it."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._next_id = 1

    def check(self, data: object) -> None:
        """Raises FaultSpecError when `data` does not describe a usable fault."""
        parse_fault(0, data)

    def add(self, data: object) -> Fault:
        fault = parse_fault(self._next_id, data)
        self._next_id += 1
        self._faults.append(fault)
        return fault

    def remove(self, fault_id: int) -> bool:
        """Returns whether a fault with that id existed."""
        before = len(self._faults)
        self._faults = [f for f in self._faults if f.id != fault_id]
        return len(self._faults) != before

    def clear(self) -> None:
        self._faults = []

    def all(self) -> list[Fault]:
        return list(self._faults)

    def take(
        self, kinds: tuple[str, ...], scope: str, repo_id: str, path: str, method: str
    ) -> list[Fault]:
        """Returns the matching faults of `kinds`, one per kind, counting this use against them."""
        taken: list[Fault] = []
        for fault in self._faults:
            fresh_kind = fault.kind in kinds and fault.kind not in {t.kind for t in taken}
            if fresh_kind and fault.matches(scope, repo_id, path, method):
                fault.hits += 1
                taken.append(fault)
        return taken
