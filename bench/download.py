"""Benchmark model downloads: throughput, worker memory and progress events.

1. Throughput: a 1.1 GiB repo (4 shards) served by the hub simulator on loopback (its LFS files
   through the simulator's CDN redirect, as the Hub serves them), fetched by plain
   huggingface_hub `snapshot_download` and by the panel's download job (`run_download` on a
   real Celery worker, started through the API), in turn; the panel's rate as a ratio of
   snapshot_download's.
2. Capped connections: the same with the simulator holding each connection to `--cap` bytes/s
   (a CDN's per-connection limit), for the 4-shard repo and for a single 1 GiB file.
3. Worker memory: peak RSS of the worker child doing the transfer for a 256 MiB file and for a
   1 GiB one; the second as a ratio of the first.
4. Progress events: the `job.update` frames a `/ws/jobs/<id>/` client receives during every
   panel download. The job payload has no per-event timestamp (`heartbeat_at` and `updated_at`
   change only at the once-a-second save; the events in between carry the in-memory job), so
   the measure is the gap between frames against the reporter's event interval.

Each figure is printed as a ratio against a baseline from the same run, because machines are
noisy. Exits 1 when a target is missed. Not part of the test suite.

    .venv/bin/python bench/download.py [--rounds 4] [--capped-rounds 1] [--cap 26214400]
                                       [--no-alone] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from unittest.mock import patch

import httpx
import psutil

# The sibling benchmark's set-up (it also makes the project and tests/ importable).
from cluster_poll import (
    issue_token,
    open_work_dir,
    percentile,
    prepare_django,
    start_redis,
    started,
    verdict,
)
from websockets.asyncio.client import connect

from arthur_panel.launcher import free_port, hub_simulator_command, wait_for_port
from tests import stack

MIB, GIB = 1024**2, 1024**3
THROUGHPUT_REPO = "bench-org/shards-1g1"
SMALL_REPO = "bench-org/file-256m"
LARGE_REPO = "bench-org/file-1g"
WARMUP_REPO = "bench-org/warmup"
# repo -> (tensor bytes, shards); the simulator serves them at scale 1.
REPOS = {
    THROUGHPUT_REPO: (int(1.1 * GIB), 4),
    SMALL_REPO: (256 * MIB, 1),
    LARGE_REPO: (GIB, 1),
    WARMUP_REPO: (4 * MIB, 1),  # loads the download code into the worker child before measuring
}
LLAMA_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048,
    "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8,
    "intermediate_size": 8192, "vocab_size": 128256, "max_position_embeddings": 131072,
    "quantization": {"bits": 4, "group_size": 64},
}
NODE = "bench"
THROUGHPUT_TARGET = 0.95  # the panel's bytes/s as a share of snapshot_download's
CAPPED_TARGET = 1.0  # the same with each connection capped
CAP = 25 * MIB  # bytes/s per connection in the capped case
MEMORY_RATIO_TARGET = 1.10  # peak RSS for 1 GiB over peak RSS for 256 MiB...
MEMORY_SLACK = 20 * MIB  # ...or at most this much more
LATENESS_TARGET = 0.250  # seconds a frame may arrive after the reporter's interval
RSS_INTERVAL = 0.05
QUIET_CPU, QUIET_WAIT = 20.0, 10.0  # percent of all cores, seconds
TERMINAL = ("succeeded", "failed", "cancelled", "paused")


@dataclass
class Frame:
    received: float  # time.time() when the websocket client got it
    state: str
    unit: str
    done: int
    heartbeat_at: float | None  # the worker's clock at the job's last save


@dataclass
class JobRun:
    repo: str
    seconds: float  # from the API request to the worker's finished_at
    startup: float  # from the API request to the worker's claim (started_at)
    bytes: int
    idle_rss: int  # the worker child before the job
    peak_rss: int
    frames: list[Frame]


@dataclass
class Bench:
    """What every measure needs: the simulator, the live stack and the catalogue on it."""

    work: Path
    hub_url: str
    live: stack.Stack
    token: str
    slugs: dict[str, str]  # repo -> catalogue slug
    models_dir: Path  # the bench node's
    child: psutil.Process  # the worker child every panel download runs in


def write_manifest(path: Path) -> Path:
    repos = [{"id": repo, "weight_bytes": size, "shards": shards, "config": LLAMA_CONFIG}
             for repo, (size, shards) in REPOS.items()]
    path.write_text(json.dumps({"repos": repos}, indent=2))
    return path


def start_hub(exits: ExitStack, work: Path) -> str:
    port = free_port()
    manifest = write_manifest(work / "manifest.json")
    command = hub_simulator_command(port, work, "--manifest", str(manifest), "--scale", "1",
                                    "--log-level", "warning")
    started(exits, command, work / "hub-sim.log")
    wait_for_port(port, timeout=30)
    return f"http://127.0.0.1:{port}"


def prepare(work: Path, redis_url: str, hub_url: str) -> None:
    """Django on the temporary database, pointed at the simulator; huggingface_hub reads its
    environment when imported, so this runs before anything imports it."""
    os.environ.update(
        HF_ENDPOINT=hub_url,
        HF_TOKEN="",
        HF_HOME=str(work / "hf-home"),
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_HUB_DISABLE_TELEMETRY="1",
    )
    prepare_django(work, redis_url)


def add_catalogue(models_dir: Path) -> dict[str, str]:
    """The bench node and one catalogue model per repo; returns the slug of each repo."""
    from cluster_app.models import Node
    from models_app.catalogue.services import model_add_from_hub

    Node.objects.create(name=NODE, display_name="Bench", role=Node.Role.STANDALONE,
                        in_exo_cluster=False, expects_rdma=False, models_dir=str(models_dir))
    began = time.perf_counter()
    # The simulator hashes each shard the first time it lists it: done here, not while timed.
    slugs = {repo: model_add_from_hub(repo_id=repo).slug for repo in REPOS}
    print(f"catalogue ready, hub simulator hashed its repos in "
          f"{time.perf_counter() - began:.1f} s", flush=True)
    return slugs


def needed_files(repo: str) -> tuple[list[str], int]:
    """The files the panel fetches for `repo` (`RepoMetadata.needed_files`) and their bytes."""
    from models_app.catalogue.hub import repo_metadata

    files = repo_metadata(repo, files_only=True).needed_files
    return [f.path for f in files], sum(f.size for f in files)


@contextmanager
def transfer_worker(live: stack.Stack, log: Path) -> Iterator[psutil.Process]:
    """A worker for the bench node's queue with a single child: the process every panel
    download runs in, so its RSS is the transfer's. Yields that child."""
    command = stack.worker_command(f"node.{NODE}")
    command[command.index("--concurrency") + 1] = "1"
    process = stack.start(command, {**live.env, "WORKER_NODES": NODE}, log)
    try:
        stack.wait_for_worker(live.env, log)
        (child,) = psutil.Process(process.pid).children()
        yield child
    finally:
        stack.stop(process)


