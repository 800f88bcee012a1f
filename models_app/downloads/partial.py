"""A file being downloaded: `<final>.partial`, written at offsets by several connections at
once, and `<final>.partial.json`, the byte spans known to be in it.

The record is written before the first byte and afterwards only after the bytes it adds are
flushed to disk, so whatever stops the download (a pause, a dropped connection, a killed
worker, a power cut) leaves a record that never claims a byte that is not there; the next run
fetches only what the record lacks. A partial with no record, or one for another size or
sha256 (another revision), is not trusted: it starts over.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from models_app.downloads.ranges import Span, clipped, covered, prefix_end

PARTIAL_SUFFIX = ".partial"
RECORD_SUFFIX = ".partial.json"
# fdatasync flushes the data without the file's times; macOS has only fsync.
_flush_data = getattr(os, "fdatasync", os.fsync)


def partial_path(final: Path) -> Path:
    """Returns where the bytes of `final` are written until they are verified."""
    return final.with_name(final.name + PARTIAL_SUFFIX)


def record_path(final: Path) -> Path:
    """Returns the record of which bytes of `partial_path(final)` are in place."""
    return final.with_name(final.name + RECORD_SUFFIX)


def remove_partials(dest: Path) -> int:
    """Deletes every partial file under `dest` and its record (a cancelled download); returns
    how many partial files there were."""
    if not dest.is_dir():
        return 0
    removed = 0
    for path in dest.rglob("*" + PARTIAL_SUFFIX):
        if path.is_file():
            path.unlink()
            removed += 1
    for path in dest.rglob(f"*{RECORD_SUFFIX}*"):  # records, and one a kill left half-written
        path.unlink(missing_ok=True)
    return removed


def _read_record(final: Path, size: int, sha256: str | None) -> list[Span] | None:
    """Returns the spans recorded for this very file (size and sha256), else None."""
    try:
        data: Any = json.loads(record_path(final).read_text(encoding="utf-8"))
        if data["size"] != size or data["sha256"] != sha256:
            return None
        return clipped(((int(a), int(b)) for a, b in data["spans"]), size)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def kept_bytes(final: Path, size: int, sha256: str | None) -> int:
    """Returns how many bytes of the file a partial already holds (by its record)."""
    spans = _read_record(final, size, sha256)
    return covered(spans) if spans and partial_path(final).exists() else 0


class PartialFile:
    """One open partial: positional writes from any thread, its record, and its sha256, worked
    out in file order as the bytes from the start are complete."""

    def __init__(self, final: Path, size: int, sha256: str | None, read_size: int) -> None:
        self.final, self.size, self.sha256 = final, size, sha256
        self.path, self.record = partial_path(final), record_path(final)
        self._read_size = read_size
        spans = _read_record(final, size, sha256) if self.path.exists() else None
        fresh = spans is None
        self.kept: list[Span] = spans or []  # on disk before this run
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | (os.O_TRUNC if fresh else 0),
                           0o644)
        self._hasher = hashlib.sha256()
        self._hashed = 0
        self._hash_lock = threading.Lock()
        try:
            if os.fstat(self._fd).st_size > size:
                os.ftruncate(self._fd, size)
            if fresh:
                self.save_record([])  # before any byte, so no unrecorded bytes are trusted
        except BaseException:
            self.close()
            if fresh:  # no room for the record, say: an empty partial is no use either
                self.path.unlink(missing_ok=True)
            raise

    def write(self, offset: int, data: memoryview) -> None:
        while data:
            written = os.pwrite(self._fd, data, offset)
            data, offset = data[written:], offset + written

    def save_record(self, spans: list[Span]) -> None:
        """Flushes the partial's data, then records `spans` (all of which must have been
        written before this call) in place of the last record. One caller at a time."""
        _flush_data(self._fd)
        body = json.dumps({"size": self.size, "sha256": self.sha256,
                           "spans": [list(span) for span in clipped(spans, self.size)]})
        temporary = self.record.with_name(self.record.name + ".tmp")
        try:
            with temporary.open("w", encoding="utf-8") as out:
                out.write(body)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.record)  # a crash leaves the old record or the new
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def hash_ahead(self, done: list[Span], *, wait: bool = False) -> None:
        """Feeds the sha256 the bytes from where it stopped to where `done` stops holding them
        from 0 on. Without `wait`, returns at once if another thread is at it."""
        if not self._hash_lock.acquire(blocking=wait):
            return
        try:
            end = prefix_end(done)
            while self._hashed < end:
                block = os.pread(self._fd, min(self._read_size, end - self._hashed), self._hashed)
                if not block:
                    break  # shorter than recorded: the size check says so
                self._hasher.update(block)
                self._hashed += len(block)
        finally:
            self._hash_lock.release()

    def finish(self, done: list[Span]) -> tuple[int, str]:
        """Hashes what is left, flushes the file to disk and closes it; returns its size and
        sha256."""
        self.hash_ahead(done, wait=True)
        os.fsync(self._fd)
        size = os.fstat(self._fd).st_size
        self.close()
        return size, self._hasher.hexdigest()

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1  # never close a number the system has handed out again
            os.close(fd)

    def discard(self) -> None:
        """Deletes the partial and its record: bytes that failed verification are no use."""
        self.close()
        self.path.unlink(missing_ok=True)
        self.record.unlink(missing_ok=True)

    def promote(self) -> None:
        """Gives the verified bytes their final name and drops the record."""
        os.replace(self.path, self.final)
        self.record.unlink(missing_ok=True)
