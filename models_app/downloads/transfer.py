"""Moving a repo's files to disk: several files at once, each in byte ranges over several
connections, resumable, verified, retried. Plain Python, httpx and threads, no Django.

huggingface_hub deletes a partial file when a download is interrupted and fetches a file over
one connection, which a CDN that caps each connection holds to that cap. So for 378 GB models
we fetch the files ourselves: each file is cut into pieces (`ranges.plan`) that up to
`connections` threads fetch (`pieces.py`) with Range requests from the file's CDN link
(`location.py`), each writing at its own offset into `<final>.partial` (`partial.py`); a record
beside it says which
bytes are in, so a pause, a dropped connection or a killed worker resumes inside the file. A
file reaches its final name only once its size and sha256 are right.

Only the calling thread reports progress and calls `check_stop`; the threads stop between two
network reads once it has raised (or one of them failed), and what they wrote is recorded.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import httpx

from models_app.downloads.failures import TransferError, VerificationError, check_size
from models_app.downloads.location import FileLocation
from models_app.downloads.partial import PartialFile, partial_path, remove_partials
from models_app.downloads.pieces import (
    ByteCounter,
    FileSpec,
    OpenFile,
    Piece,
    PieceFetcher,
    Stopped,
)
from models_app.downloads.ranges import MIB, missing, plan

__all__ = ["FileSpec", "Limits", "TransferError", "TransferProgress", "VerificationError",
           "download_files", "partial_path", "remove_partials"]

logger = logging.getLogger(__name__)

TICK = 0.05  # seconds between two progress reports of the calling thread


@dataclass(frozen=True)
class TransferProgress:
    path: str
    file_done: int
    file_total: int
    done: int  # over all files
    total: int
    files_done: int
    files_total: int


@dataclass(frozen=True)
class Limits:
    """How much of the network one download uses, and the size of its pieces."""

    connections: int = 8  # pieces in flight at once, over every file
    files_at_once: int = 4  # files with pieces in flight (or being verified) at once
    smallest_piece: int = 16 * MIB
    largest_piece: int = 128 * MIB
    align: int = 64 * 1024  # pieces start on whole pages


class _Board:
    """The work shared by the threads: files waiting, files open, and their pieces."""

    def __init__(self, waiting: list[FileSpec], opener: Callable[[FileSpec], OpenFile],
                 files_at_once: int) -> None:
        self._cond = threading.Condition()
        self._waiting = deque(waiting)
        self._opener = opener
        self._files_at_once = files_at_once
        self.open: list[OpenFile] = []
        self.finished: list[FileSpec] = []  # taken by the calling thread's reports
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def take(self) -> tuple[OpenFile, Piece | None] | None:
        """Returns the next piece to fetch (earlier files first), or a file with nothing left
        to fetch, to be verified; None once there is nothing left or the download stops."""
        with self._cond:
            while not self.stop.is_set():
                for file in self.open:
                    if file.queue:
                        file.running += 1
                        return file, file.queue.popleft()
                if self._waiting and len(self.open) < self._files_at_once:
                    file = self._opener(self._waiting.popleft())
                    self.open.append(file)
                    if not file.queue:
                        file.running += 1
                        return file, None
                    continue
                if not self.open and not self._waiting:
                    return None
                self._cond.wait()
            return None

    def piece_done(self, file: OpenFile) -> bool:
        """Returns whether that was the file's last piece (the caller then verifies it)."""
        with self._cond:
            file.running -= 1
            last = not file.queue and file.running == 0
            if last:
                file.running = 1
            return last

    def closed(self, file: OpenFile) -> None:
        with self._cond:
            self.open.remove(file)
            self.finished.append(file.spec)
            self._cond.notify_all()

    def fail(self, error: BaseException) -> None:
        with self._cond:
            if self.error is None:
                self.error = error
            self.stop.set()
            self._cond.notify_all()

    def halt(self) -> None:
        with self._cond:
            self.stop.set()
            self._cond.notify_all()

    def wait(self, timeout: float) -> bool:
        """Returns True once every file is done or a thread failed."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self.error is not None or (not self.open and not self._waiting), timeout)

    def snapshot(self) -> tuple[list[FileSpec], list[tuple[FileSpec, int]]]:
        """Returns the files finished since the last call, and each open file with its bytes."""
        with self._cond:
            finished, self.finished = self.finished, []
            return finished, [(f.spec, f.done_bytes()) for f in self.open]


def _finish(file: OpenFile) -> None:
    """Verifies the file's size and sha256, then gives it its final name; raises
    VerificationError."""
    spec = file.spec
    size, digest = file.partial.finish(file.done_spans())
    check_size(spec.path, spec.size, size)
    if spec.sha256 and digest != spec.sha256.lower():
        raise VerificationError(f"{spec.path}: expected sha256 {spec.sha256}, got {digest}")
    file.partial.promote()


def _work(board: _Board, fetcher: PieceFetcher) -> None:
    """A thread's loop: fetch pieces, verify the files whose last piece it fetched."""
    try:
        while (task := board.take()) is not None:
            file, piece = task
            try:
                if piece is not None:
                    fetcher.fetch(file, piece)
                    if not board.piece_done(file):
                        file.partial.hash_ahead(file.done_spans())
                        continue
                _finish(file)
            except VerificationError:
                file.rejected = True
                raise
            board.closed(file)
    except Stopped:
        pass
    except BaseException as exc:  # noqa: BLE001 (handed to the calling thread, which raises it)
        board.fail(exc)


