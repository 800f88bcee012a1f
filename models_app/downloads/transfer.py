"""Moving a repo's files to disk: resumable, verified, retried. Plain Python and httpx, no Django.

huggingface_hub deletes a partial file when a download is interrupted, so for 378 GB models we
fetch the file URLs it gives us ourselves, with Range requests that continue inside a file. Bytes
go to `<final>.partial` and only reach the final name once their size and sha256 are right.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import httpx

from cluster_app.jobs.failures import WorkFailed

PARTIAL_SUFFIX = ".partial"
# Rate limits and request timeouts are worth waiting out; every other 4xx will not change.
RETRYABLE_4XX = frozenset({408, 429})


@dataclass(frozen=True)
class FileSpec:
    path: str  # inside the repo, "/"-separated
    url: str  # the file's resolve URL; redirects are followed
    size: int  # expected size in bytes
    sha256: str | None  # LFS files only; None for small git files


@dataclass(frozen=True)
class TransferProgress:
    path: str
    file_done: int
    file_total: int
    done: int  # over all files
    total: int
    files_done: int
    files_total: int


class TransferError(WorkFailed):
    """A file could not be downloaded; the message names the file and says what happened."""

    code = "transfer_failed"


class VerificationError(TransferError):
    """A downloaded file's size or sha256 differs from the listing; its partial is deleted."""

    code = "verification_failed"


class _Retry(Exception):
    """A failure worth another attempt (5xx, short body), handled like a network error."""


def partial_path(final: Path) -> Path:
    """Returns where the bytes of `final` are written until they are verified."""
    return final.with_name(final.name + PARTIAL_SUFFIX)


def remove_partials(dest: Path) -> int:
    """Deletes every *.partial file under `dest` (a cancelled download); returns how many."""
    if not dest.is_dir():
        return 0
    removed = 0
    for path in dest.rglob("*" + PARTIAL_SUFFIX):
        if path.is_file():
            path.unlink()
            removed += 1
    return removed


@dataclass(frozen=True)
class _Settings:
    """download_files' knobs, passed down as one value."""

    client: httpx.Client
    timeout: httpx.Timeout
    check_stop: Callable[[], None]
    max_retries: int
    backoff: float
    sleep: Callable[[float], None]
    chunk_size: int
    on_bytes: Callable[[int], None]


@dataclass
class _Totals:
    done: int  # bytes of files already complete
    total: int
    files_done: int
    files_total: int


class _Partial:
    """One file's partial on disk: the open handle, its length and the running sha256."""

    def __init__(self, out: BinaryIO, hasher: hashlib._Hash, length: int) -> None:
        self.out, self.hasher, self.length = out, hasher, length
        self.received = 0  # bytes that arrived in this call, to tell progress from failure

    def restart(self) -> None:
        self.out.truncate(0)
        self.hasher, self.length = hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        self.out.write(data)
        self.hasher.update(data)
        self.length += len(data)
        self.received += len(data)


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
    sleep: Callable[[float], None] = time.sleep,
    chunk_size: int = 1 << 20,
    on_bytes: Callable[[int], None] = lambda count: None,
) -> None:
    """Downloads `files` under `dest`, one after the other, resuming any partial left behind.

    Files already at their final path with the expected size are skipped without hashing (too
    slow for hundreds of GB). Whatever `check_stop` raises propagates and leaves the partial for
    the next call (pause). `chunk_size` is the read size when hashing a partial already on disk;
    network bytes are written as they arrive, so a dropped connection loses none of them.
`on_bytes` is told the size of each piece received from the network.
    Raises TransferError (VerificationError on a size or sha256 mismatch).
    """
    totals = _Totals(0, sum(f.size for f in files), 0, len(files))
    # The read timeout fires when no byte arrived for that long: that is the stall detector.
    timeout = httpx.Timeout(stall_seconds, connect=min(stall_seconds, 30.0))
    settings = _Settings(client, timeout, check_stop, max_retries, backoff, sleep, chunk_size,
                         on_bytes)
    for spec in files:
        final = dest.joinpath(*_safe_parts(spec.path))

        def report(file_done: int, spec: FileSpec = spec) -> None:
            on_progress(TransferProgress(spec.path, file_done, spec.size, totals.done + file_done,
                                         totals.total, totals.files_done, totals.files_total))

        if not (final.is_file() and final.stat().st_size == spec.size):
            final.parent.mkdir(parents=True, exist_ok=True)
            _download(spec, final, settings, report)
        partial_path(final).unlink(missing_ok=True)  # a stale one beside a complete file
        totals.done += spec.size
        totals.files_done += 1
        report(0)


def _safe_parts(path: str) -> tuple[str, ...]:
    # Repo paths come from the network; never let one write outside the model's folder.
    parts = PurePosixPath(path).parts
    if not parts or PurePosixPath(path).is_absolute() or ".." in parts:
        raise TransferError(f"{path}: refusing a file path outside the model folder")
    return parts


