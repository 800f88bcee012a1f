"""The download core against the hub simulator over real HTTP: the CDN redirect and its expiring
links, pieces in parallel, resume, retries, verification.

File URLs, sizes and hashes come from the real huggingface_hub, as they will in the panel.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import asdict
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_url

from models_app.downloads.partial import RECORD_SUFFIX, kept_bytes, record_path
from models_app.downloads.ranges import plan
from models_app.downloads.transfer import (
    FileSpec,
    Limits,
    TransferError,
    TransferProgress,
    VerificationError,
    download_files,
    partial_path,
    remove_partials,
)
from simulators.hub.content import HashCache
from simulators.hub.manifest import tiny_manifest
from simulators.hub.repos import RepoStore
from simulators.hub.server import HubServer
from simulators.hub.state import SimState
from tests.stack import wait_until

TOKEN = "hf_sim_transfer_token"
REPO = "sim-org/wide-4bit"
SMALL_REPO = "sim-org/tiny-4bit"
GATED_REPO = "sim-gated/tiny-bf16"
SHARD = "model-00002-of-00003.safetensors"
ROOT = Path(__file__).resolve().parents[3]
# Pieces of 64 to 256 KiB, so the half-megabyte shards of the test repos come in several.
PARALLEL = Limits(connections=4, files_at_once=3, smallest_piece=64 * 1024,
                  largest_piece=256 * 1024, align=4096)
SERIAL = Limits(connections=1, files_at_once=1, smallest_piece=64 * 1024,
                largest_piece=256 * 1024, align=4096)


class Stop(Exception):
    """What the caller's check_stop raises to pause."""


@pytest.fixture
def hub_url() -> Iterator[str]:
    state = SimState(RepoStore(tiny_manifest(), Fraction(1), HashCache(None)), frozenset({TOKEN}))
    with HubServer(state) as server:
        yield server.url


@pytest.fixture
def control(hub_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hub_url, timeout=10) as client:
        yield client


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as http:
        yield http


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def download(client: httpx.Client, sleeps: list[float], tmp_path: Path) -> Any:
    """download_files into tmp_path/model, pieces in parallel, with a recording sleep; returns
    the progress seen."""

    def run(files: list[FileSpec], **options: Any) -> list[TransferProgress]:
        seen: list[TransferProgress] = []
        options = {"client": client, "sleep": sleeps.append, "on_progress": seen.append,
                   "limits": PARALLEL, **options}
        download_files(files, tmp_path / "model", **options)
        return seen

    return run


def listing(hub_url: str, repo: str, token: str | bool = False) -> dict[str, Any]:
    """Returns the repo's siblings by path, read through huggingface_hub."""
    info = HfApi(endpoint=hub_url, token=token).model_info(repo, files_metadata=True)
    return {s.rfilename: (info.sha, s) for s in info.siblings or []}


def specs(hub_url: str, repo: str, token: str | bool = False) -> list[FileSpec]:
    return [
        FileSpec(
            path=path,
            url=hf_hub_url(repo, path, revision=sha, endpoint=hub_url),
            size=sibling.size,
            sha256=sibling.lfs.sha256 if sibling.lfs else None,
        )
        for path, (sha, sibling) in listing(hub_url, repo, token).items()
    ]


def spec_of(hub_url: str, path: str) -> FileSpec:
    return next(s for s in specs(hub_url, REPO) if s.path == path)


def counters(control: httpx.Client) -> dict[str, Any]:
    return control.get("/_sim/counters").json()


def file_counters(control: httpx.Client, path: str, repo: str = REPO) -> dict[str, int]:
    return counters(control)["files"].get(f"{repo}/{path}", {"get": 0, "ranged_get": 0,
                                                             "bytes": 0, "redirects": 0})


def add_fault(control: httpx.Client, **fault: Any) -> None:
    response = control.post("/_sim/faults", json=fault)
    assert response.status_code == 201, response.text