class RssSampler:
    """Peak RSS of one process, sampled every RSS_INTERVAL seconds in a thread."""

    def __init__(self, process: psutil.Process) -> None:
        self.process = process
        self.idle = self.peak = process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(RSS_INTERVAL):
            self.peak = max(self.peak, self.process.memory_info().rss)


def settle(folder: Path) -> None:
    """Delete `folder`, let the disk write whatever came before (the panel flushes each file,
    so a timed run must not also pay for the last one's writes), then wait up to
    QUIET_WAIT seconds for an idle CPU: other work on a 2-core machine is pure noise here."""
    shutil.rmtree(folder, ignore_errors=True)
    os.sync()
    deadline = time.monotonic() + QUIET_WAIT
    while psutil.cpu_percent(interval=0.25) > QUIET_CPU and time.monotonic() < deadline:
        pass


def timestamp(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


async def follow_job(live: stack.Stack, token: str, job_id: int) -> list[Frame]:
    """Every job frame of `/ws/jobs/<id>/` until the job finishes (the snapshot included)."""
    frames: list[Frame] = []
    async with connect(f"{live.ws_url}/ws/jobs/{job_id}/", max_size=None,
                       additional_headers={"Authorization": f"Bearer {token}"}) as socket:
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), timeout=120))
            received = time.time()
            job = message["job"]
            if message["type"] == "job":
                frames.append(Frame(received, job["state"], job["unit"], job["done"],
                                    timestamp(job["heartbeat_at"])))
            if job["state"] in TERMINAL:
                return frames