def _download(spec: FileSpec, final: Path, settings: _Settings,
              report: Callable[[int], None]) -> None:
    partial = partial_path(final)
    try:
        hasher, length = _hash_existing(partial, settings.chunk_size)
        with partial.open("ab") as out:
            part = _Partial(out, hasher, length)
            if part.length > spec.size:  # not a prefix of this file: from another revision
                part.restart()
            if part.length:
                report(part.length)  # a resumed file shows its bytes at once, not 0%
            failures = 0
            while True:
                settings.check_stop()
                received = part.received
                try:
                    _attempt(spec, part, settings, report)
                    break
                except (httpx.TransportError, _Retry) as exc:
                    if part.received > received:
                        failures = 0
                    if failures >= settings.max_retries:
                        raise TransferError(f"{spec.path}: gave up after {failures} retries: "
                                            f"{_describe(exc)}") from exc
                    settings.sleep(settings.backoff * 2**failures)
                    failures += 1
            out.flush()
            os.fsync(out.fileno())
            actual_size = os.fstat(out.fileno()).st_size
        _verify(spec, actual_size, part.hasher.hexdigest())
    except VerificationError:
        partial.unlink(missing_ok=True)  # bad bytes are useless for a resume
        raise
    os.replace(partial, final)


def _hash_existing(partial: Path, chunk_size: int) -> tuple[hashlib._Hash, int]:
    """Returns the sha256 state and length of the bytes a previous call left in `partial`."""
    hasher = hashlib.sha256()
    if not partial.exists():
        return hasher, 0
    with partial.open("rb") as existing:
        while block := existing.read(chunk_size):
            hasher.update(block)
    return hasher, partial.stat().st_size


def _attempt(spec: FileSpec, part: _Partial, settings: _Settings,
             report: Callable[[int], None]) -> None:
    """One GET from the partial's end to the file's end; raises _Retry or TransferError."""
    # identity: Content-Length and Range must count the file's own bytes, not a compressed form.
    headers = {"Accept-Encoding": "identity"}
    if part.length:
        headers["Range"] = f"bytes={part.length}-"
    with settings.client.stream("GET", spec.url, headers=headers, timeout=settings.timeout,
                                follow_redirects=True) as response:
        status, sent_range = response.status_code, response.headers.get("content-range", "")
        if status == 416 and part.length == spec.size:
            return  # every byte is already here; _verify still checks them
        if status >= 500 or status in RETRYABLE_4XX:
            raise _Retry(f"the server answered HTTP {status}")
        if status == 416:
            raise VerificationError(f"{spec.path}: the hub has fewer bytes than the expected "
                                    f"{spec.size} (no bytes after {part.length})")
        if status >= 400:
            raise TransferError(_refusal(spec.path, status))
        if status == 200 and part.length:
            part.restart()  # the server ignored Range and sends the whole file
        elif status == 206 and not sent_range.startswith(f"bytes {part.length}-"):
            raise _Retry(f"the server sent another byte range than asked ({sent_range})")
        elif status not in (200, 206):
            raise TransferError(f"{spec.path}: unexpected answer HTTP {status} from {spec.url}")
        # A stale listing (another revision) shows here; retrying would never fix it.
        declared = _declared_size(response.headers, status, part.length)
        if declared is not None:
            _verify(spec, declared, None)
        for data in response.iter_bytes():
            part.write(data)
            settings.on_bytes(len(data))
            if part.length > spec.size:  # stop early rather than fetch a much larger file
                _verify(spec, part.length, None)
            report(part.length)
            settings.check_stop()
    if part.length < spec.size:
        raise _Retry(f"the connection ended after {part.length} of {spec.size} bytes")


def _declared_size(headers: httpx.Headers, status: int, start: int) -> int | None:
    """Returns the whole file's size as the server announces it, None when it does not say."""
    if status == 206:
        total = headers.get("content-range", "").rpartition("/")[2]
        return int(total) if total.isdigit() else None
    length = headers.get("content-length", "")
    return start + int(length) if length.isdigit() else None


def _verify(spec: FileSpec, actual_size: int, actual_sha256: str | None) -> None:
    if actual_size != spec.size:
        raise VerificationError(f"{spec.path}: expected {spec.size} bytes, got {actual_size}")
    if spec.sha256 and actual_sha256 and actual_sha256 != spec.sha256.lower():
        raise VerificationError(f"{spec.path}: expected sha256 {spec.sha256}, got {actual_sha256}")


def _refusal(path: str, status: int) -> str:
    if status in (401, 403):
        return f"{path}: the hub refused the download (HTTP {status}): needs a token / access"
    if status == 404:
        return f"{path}: not found on the hub (HTTP 404)"
    return f"{path}: the hub refused the download (HTTP {status})"


def _describe(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no bytes arrived for too long ({type(exc).__name__})"
    if isinstance(exc, httpx.TransportError):
        return f"network error: {str(exc) or type(exc).__name__}"
    return str(exc)
