"""One file being fetched in pieces, and fetching one piece: a Range request to the file's
link, its bytes written in place as they arrive, retried with backoff."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from models_app.downloads.failures import (
    LinkExpired,
    Retry,
    TransferError,
    VerificationError,
    check_size,
    describe,
    refusal,
    retryable,
)
from models_app.downloads.location import IDENTITY, FileLocation
from models_app.downloads.partial import PartialFile
from models_app.downloads.ranges import Span, covered

logger = logging.getLogger(__name__)

RECORD_SECONDS = 2.0  # how often a file's record catches up with the bytes written


@dataclass(frozen=True)
class FileSpec:
    path: str  # inside the repo, "/"-separated
    url: str  # the file's resolve URL on the Hub
    size: int  # expected size in bytes
    sha256: str | None  # LFS files only; None for small git files


class Stopped(Exception):
    """The download is stopping (check_stop raised, or another thread failed)."""


@dataclass(eq=False)
class Piece:
    """A byte span of a file that one connection fetches, and how much of it is in."""

    start: int
    end: int
    written: int = 0  # bytes in place from `start` on

    @property
    def position(self) -> int:
        return self.start + self.written


@dataclass(eq=False)
class OpenFile:
    """A file being fetched: its partial, its link, its pieces and those not yet taken."""

    spec: FileSpec
    partial: PartialFile
    location: FileLocation
    pieces: list[Piece]
    queue: deque[Piece]
    running: int = 0  # pieces in flight, or 1 while the file is verified
    rejected: bool = False  # failed verification: deleted once the threads have stopped
    recorded_at: float = field(default_factory=time.monotonic)
    recording: threading.Lock = field(default_factory=threading.Lock)

    def done_spans(self) -> list[Span]:
        """The bytes in place: those kept from before and those written in this run."""
        return [*self.partial.kept, *((p.start, p.position) for p in self.pieces)]

    def done_bytes(self) -> int:
        return covered(self.done_spans())

    def record_if_due(self) -> None:
        """Records the bytes written so far when the last record is old enough (and no other
        thread is recording this file)."""
        if time.monotonic() - self.recorded_at < RECORD_SECONDS:
            return
        if not self.recording.acquire(blocking=False):
            return
        try:
            self.recorded_at = time.monotonic()
            self.partial.save_record(self.done_spans())
            self.partial.hash_ahead(self.done_spans())
        finally:
            self.recording.release()


@dataclass
class ByteCounter:
    """Bytes received from the network, added to by every thread."""

    value: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, amount: int) -> None:
        with self.lock:
            self.value += amount


@dataclass
class PieceFetcher:
    """What every thread uses to fetch pieces."""

    client: httpx.Client
    timeout: httpx.Timeout
    max_retries: int
    backoff: float
    sleep: Callable[[float], object]
    stop: threading.Event
    received: ByteCounter

    def fetch(self, file: OpenFile, piece: Piece) -> None:
        """Fetches the rest of the piece, retrying with backoff; raises TransferError after
        `max_retries` failures in a row (bytes arriving start the count again)."""
        failures, fresh_link = 0, False
        while piece.position < piece.end:
            if self.stop.is_set():
                raise Stopped
            before = piece.written
            try:
                self._attempt(file, piece)
                continue
            except LinkExpired as exc:
                # A link may expire between two pieces: the first refusal only asks for a
                # fresh one; a fresh link refused too counts as a failure.
                if not fresh_link:
                    fresh_link = True
                    continue
                error: Exception = exc
            except (httpx.TransportError, Retry) as exc:
                error = exc
            if piece.written > before:
                failures, fresh_link = 0, False
            if failures >= self.max_retries:
                raise TransferError(f"{file.spec.path}: gave up after {failures} retries: "
                                    f"{describe(error)}") from error
            delay = self.backoff * 2**failures
            logger.info("%s: %s; retrying in %g s", file.spec.path, describe(error), delay)
            self.sleep(delay)
            failures += 1

    def _attempt(self, file: OpenFile, piece: Piece) -> None:
        """One GET of the piece's missing bytes; raises Retry, LinkExpired or TransferError."""
        spec, source = file.spec, file.location.source()
        start = piece.position
        headers = {**IDENTITY, **source.headers, "Range": f"bytes={start}-{piece.end - 1}"}
        with self.client.stream("GET", source.url, headers=headers, timeout=self.timeout,
                                follow_redirects=True) as response:
            status = response.status_code
            if source.signed and status in (403, 410):
                file.location.expired(source)
                raise LinkExpired(f"the CDN refused the file's link (HTTP {status})")
            if retryable(status):
                raise Retry(f"the server answered HTTP {status}")
            if status == 416:
                raise VerificationError(f"{spec.path}: the hub has fewer bytes than the "
                                        f"expected {spec.size} (none at {start})")
            if status >= 400:
                raise TransferError(refusal(spec.path, status))
            self._copy(response, file, piece, skip=self._skip(response, spec, start))
        if piece.position < piece.end:
            raise Retry(f"the connection ended at byte {piece.position} of {spec.size}")

    @staticmethod
    def _skip(response: httpx.Response, spec: FileSpec, start: int) -> int:
        """Returns how many leading body bytes come before the piece."""
        if response.status_code == 206:
            sent = response.headers.get("content-range", "")
            if not sent.startswith(f"bytes {start}-"):
                raise Retry(f"the server sent another byte range than asked ({sent})")
            total = sent.rpartition("/")[2]
            check_size(spec.path, spec.size, int(total) if total.isdigit() else None)
            return 0
        if response.status_code == 200:  # the server ignored Range: the body is the whole file
            length = response.headers.get("content-length", "")
            check_size(spec.path, spec.size, int(length) if length.isdigit() else None)
            return start
        raise TransferError(f"{spec.path}: unexpected answer HTTP {response.status_code}")

    def _copy(self, response: httpx.Response, file: OpenFile, piece: Piece, skip: int) -> None:
        for data in response.iter_bytes():
            view = memoryview(data)
            if skip:
                dropped = min(skip, len(view))
                view, skip = view[dropped:], skip - dropped
            view = view[: piece.end - piece.position]
            if view:
                file.partial.write(piece.position, view)
                piece.written += len(view)
                self.received.add(len(view))
            if piece.position >= piece.end:
                return
            if self.stop.is_set():
                raise Stopped
            file.record_if_due()