def panel_download(bench: Bench, repo: str) -> JobRun:
    """One download job through the API, followed on its websocket until it finishes."""
    from cluster_app.models import Job

    settle(bench.models_dir)  # a copy already there would be skipped
    with RssSampler(bench.child) as rss:
        began = time.time()
        with stack.api(bench.live, bench.token) as client:
            response = client.post(f"/api/v1/models/{bench.slugs[repo]}/download/",
                                   json={"node": NODE})
        if response.status_code != 201:
            raise RuntimeError(f"{repo}: the API answered {response.status_code}: {response.text}")
        (created,) = response.json()["jobs"]
        frames = asyncio.run(follow_job(bench.live, bench.token, created["id"]))
    job = Job.objects.get(pk=created["id"])
    if job.state != Job.State.SUCCEEDED or job.finished_at is None or job.started_at is None:
        raise RuntimeError(f"{repo}: the download job ended {job.state}: {job.error}")
    shutil.rmtree(bench.models_dir, ignore_errors=True)
    run = JobRun(repo, job.finished_at.timestamp() - began, job.started_at.timestamp() - began,
                 job.total or 0, rss.idle, rss.peak, frames)
    print(f"  panel job {repo}: {run.seconds:.2f} s ({run.startup:.2f} s to the claim), "
          f"{rate(run.bytes, run.seconds)}, peak RSS {mib(run.peak_rss)}", flush=True)
    return run


def hub_download(bench: Bench, repo: str, files: list[str]) -> float:
    """Seconds plain huggingface_hub takes to fetch `files` of `repo`."""
    from huggingface_hub import snapshot_download

    dest = bench.work / "hub-copy"
    settle(dest)
    began = time.perf_counter()
    snapshot_download(repo, endpoint=bench.hub_url, local_dir=dest, allow_patterns=files)
    seconds = time.perf_counter() - began
    shutil.rmtree(dest, ignore_errors=True)
    print(f"  snapshot_download {repo}: {seconds:.2f} s", flush=True)
    return seconds


def measure_pair(bench: Bench, repo: str, rounds: int) -> tuple[list[float], list[JobRun]]:
    """Seconds of each snapshot_download and each panel job of `repo`."""
    files, _ = needed_files(repo)
    hub: list[float] = []
    panel: list[JobRun] = []
    for round_ in range(rounds):
        # Each goes first in every other round: a slow spell of the machine hits both alike.
        for use_hub in (True, False) if round_ % 2 == 0 else (False, True):
            if use_hub:
                hub.append(hub_download(bench, repo, files))
            else:
                panel.append(panel_download(bench, repo))
    return hub, panel


def cap_connections(bench: Bench, bytes_per_second: int | None) -> None:
    """Holds each of the simulator's connections to `bytes_per_second` (None: no cap)."""
    body = {"bytes_per_second": bytes_per_second, "per": "connection"}
    httpx.put(f"{bench.hub_url}/_sim/bandwidth", json=body, timeout=10).raise_for_status()


@contextmanager
def timed_fsync() -> Iterator[list[float]]:
    """Collects the seconds of every `os.fsync` in this process while it is open."""
    spent: list[float] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        began = time.perf_counter()
        try:
            real(fd)
        finally:
            spent.append(time.perf_counter() - began)

    with patch.object(os, "fsync", new=fsync):
        yield spent


def transfer_alone(repo: str, dest: Path) -> tuple[float, list[float]]:
    """Seconds `download_files` takes in this process with no job around it (the transfer
    core's share of the job's time), and the seconds of each fsync it made."""
    from models_app.catalogue.hub import repo_metadata
    from models_app.downloads.jobs import file_specs
    from models_app.downloads.transfer import download_files

    settle(dest)
    began = time.perf_counter()
    files = file_specs(repo_metadata(repo, files_only=True))
    with httpx.Client(timeout=30, follow_redirects=True) as client, timed_fsync() as fsyncs:
        download_files(files, dest, client=client, on_progress=lambda _: None)
    seconds = time.perf_counter() - began
    shutil.rmtree(dest, ignore_errors=True)
    return seconds, fsyncs