def _safe_parts(path: str) -> tuple[str, ...]:
    # Repo paths come from the network; never let one write outside the model's folder.
    parts = PurePosixPath(path).parts
    if not parts or PurePosixPath(path).is_absolute() or ".." in parts:
        raise TransferError(f"{path}: refusing a file path outside the model folder")
    return parts


class _Reports:
    """The calling thread's progress reports: bytes and files over the whole download."""

    def __init__(self, files: list[FileSpec], on_progress: Callable[[TransferProgress], None],
                 on_bytes: Callable[[int], None], received: ByteCounter) -> None:
        self.total, self.files_total = sum(f.size for f in files), len(files)
        self.complete, self.files_done = 0, 0  # bytes and number of files finished
        self._on_progress, self._on_bytes = on_progress, on_bytes
        self._received, self._told = received, 0

    def finished(self, files: list[FileSpec], opened: list[tuple[FileSpec, int]]) -> None:
        """Reports files finished (or found complete) and the bytes of those still open."""
        self.complete += sum(spec.size for spec in files)
        done = self.complete + sum(file_done for _, file_done in opened)
        for spec in files:
            self.files_done += 1
            self._report(spec, spec.size, done)
        for spec, file_done in opened:
            self._report(spec, file_done, done)

    def update(self, board: _Board) -> None:
        self.finished(*board.snapshot())
        received = self._received.value
        if received > self._told:
            self._on_bytes(received - self._told)
            self._told = received

    def _report(self, spec: FileSpec, file_done: int, done: int) -> None:
        self._on_progress(TransferProgress(spec.path, file_done, spec.size, done, self.total,
                                           self.files_done, self.files_total))


def download_files(
    files: list[FileSpec],
    dest: Path,
    *,
    client: httpx.Client,
    on_progress: Callable[[TransferProgress], None],
    check_stop: Callable[[], None] = lambda: None,
    stall_seconds: float = 60.0,
    max_retries: int = 5,
    backoff: float = 1.0,
    sleep: Callable[[float], object] | None = None,
    chunk_size: int = 1 << 20,
    on_bytes: Callable[[int], None] = lambda count: None,
    auth: Mapping[str, str] | None = None,
    limits: Limits = Limits(),  # noqa: B008 (frozen)
) -> None:
    """Downloads `files` under `dest`, resuming any partial left behind.

    Files already at their final path with the expected size are skipped without hashing (too
    slow for hundreds of GB). Whatever `check_stop` or `on_progress` raises propagates once
    the threads have stopped and recorded their bytes (pause). `auth` (the Hub's token header)
    goes only to the Hub's origin. `sleep` waits between retries (by default a wait that a
    stop cuts short); `chunk_size` is the read size when hashing bytes already on disk.
    `on_bytes` is told how many bytes arrived from the network since it was last called.
    Raises TransferError (VerificationError on a size or sha256 mismatch) or the OSError of a
    write (a full disk).
    """
    # The read timeout fires when no byte arrived for that long: that is the stall detector.
    timeout = httpx.Timeout(stall_seconds, connect=min(stall_seconds, 30.0))
    received = ByteCounter()
    reports = _Reports(files, on_progress, on_bytes, received)
    to_fetch: list[FileSpec] = []
    for spec in files:
        final = dest.joinpath(*_safe_parts(spec.path))
        if final.is_file() and final.stat().st_size == spec.size:
            partial_path(final).unlink(missing_ok=True)  # a stale one beside a complete file
            reports.finished([spec], [])
        else:
            to_fetch.append(spec)
    if not to_fetch:
        return

    def open_file(spec: FileSpec) -> OpenFile:
        final = dest.joinpath(*_safe_parts(spec.path))
        final.parent.mkdir(parents=True, exist_ok=True)
        partial = PartialFile(final, spec.size, spec.sha256, chunk_size)
        pieces = [Piece(start, end) for start, end in plan(
            missing(partial.kept, spec.size), limits.connections, smallest=limits.smallest_piece,
            largest=limits.largest_piece, align=limits.align)]
        location = FileLocation(spec.path, spec.url, spec.size, client=client,
                                auth=auth or {}, timeout=timeout)
        return OpenFile(spec, partial, location, pieces, deque(pieces))

    board = _Board(to_fetch, open_file, limits.files_at_once)
    fetcher = PieceFetcher(client, timeout, max_retries, backoff, sleep or board.stop.wait,
                       board.stop, received)
    threads = [threading.Thread(target=_work, args=(board, fetcher), daemon=True,
                                name=f"download-{i}") for i in range(limits.connections)]
    for thread in threads:
        thread.start()
    try:
        while not board.wait(TICK):
            check_stop()
            reports.update(board)
        if board.error is not None:
            raise board.error
        reports.update(board)
    finally:
        board.halt()
        for thread in threads:
            thread.join()
        for file in list(board.open):
            if file.rejected:
                file.partial.discard()  # bytes that failed verification are no use
            else:
                _record_and_close(file)


def _record_and_close(file: OpenFile) -> None:
    """Keeps what a stopped download wrote for the next run."""
    try:
        file.partial.save_record(file.done_spans())
    except OSError as exc:  # a full disk, say: the last record still holds
        logger.warning("could not record the bytes of %s: %s", file.partial.path, exc)
    finally:
        file.partial.close()