def cap_each_connection(control: httpx.Client, bytes_per_second: int | None) -> None:
    body = {"bytes_per_second": bytes_per_second, "per": "connection"}
    assert control.put("/_sim/bandwidth", json=body).status_code == 200


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def git_blob_id(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def assert_matches_listing(model: Path, hub_url: str, repo: str, token: str | bool = False) -> None:
    for path, (_, sibling) in listing(hub_url, repo, token).items():
        if sibling.lfs:
            assert sha256_of(model / path) == sibling.lfs.sha256, path
        else:
            assert git_blob_id(model / path) == sibling.blob_id, path


def serial_pieces(spec: FileSpec) -> int:
    """How many pieces SERIAL cuts the file into."""
    return len(plan([(0, spec.size)], SERIAL.connections, smallest=SERIAL.smallest_piece,
                    largest=SERIAL.largest_piece, align=SERIAL.align))


def recorded_spans(final: Path) -> list[tuple[int, int]]:
    return [(a, b) for a, b in json.loads(record_path(final).read_text())["spans"]]


def test_it_downloads_a_whole_repo_with_identical_bytes(hub_url, control, download, tmp_path):
    files = specs(hub_url, REPO)

    seen = download(files)

    model = tmp_path / "model"
    assert_matches_listing(model, hub_url, REPO)
    assert sorted(p.name for p in model.iterdir()) == sorted(f.path for f in files)
    assert seen[-1].done == seen[-1].total == sum(f.size for f in files)
    assert seen[-1].files_done == seen[-1].files_total == len(files)
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    # Each shard came in several ranged pieces, from one CDN link asked for once.
    shard = file_counters(control, SHARD)
    assert shard["get"] == shard["ranged_get"] > 1 and shard["redirects"] == 1
    assert shard["bytes"] == spec_of(hub_url, SHARD).size


def test_a_gated_repo_sends_the_token_to_the_hub_only_and_creates_sub_folders(
    hub_url, control, download, tmp_path
):
    files = specs(hub_url, GATED_REPO, token=TOKEN)
    assert any("/" in f.path for f in files)

    download(files, auth={"Authorization": f"Bearer {TOKEN}"})

    assert_matches_listing(tmp_path / "model", hub_url, GATED_REPO, token=TOKEN)
    # The CDN answers 400 to a signed link that also carries a token (as S3 does): none did.
    requests = counters(control)["requests"]
    assert requests["cdn_get"] >= 2 and "cdn_token_refused" not in requests


def test_a_gated_repo_without_a_token_says_it_needs_one(hub_url, download, sleeps, tmp_path):
    with pytest.raises(TransferError, match=r"config\.json.*401.*needs a token / access"):
        download([f for f in specs(hub_url, GATED_REPO) if f.path == "config.json"])

    assert sleeps == []
    assert not (tmp_path / "model" / "config.json").exists()


def test_a_second_run_fetches_nothing(hub_url, control, download):
    files = specs(hub_url, REPO)
    download(files)
    control.delete("/_sim/counters")

    seen = download(files)

    assert counters(control) == {"requests": {}, "files": {}}
    assert [(p.path, p.files_done) for p in seen] == [(f.path, i + 1) for i, f in enumerate(files)]
    assert seen[-1].done == seen[-1].total


def test_a_drop_mid_piece_resumes_with_a_range_request(hub_url, control, download, sleeps,
                                                        tmp_path):
    spec = spec_of(hub_url, SHARD)
    add_fault(control, kind="drop", path=SHARD, after_bytes=100_000)

    download([spec], backoff=0.5, limits=SERIAL)

    assert sha256_of(tmp_path / "model" / SHARD) == spec.sha256
    stats = file_counters(control, SHARD)
    assert stats["get"] == stats["ranged_get"] == serial_pieces(spec) + 1  # one asked again
    assert stats["bytes"] == spec.size  # from where it stopped: no byte fetched twice
    assert sleeps == [0.5]


def test_an_expired_link_mid_file_is_refreshed_without_losing_bytes(hub_url, control, download,
                                                                    tmp_path):
    spec = spec_of(hub_url, SHARD)
    add_fault(control, kind="drop", path=SHARD, after_bytes=100_000)

    # While the transfer waits to retry the dropped piece, every link signed so far expires.
    download([spec], limits=SERIAL, sleep=lambda _: control.post("/_sim/cdn/expire"))

    assert sha256_of(tmp_path / "model" / SHARD) == spec.sha256
    stats, requests = file_counters(control, SHARD), counters(control)["requests"]
    assert requests["cdn_denied"] == 1  # the old link, refused once...
    assert stats["redirects"] == 2  # ...and a fresh one asked of the Hub
    assert stats["bytes"] == spec.size


def test_a_link_the_cdn_keeps_refusing_is_given_up_on(hub_url, control, download, sleeps):
    spec = spec_of(hub_url, SHARD)
    control.put("/_sim/cdn", json={"ttl_seconds": 1e-9})  # every link expires as it is signed

    with pytest.raises(TransferError, match=rf"{SHARD}: gave up after 2 retries: the CDN "
                                            r"refused the file's link \(HTTP 403\)"):
        download([spec], limits=SERIAL, max_retries=2)

    assert sleeps == [1.0, 2.0]


def test_a_stop_leaves_a_recorded_partial_and_the_next_call_fetches_only_the_rest(
    hub_url, control, download, tmp_path
):
    spec = spec_of(hub_url, SHARD)
    final = tmp_path / "model" / SHARD
    cap_each_connection(control, 100_000)
    reached: list[int] = []

    def check_stop() -> None:
        if reached and reached[-1] >= 100_000:
            raise Stop

    with pytest.raises(Stop):
        download([spec], check_stop=check_stop, on_progress=lambda p: reached.append(p.file_done))

    kept = kept_bytes(final, spec.size, spec.sha256)
    assert 100_000 <= kept < spec.size and not final.exists()
    assert kept >= reached[-1]  # the record holds at least what was reported
    cap_each_connection(control, None)
    control.delete("/_sim/counters")

    seen = download([spec])

    assert sha256_of(final) == spec.sha256
    assert not partial_path(final).exists() and not record_path(final).exists()
    assert seen[0].file_done >= kept  # progress starts where the pause left it
    stats = file_counters(control, SHARD)
    assert stats["get"] == stats["ranged_get"] and stats["bytes"] == spec.size - kept


KILLED_DOWNLOAD = """
import json, sys
from pathlib import Path
import httpx
from models_app.downloads import pieces, transfer
pieces.RECORD_SECONDS = 0.1
spec, dest, limits = json.loads(sys.argv[1])
with httpx.Client(timeout=10) as client:
    transfer.download_files([transfer.FileSpec(**spec)], Path(dest), client=client,
                            on_progress=lambda p: None, limits=transfer.Limits(**limits))
"""


def test_a_download_killed_mid_file_resumes_from_its_record_with_exact_bytes(
    hub_url, control, client, download, tmp_path
):
    spec = spec_of(hub_url, SHARD)
    final = tmp_path / "model" / SHARD
    truth = client.get(spec.url, follow_redirects=True).content
    cap_each_connection(control, 40_000)
    control.delete("/_sim/counters")
    arguments = json.dumps([asdict(spec), str(tmp_path / "model"), asdict(PARALLEL)])
    worker = subprocess.Popen([sys.executable, "-c", KILLED_DOWNLOAD, arguments],
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        wait_until(lambda: record_path(final).exists() and kept_bytes(
            final, spec.size, spec.sha256) >= 100_000, timeout=30)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    spans = recorded_spans(final)
    data = partial_path(final).read_bytes()
    # Every recorded byte is in place, and several pieces were under way at once.
    assert all(data[a:b] == truth[a:b] for a, b in spans) and len(spans) > 1
    kept = sum(b - a for a, b in spans)
    assert kept < spec.size
    cap_each_connection(control, None)
    control.delete("/_sim/counters")

    download([spec])

    assert final.read_bytes() == truth
    assert file_counters(control, SHARD)["bytes"] == spec.size - kept  # only what was missing


def test_several_files_at_once_but_no_more_than_the_limit(hub_url, control, download, tmp_path):
    files = specs(hub_url, SMALL_REPO)
    cap_each_connection(control, 50_000)
    model = tmp_path / "model"
    at_once: list[int] = []

    def count_partials(progress: TransferProgress) -> None:
        at_once.append(len(list(model.glob("*.partial"))))

    download(files, on_progress=count_partials, limits=Limits(
        connections=4, files_at_once=2, smallest_piece=64 * 1024, largest_piece=256 * 1024,
        align=4096))

    assert_matches_listing(model, hub_url, SMALL_REPO)
    assert max(at_once) == 2


def test_server_errors_are_retried_with_backoff(hub_url, control, download, sleeps, tmp_path):
    spec = spec_of(hub_url, SHARD)
    add_fault(control, kind="error", path=SHARD, status=503, times=2, methods=["GET"])

    download([spec], backoff=0.25, limits=SERIAL)

    assert sha256_of(tmp_path / "model" / SHARD) == spec.sha256
    assert sleeps == [0.25, 0.5]


def test_a_stall_longer_than_stall_seconds_is_retried(hub_url, control, download, sleeps,
                                                      tmp_path):
    spec = spec_of(hub_url, SHARD)
    add_fault(control, kind="stall", path=SHARD, after_bytes=50_000, seconds=1.5)

    download([spec], stall_seconds=0.3, limits=SERIAL)

    assert sha256_of(tmp_path / "model" / SHARD) == spec.sha256
    assert file_counters(control, SHARD)["get"] == serial_pieces(spec) + 1  # one asked again
    assert sleeps == [1.0]


def test_it_gives_up_after_max_retries_in_a_row(hub_url, control, download, sleeps, tmp_path):
    spec = spec_of(hub_url, SHARD)
    add_fault(control, kind="error", path=SHARD, status=503, times=None, methods=["GET"])

    with pytest.raises(TransferError, match=f"{SHARD}: gave up after 3 retries: .*HTTP 503"):
        download([spec], max_retries=3, limits=SERIAL)

    assert sleeps == [1.0, 2.0, 4.0]
    assert not (tmp_path / "model" / SHARD).exists()


def test_the_retry_count_starts_again_whenever_bytes_arrive(hub_url, control, download, sleeps):
    spec = spec_of(hub_url, SHARD)
    add_fault(control, kind="drop", path=SHARD, after_bytes=50_000, times=3)

    download([spec], max_retries=1, limits=SERIAL)

    assert sleeps == [1.0, 1.0, 1.0]


def test_corrupt_bytes_raise_a_verification_error_and_leave_nothing(
    hub_url, control, download, tmp_path
):
    spec = spec_of(hub_url, SHARD)
    add_fault(control, kind="corrupt", path=SHARD, times=None)

    with pytest.raises(VerificationError, match=f"{SHARD}: expected sha256 {spec.sha256}, got "):
        download([spec])

    assert list((tmp_path / "model").iterdir()) == []  # no final file, no partial, no record


def test_a_wrong_size_raises_a_verification_error(hub_url, download, tmp_path):
    spec = spec_of(hub_url, "config.json")
    too_big = FileSpec(spec.path, spec.url, spec.size + 10, None)

    with pytest.raises(VerificationError, match=f"expected {too_big.size} bytes, got {spec.size}"):
        download([too_big])

    assert list((tmp_path / "model").iterdir()) == []


def test_a_missing_file_is_not_retried(hub_url, download, sleeps):
    url = hf_hub_url(REPO, "missing.safetensors", endpoint=hub_url)

    message = r"missing\.safetensors: not found on the hub \(HTTP 404\)"
    with pytest.raises(TransferError, match=message):
        download([FileSpec("missing.safetensors", url, 10, None)])

    assert sleeps == []


def test_a_partial_whose_record_holds_every_byte_is_verified_without_a_request(
    hub_url, control, client, download, tmp_path
):
    spec = spec_of(hub_url, SHARD)
    final = tmp_path / "model" / SHARD
    final.parent.mkdir()
    partial_path(final).write_bytes(client.get(spec.url, follow_redirects=True).content)
    record_path(final).write_text(json.dumps(
        {"size": spec.size, "sha256": spec.sha256, "spans": [[0, spec.size]]}))
    control.delete("/_sim/counters")

    download([spec])

    assert sha256_of(final) == spec.sha256 and not partial_path(final).exists()
    assert counters(control) == {"requests": {}, "files": {}}


def test_a_partial_without_a_record_for_this_file_starts_over(hub_url, control, download,
                                                              tmp_path):
    spec = spec_of(hub_url, SHARD)
    final = tmp_path / "model" / SHARD
    final.parent.mkdir()
    partial_path(final).write_bytes(b"x" * 200_000)  # an older version's, say
    record_path(final).write_text(json.dumps(
        {"size": spec.size + 1, "sha256": spec.sha256, "spans": [[0, 200_000]]}))

    download([spec])

    assert sha256_of(final) == spec.sha256
    assert file_counters(control, SHARD)["bytes"] == spec.size


def test_a_server_that_ignores_range_still_gives_the_right_bytes(download, tmp_path):
    body = bytes(range(256)) * 1600  # several pieces

    class WholeFileOnly(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802
            self.do_HEAD()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), WholeFileOnly)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/file.bin"
        download([FileSpec("file.bin", url, len(body), hashlib.sha256(body).hexdigest())])
    finally:
        server.shutdown()
        server.server_close()

    assert (tmp_path / "model" / "file.bin").read_bytes() == body


def test_a_path_outside_the_model_folder_is_refused(hub_url, download, tmp_path):
    spec = spec_of(hub_url, "config.json")

    with pytest.raises(TransferError, match="outside the model folder"):
        download([FileSpec("../escape.json", spec.url, spec.size, None)])

    assert not (tmp_path / "escape.json").exists()


def test_remove_partials_deletes_only_partials_and_their_records(tmp_path):
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    for name in ("a.safetensors.partial", "a.safetensors" + RECORD_SUFFIX,
                 f"sub/b.json{RECORD_SUFFIX}.tmp", "sub/b.json.partial",
                 "sub/deeper/c.partial", "config.json", "sub/keep.safetensors"):
        (tmp_path / name).write_bytes(b"x")

    assert remove_partials(tmp_path) == 3

    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["config.json", "sub/keep.safetensors"]
    assert remove_partials(tmp_path / "absent") == 0