def event_gaps(runs: list[JobRun]) -> list[float]:
    """Seconds between consecutive running frames once bytes are moving, over every run."""
    gaps: list[float] = []
    for run in runs:
        moving = [f for f in run.frames if f.state == "running" and f.unit == "bytes"]
        gaps += [b.received - a.received for a, b in pairwise(moving)]
    return gaps


def save_latencies(runs: list[JobRun]) -> list[float]:
    """For each frame carrying a new `heartbeat_at` (a save just before it): receipt minus
    that save's time. The save can precede the event by up to one event interval, so these
    are upper bounds of those frames' latency."""
    latencies: list[float] = []
    for run in runs:
        previous = None
        for frame in run.frames:
            saved = frame.heartbeat_at
            if frame.state == "running" and saved is not None and saved != previous:
                latencies.append(frame.received - saved)
            previous = frame.heartbeat_at
    return latencies


def rate(bytes_: int, seconds: float) -> str:
    return f"{bytes_ / MIB / seconds:.0f} MiB/s"


def mib(value: float) -> str:
    return f"{value / MIB:.1f} MiB"


def report_throughput(title: str, repo: str, hub: list[float], panel: list[JobRun],
                      target: float, alone: tuple[float, list[float]] | None = None) -> bool:
    _, total = needed_files(repo)
    best_hub, best_panel = min(hub), min(run.seconds for run in panel)
    ratio = best_hub / best_panel  # same bytes, so the ratio of rates
    rounds = [h / p.seconds for h, p in zip(hub, panel, strict=True)]
    shards = REPOS[repo][1]
    print(f"\n{title}, {mib(total)} in {shards} shard{'s' if shards > 1 else ''} (best of each):")
    print(f"  snapshot_download  {' '.join(f'{s:.2f}' for s in hub)} s -> "
          f"{rate(total, best_hub)}")
    print(f"  panel job          {' '.join(f'{r.seconds:.2f}' for r in panel)} s -> "
          f"{rate(total, best_panel)} (API request to finished_at)")
    print(f"  panel / snapshot_download per round: {' '.join(f'{r:.2f}' for r in rounds)} "
          f"(median {statistics.median(rounds):.2f}, worst {min(rounds):.2f})")
    if alone is not None:
        seconds, fsyncs = alone
        print(f"  download_files alone, in this process, no job: {seconds:.2f} s -> "
              f"{rate(total, seconds)}; of which os.fsync {sum(fsyncs):.2f} s "
              f"({len(fsyncs)} calls, longest {max(fsyncs, default=0):.2f} s)")
    ok = ratio >= target
    print(f"{title}: panel {rate(total, best_panel)}, {ratio:.2f}x snapshot_download's "
          f"{rate(total, best_hub)}, target >= {target:.2f}x: {verdict(ok)}")
    return ok


def report_memory(small: JobRun, large: JobRun, others: list[JobRun]) -> bool:
    print("\nworker child RSS (idle before the job -> peak during it):")
    for run in [small, large, *others]:
        print(f"  {run.repo:<22} {mib(run.bytes):>12}: {mib(run.idle_rss)} -> {mib(run.peak_rss)}")
    ratio, growth = large.peak_rss / small.peak_rss, large.peak_rss - small.peak_rss
    ok = ratio <= MEMORY_RATIO_TARGET or growth <= MEMORY_SLACK
    print(f"worker memory: peak {mib(large.peak_rss)} for 1 GiB, {ratio:.3f}x the 256 MiB "
          f"file's {mib(small.peak_rss)} ({growth / MIB:+.1f} MiB), target <= "
          f"{MEMORY_RATIO_TARGET:.2f}x or +{MEMORY_SLACK // MIB} MiB: {verdict(ok)}")
    return ok


