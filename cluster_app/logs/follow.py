"""Follow log files as `tail -F` does, classify their lines and feed them to each node's ring
in Redis and, in batches, to the `logs` group.

`tail -F`: a file that is not there yet is waited for and read from its start; a rotated file
(a new inode under the name) is read to its end, then the new one from its start; a truncated
file is read again from its start. A last line without its newline waits for it. Memory stays
bounded whatever the files hold: reads are chunks, batches are capped, long lines are split.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from arthur_panel.redaction import redact_secrets
from cluster_app.exo.rules import expand_home
from cluster_app.jobs import events
from cluster_app.logs import ring as logring
from cluster_app.logs.classify import CLASSES, NodeLines
from cluster_app.metrics.families import LOG_LINES
from cluster_app.metrics.rules import JACCL_ERROR, OTHER, log_line_counts
from cluster_app.models import Node

logger = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
MAX_LINE_CHARS = 16 * 1024  # longer lines are split into pieces this long
FIRST_LOOK_BYTES = 64 * 1024  # a file already there when first followed: its last lines only
IDLE_SECONDS = 0.05  # how often idle files are looked at again
BATCH_SECONDS = 0.1  # lines wait at most this long for the ring and for browsers
RING_BATCH = 1000  # lines per ring write, at most
LIVE_BATCH = 1000  # lines per browser event, the newest; browsers show fewer anyway
RETRY_SECONDS = 1.0  # after Redis refused a write, or a step failed


class FileTail:
    """One followed file. `read()` returns the complete lines written since the last call."""

    def __init__(self, path: str, *, resume: tuple[int, int] | None = None) -> None:
        self.path = path
        self.state = "waiting"  # "following", "waiting" (not there yet) or what went wrong
        self._resume = resume  # (inode, offset) where a previous follower stopped
        self._first_look = True
        self._file: io.FileIO | None = None
        self._inode = 0
        self._partial = b""
        self._skip_first = False  # started mid-file: the first piece is not a whole line
        self._open()

    @property
    def position(self) -> str:
        """"inode:offset" after the last complete line returned."""
        offset = self._file.tell() - len(self._partial) if self._file else 0
        return f"{self._inode}:{offset}"

    def read(self) -> list[str]:
        if self._file is None and not self._open():
            return []
        assert self._file is not None
        chunk = self._file.read(CHUNK_BYTES)
        if chunk:
            return self._split(chunk)
        return self._at_end()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self) -> bool:
        try:
            handle = open(self.path, "rb", buffering=0)  # noqa: SIM115 (kept open between reads)
        except FileNotFoundError:
            self.state, self._first_look = "waiting", False
            return False
        except OSError as exc:
            self.state, self._first_look = exc.strerror or str(exc), False
            return False
        stat = os.fstat(handle.fileno())
        start = 0
        if self._resume and self._resume[0] == stat.st_ino and self._resume[1] <= stat.st_size:
            start = self._resume[1]
        elif self._first_look and stat.st_size > FIRST_LOOK_BYTES:
            start = stat.st_size - FIRST_LOOK_BYTES
            handle.seek(start - 1)
            self._skip_first = handle.read(1) != b"\n"
        handle.seek(start)
        self._file, self._inode, self.state = handle, stat.st_ino, "following"
        self._resume, self._first_look = None, False
        return True

    def _at_end(self) -> list[str]:
        """Nothing more to read: has the file been truncated or replaced?"""
        assert self._file is not None
        try:
            stat = os.stat(self.path)
        except OSError:
            return []  # gone for now: a new file under the name is read when it comes
        if stat.st_ino == self._inode:
            if stat.st_size < self._file.tell():  # truncated: read it again from its start
                self._file.seek(0)
                self._partial, self._skip_first = b"", False
            return []
        # Rotated: the old file is finished (its last line ends there), then the new one read.
        rest = self._partial.decode("utf-8", "replace")
        self.close()
        self._partial, self._skip_first = b"", False
        self._open()
        return [rest] if rest else []

    def _split(self, chunk: bytes) -> list[str]:
        data = self._partial + chunk if self._partial else chunk
        end = data.rfind(b"\n") + 1
        self._partial = data[end:]
        lines = data[:end - 1].decode("utf-8", "replace").split("\n") if end else []
        if lines and self._skip_first:
            self._skip_first = False
            lines = lines[1:]
        if any(len(line) > MAX_LINE_CHARS for line in lines):
            lines = [piece for line in lines for piece in _pieces(line)]
        if len(self._partial) > MAX_LINE_CHARS:  # too long to hold: pass its whole pieces on
            cut = len(self._partial) - len(self._partial) % MAX_LINE_CHARS
            if not self._skip_first:
                lines += _pieces(self._partial[:cut].decode("utf-8", "replace"))
            self._partial = self._partial[cut:]
        return lines


def _pieces(line: str) -> list[str]:
    return [line[i:i + MAX_LINE_CHARS] for i in range(0, len(line), MAX_LINE_CHARS)] or [line]


@dataclass
class NodeFollow:
    """What is followed for one node, and the context its lines are read in."""

    tails: dict[str, FileTail] = field(default_factory=dict)
    lines: NodeLines = field(default_factory=NodeLines)


class LogFollower:
    """Follows each node's files; lines go to the node's ring and, batched, to browsers."""

    def __init__(self, *, keep: int = logring.KEEP_LINES,
                 publish: Callable[[list[str], dict[str, Any]], None] | None = None) -> None:
        self.keep = keep
        self.nodes: dict[str, NodeFollow] = {}
        self._publish = publish or (lambda groups, event: events.publish(
            groups, event, already_json=True))
        self._pending: dict[str, list[dict[str, Any]]] = {}  # node -> lines not in its ring yet
        self._live: deque[dict[str, Any]] = deque(maxlen=LIVE_BATCH)
        self._skipped = 0
        self._ring_at = self._live_at = self._retry_at = 0.0

    def configure(self, files: dict[str, list[str]]) -> None:
        """Follow exactly `files` (node -> paths): new ones start, dropped ones stop."""
        dropped = set(self.nodes) - set(files)
        if dropped:
            self._flush_ring(force=True)  # while their tails can still say where they stopped
        for node in dropped:
            for tail in self.nodes.pop(node).tails.values():
                tail.close()
        for node, paths in files.items():
            follow = self.nodes.setdefault(node, NodeFollow())
            for path in set(follow.tails) - set(paths):
                follow.tails.pop(path).close()
            new = [path for path in paths if path not in follow.tails]
            if new:  # each class of the node counted from 0, so a first line is a rise
                for name in (*CLASSES, OTHER, JACCL_ERROR):
                    LOG_LINES.labels(node, name)
            saved = logring.saved_positions(node) if new else {}
            for path in new:
                follow.tails[path] = FileTail(path, resume=saved.get(path))

    def status(self, node: str) -> dict[str, str]:
        return {path: tail.state for path, tail in self.nodes[node].tails.items()}

    def step(self, now: float | None = None) -> int:
        """Read what the files have now (a chunk of each at most); returns the lines read."""
        now = time.monotonic() if now is None else now
        count = 0
        if self._waiting() < RING_BATCH:  # else Redis is behind: let the files wait
            stamp = time.time()
            for node, follow in self.nodes.items():
                describe = follow.lines.describe
                pending = self._pending.setdefault(node, [])
                first = len(pending)
                for path, tail in follow.tails.items():
                    lines = tail.read()
                    for line in lines:
                        record = {"node": node, "file": path, "seq": 0, "ts": stamp}
                        record.update(describe(redact_secrets(line)))
                        pending.append(record)
                    count += len(lines)
                # Once per node and class, not per line: a burst is thousands of lines.
                for (name, kind), lines_of in log_line_counts(pending[first:]).items():
                    LOG_LINES.labels(name, kind).inc(lines_of)
        self._flush_ring(now=now)
        self._flush_live(now)
        return count

    def close(self) -> None:
        """Write what is still pending and let go of the files."""
        self._flush_ring(force=True)
        self._flush_live(time.monotonic(), force=True)
        for follow in self.nodes.values():
            for tail in follow.tails.values():
                tail.close()

    def run(self, stop: threading.Event, load: Callable[[], dict[str, list[str]]],
            reload_seconds: float = 10.0) -> None:
        """Follow until `stop` is set, re-reading what to follow every `reload_seconds`."""
        reload_at = 0.0
        try:
            while not stop.is_set():
                now = time.monotonic()
                if now >= reload_at:
                    reload_at = now + reload_seconds
                    self._reload(load, ttl=3 * reload_seconds)
                try:
                    read = self.step(now)
                except Exception:
                    # Keep going: a follower that exits stops every process of `make run`.
                    logger.exception("could not follow the log files; trying again")
                    stop.wait(RETRY_SECONDS)
                    continue
                if not read:
                    stop.wait(IDLE_SECONDS)
        finally:
            self.close()

    def _reload(self, load: Callable[[], dict[str, list[str]]], *, ttl: float) -> None:
        try:
            self.configure(load())
            for node in self.nodes:
                logring.follower_beat(node, {"files": self.status(node), "pid": os.getpid(),
                                             "host": os.uname().nodename, "keep": self.keep},
                                      ttl=ttl)
        except Exception:
            # A database or Redis hiccup: keep following what we follow, try again later.
            logger.warning("could not re-read what to follow", exc_info=True)

    def _waiting(self) -> int:
        return sum(map(len, self._pending.values()))

    def _flush_ring(self, now: float = 0.0, *, force: bool = False) -> None:
        waiting = self._waiting()
        if not waiting or (not force and now < self._retry_at):
            return
        if not force and waiting < RING_BATCH and now - self._ring_at < BATCH_SECONDS:
            return
        try:
            for node, records in list(self._pending.items()):
                if records:
                    # The saved positions are the tails' own: every line read so far is pending.
                    tails = self.nodes[node].tails if node in self.nodes else {}
                    positions = {path: tails[path].position
                                 for path in {r["file"] for r in records} if path in tails}
                    logring.ring_push(node, records, keep=self.keep, positions=positions)
                    self._to_live(records)
                del self._pending[node]
        except redis.RedisError:
            logger.warning("could not write log lines to Redis; retrying", exc_info=True)
            self._retry_at = now + RETRY_SECONDS
            return
        self._ring_at = now

    def _to_live(self, records: list[dict[str, Any]]) -> None:
        overflow = len(self._live) + len(records) - LIVE_BATCH
        if overflow > 0:
            self._skipped += overflow
        self._live.extend(records[-LIVE_BATCH:])

    def _flush_live(self, now: float, *, force: bool = False) -> None:
        if not self._live or (not force and now - self._live_at < BATCH_SECONDS):
            return
        self._publish([events.LOGS_GROUP], {"type": "logs.lines", "lines": list(self._live),
                                            "skipped": self._skipped})
        self._live.clear()
        self._skipped, self._live_at = 0, now


def followed_paths(node: Node) -> list[str]:
    """A node's followed files as configured: its exo log files, then its start output."""
    paths = [p.strip() for p in node.exo_log_files if isinstance(p, str) and p.strip()]
    return list(dict.fromkeys([*paths, str(node.console_log_path)]))


def followed_nodes(names: list[str] | None = None) -> list[Node]:
    """The nodes named, or by default every node with exo log files."""
    if names:
        return list(Node.objects.filter(name__in=names))
    return [node for node in Node.objects.all() if node.exo_log_files]


def files_to_follow(names: list[str] | None = None) -> dict[str, list[str]]:
    """node -> its followed files as the follower opens them: a leading ~/ is the user's home."""
    home = str(Path.home())
    return {node.name: [expand_home(path, home) for path in followed_paths(node)]
            for node in followed_nodes(names)}