def report_events(runs: list[JobRun]) -> bool:
    from cluster_app.jobs.reporter import EVENT_INTERVAL

    gaps = event_gaps(runs)
    if not gaps:
        print("progress events: no two running frames arrived: FAIL")
        return False
    late = [gap - EVENT_INTERVAL for gap in gaps]
    p95 = percentile(late, 0.95)
    print(f"\nprogress events: {len(gaps)} gaps between running frames over {len(runs)} "
          f"downloads; baseline: the reporter's EVENT_INTERVAL, {EVENT_INTERVAL:g} s (the "
          "payload has no per-event timestamp)")
    print(f"  gap p50 {statistics.median(gaps):.3f} s, p95 {percentile(gaps, 0.95):.3f} s, "
          f"max {max(gaps):.3f} s")
    if latencies := save_latencies(runs):
        print(f"  frames just after a save ({len(latencies)}): receipt - heartbeat_at p50 "
              f"{statistics.median(latencies) * 1000:.0f} ms, p95 "
              f"{percentile(latencies, 0.95) * 1000:.0f} ms (upper bounds)")
    ok = p95 <= LATENESS_TARGET
    print(f"progress events: p95 {p95 * 1000:.0f} ms later than the interval "
          f"({percentile(gaps, 0.95) / EVENT_INTERVAL:.2f}x the {EVENT_INTERVAL:g} s interval), "
          f"target <= {LATENESS_TARGET * 1000:.0f} ms: {verdict(ok)}")
    return ok


def start_bench(exits: ExitStack, work: Path) -> Bench:
    redis_url = start_redis(exits, work)
    hub_url = start_hub(exits, work)
    prepare(work, redis_url, hub_url)
    token = issue_token()
    models_dir = work / "models" / NODE
    slugs = add_catalogue(models_dir)
    database = os.environ["DATABASE_URL"]
    # No exo here: the cluster poll would only fail, every half second, on the same CPUs. The
    # stall timeout as in production (the suite's 2 s would retry connections a busy machine
    # leaves waiting, which costs time but is no failure).
    live = exits.enter_context(stack.running_stack(
        database, "", hub_url, work / "stack",
        {"CLUSTER_POLL_SECONDS": "3600", "DOWNLOAD_STALL_SECONDS": "60"}))
    child = exits.enter_context(transfer_worker(live, work / "stack" / "bench-worker.log"))
    print("stack ready", flush=True)
    return Bench(work, hub_url, live, token, slugs, models_dir, child)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4,
                        help="loopback rounds, each one download by both (default 4)")
    parser.add_argument("--capped-rounds", type=int, default=1,
                        help="rounds of each capped case (default 1)")
    parser.add_argument("--cap", type=int, default=CAP,
                        help=f"bytes/s of each connection in the capped cases (default {CAP})")
    parser.add_argument("--no-alone", action="store_true",
                        help="skip the in-process download_files run (a diagnostic)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir and its logs")
    args = parser.parse_args()
    with ExitStack() as exits:
        work = open_work_dir(exits, keep=args.keep)
        bench = start_bench(exits, work)
        panel_download(bench, WARMUP_REPO)
        # Smaller first: a peak that grows with the file shows, even on a warm child.
        small, large = panel_download(bench, SMALL_REPO), panel_download(bench, LARGE_REPO)
        hub, panel = measure_pair(bench, THROUGHPUT_REPO, args.rounds)
        alone = None if args.no_alone else transfer_alone(THROUGHPUT_REPO, work / "alone-copy")
        print(f"each connection capped at {mib(args.cap)}/s", flush=True)
        cap_connections(bench, args.cap)
        capped_hub, capped_panel = measure_pair(bench, THROUGHPUT_REPO, args.capped_rounds)
        file_hub, file_panel = measure_pair(bench, LARGE_REPO, args.capped_rounds)
        cap_connections(bench, None)
        capped = f"capped at {mib(args.cap)}/s a connection"
        results = [
            report_throughput("loopback", THROUGHPUT_REPO, hub, panel, THROUGHPUT_TARGET, alone),
            report_throughput(f"4 shards, {capped}", THROUGHPUT_REPO, capped_hub, capped_panel,
                              CAPPED_TARGET),
            report_throughput(f"1 GiB file, {capped}", LARGE_REPO, file_hub, file_panel,
                              CAPPED_TARGET),
            report_memory(small, large, [*panel, *capped_panel, *file_panel]),
            report_events([small, large, *panel]),
        ]
        return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
