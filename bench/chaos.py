"""Chaos: the demo (`make run`'s supervised process group) for N minutes with faults injected at
random while a client downloads, loads and chats, then what is left.

Faults, drawn with `--seed`, one every 15 to 45 s: SIGKILL the bulk or the control Celery
worker, Redis, the exo simulator or the web server (the supervisor starts each again; the
script times how long until it runs), and the download disk filled for a while (a tmpfs in a
mount namespace: `unshare --user --map-root-user --mount`; skipped, with the reason, where that
is not allowed). The client meanwhile: chat streams back to back, two models downloaded,
verified and deleted over and over, and Llama 3.2 1B kept loaded (the cluster started again
when it is down, another model loaded and unloaded now and then), all through the API.

At the end the client stops, and after a quiet period longer than the job lease (or once no job
is active) it counts: faults injected, jobs by final state, stuck jobs (running with a stale
heartbeat, or queued through the whole quiet period), server errors (500s: must be 0), data
lost (downloaded copies whose files fail verification, usage records missing for chats: must be
0). Exits 1 when a must-be-0 is not. Not part of the test suite.

    .venv/bin/python bench/chaos.py [--minutes 10] [--seed 1] [--faults worker,web] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import hashlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
from cluster_poll import open_work_dir, verdict

from arthur_panel.launcher import ROOT, free_port, private_redis_url, wait_for_port
from arthur_panel.supervisor import STATUS_FILE
from tests import busy

PROCESS_FAULTS = {"worker": "worker", "control": "control", "redis": "redis",
                  "exo": "exo-sim", "web": "web"}  # fault -> the supervised process it kills
FAULTS = (*PROCESS_FAULTS, "disk")
CHAT_MODEL, CHAT_REPO = "llama-3.2-1b", "mlx-community/Llama-3.2-1B-Instruct-4bit"
EXTRA_MODEL = "llama-3.1-8b"  # loaded and unloaded now and then
# Downloaded and deleted over and over: 20 MB in 76 files, and 4.7 MB in 18, at the demo's
# 1/20000 scale through the hub simulator's 4 MB/s.
DOWNLOADS = [("deepseek-v3-4bit", "beta"), ("mixtral-8x22b", "alpha")]
CHAT_STREAMS = 3
DISK_BYTES = 256 * 1024**2
DISK_HOLD_SECONDS = 20.0
PAGE = 4096
RESTART_TIMEOUT = 90.0  # the supervisor's longest pause is 30 s
WEB_CUT_SECONDS = 5.0  # a stream cut this soon after the web server was killed died with it
JOB_TIMEOUT = 300.0
NAMESPACE_FLAG = "--in-namespace"


@dataclass
class Fault:
    name: str
    at: float  # seconds into the chaos
    recovered: float | None = None  # seconds until its process ran again
    note: str = ""


@dataclass
class Chat:
    """One chat as the client saw it (wall-clock times, as the usage records have)."""

    stream: int
    began: float
    ended: float
    outcome: str  # busy.chat_once's


@dataclass
class Run:
    """What the run saw besides the client's tally."""

    faults: list[Fault] = field(default_factory=list)
    web_kills: list[float] = field(default_factory=list)  # wall-clock times
    chats: list[Chat] = field(default_factory=list)
    verified: Counter[str] = field(default_factory=Counter)  # "ok" or "corrupt"
    corrupt: list[str] = field(default_factory=list)

    def died_with_the_web(self, chat: Chat) -> bool:
        """Whether the chat was cut by a web server's kill (its process, and the record it
        would have written at the end, gone)."""
        return chat.outcome in ("cut", "unreachable") and any(
            0 <= chat.ended - kill <= WEB_CUT_SECONDS for kill in self.web_kills)

    def due(self) -> list[Chat]:
        """The chats that must have left a usage record."""
        return [chat for chat in self.chats
                if busy.needs_record(chat.outcome) and not self.died_with_the_web(chat)]

    def unrecorded(self, rows: dict[int, list[tuple[float, float]]]) -> list[Chat]:
        """The chats that must have a usage record and have none. A stream's chats follow one
        another, each leaving its record while the client still waits for its end, so a
        record belongs to the chat whose time holds the record's: `rows` gives each stream's
        records as (written at, seconds the request took)."""
        middles = {stream: [at - took / 2 for at, took in records]
                   for stream, records in rows.items()}
        return [chat for chat in self.due() if not any(
            chat.began <= middle <= chat.ended for middle in middles.get(chat.stream, []))]


class Demo:
    """`python -m arthur_panel.launcher run` on a var dir of its own, as `make run` starts it."""

    def __init__(self, exits: ExitStack, work: Path, disk: bool) -> None:
        self.var = work / "var"
        self.models = self.var / "models"
        self.models.mkdir(parents=True)
        if disk:
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs",
                            str(self.models)], check=True)
        self.port = free_port()
        env = {name: value for name, value in os.environ.items() if name not in (
            "REDIS_URL", "EXO_API_URL", "HF_ENDPOINT", "DATABASE_URL", "MODELS_DIR")}
        env.update(ARTHUR_VAR_DIR=str(self.var), PORT=str(self.port), HOST="127.0.0.1",
                   PYTHONUNBUFFERED="1", DJANGO_SETTINGS_MODULE="arthur_panel.settings",
                   # The client's pace is its own: no per-minute limits in its way.
                   RATE_CHAT_REQUESTS_PER_MINUTE="0", RATE_API_REQUESTS_PER_MINUTE="0")
        self.log = work / "panel.log"
        with self.log.open("wb") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "arthur_panel.launcher", "run"], env=env, cwd=ROOT,
                stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        exits.callback(self.stop)
        self.base_url = f"http://127.0.0.1:{self.port}"
        wait_for_port(self.port, timeout=120)
        os.environ.update(ARTHUR_VAR_DIR=str(self.var),
                          DJANGO_SETTINGS_MODULE="arthur_panel.settings", LOG_LEVEL="WARNING",
                          REDIS_URL=private_redis_url(self.redis_port()),
                          HF_ENDPOINT=f"http://127.0.0.1:{self.listening_port('hub-sim')}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # the supervisor stops the group
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.models.is_mount():
            subprocess.run(["umount", "--lazy", str(self.models)], check=False)

    def status(self) -> dict[str, Any]:
        document = json.loads((self.var / STATUS_FILE).read_text())
        return document["processes"]  # type: ignore[no-any-return]

    def process_of(self, name: str) -> psutil.Process:
        """The program a supervised process runs (honcho starts it through a shell)."""
        process = psutil.Process(self.status()[name]["pid"])
        children = process.children()
        shell = process.name() in ("sh", "dash", "bash") and len(children) == 1
        return children[0] if shell else process

    def listening_port(self, name: str) -> int:
        command = self.process_of(name).cmdline()
        return int(command[command.index("--port") + 1])

    def redis_port(self) -> int:
        config = (self.var / "redis" / "redis.conf").read_text().split()
        return int(config[config.index("port") + 1])

    def kill(self, name: str) -> float | None:
        """SIGKILL the process; returns the seconds until the supervisor ran it again (and,
        for a server, it listened again), None when it did not within RESTART_TIMEOUT."""
        before = self.status()[name]["restarts"]
        victim = self.process_of(name)
        ports = [c.laddr.port for c in victim.net_connections("tcp") if c.status == "LISTEN"]
        victim.kill()
        killed = time.monotonic()
        deadline = killed + RESTART_TIMEOUT
        while time.monotonic() < deadline:
            now = self.status()[name]
            if now["restarts"] > before and now["state"] == "running":
                for port in ports:
                    wait_for_port(port, timeout=max(deadline - time.monotonic(), 1))
                return time.monotonic() - killed
            time.sleep(0.1)
        return None

    @contextmanager
    def full_disk(self) -> Iterator[int]:
        """The models disk filled up to its last page, for as long as the block runs; yields
        the bytes taken."""
        filler = self.models / ".chaos-filler"
        taken, chunk = 0, 1024**2
        with filler.open("wb") as handle:
            # Downloads write meanwhile: take what is free bit by bit, to the last page.
            while chunk >= PAGE:
                try:
                    os.posix_fallocate(handle.fileno(), taken, chunk)
                    taken += chunk
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    chunk //= 2
        try:
            yield taken
        finally:
            filler.unlink()


async def inject_faults(demo: Demo, run: Run, faults: list[str], rng: random.Random,
                        until: float, began: float) -> None:
    while True:
        await asyncio.sleep(rng.uniform(15, 45))
        if time.monotonic() >= until:
            return
        fault = Fault(rng.choice(faults), time.monotonic() - began)
        run.faults.append(fault)
        print(f"  {fault.at:6.0f} s: {fault.name}", flush=True)
        try:
            await inject(demo, run, fault)
        except (OSError, psutil.Error, KeyError, ValueError) as error:
            fault.note = f"not injected: {error}"
        if fault.note:
            print(f"          {fault.note}", flush=True)


async def inject(demo: Demo, run: Run, fault: Fault) -> None:
    if fault.name == "disk":
        with demo.full_disk() as taken:
            fault.note = f"{taken / 1024**2:.0f} MiB taken for {DISK_HOLD_SECONDS:g} s"
            await asyncio.sleep(DISK_HOLD_SECONDS)
        return
    if fault.name == "web":
        run.web_kills.append(time.time())
    fault.recovered = await asyncio.to_thread(demo.kill, PROCESS_FAULTS[fault.name])
    if fault.recovered is None:
        fault.note = f"not running again after {RESTART_TIMEOUT:g} s"


async def chat_until(client: httpx.AsyncClient, stream: int, tally: busy.Tally, run: Run,
                     until: float) -> None:
    body = {"model": CHAT_MODEL, "stream": True, "max_tokens": 128,
            "messages": [{"role": "user", "content": "Tell me about RDMA"}]}
    while time.monotonic() < until:
        began = time.time()
        outcome = await busy.chat_once(client, body, tally)
        run.chats.append(Chat(stream, began, time.time(), outcome))
        if outcome != "ok":
            await asyncio.sleep(1)


async def download_until(client: httpx.AsyncClient, slug: str, node: str, tally: busy.Tally,
                         run: Run, until: float) -> None:
    """Download, verify the copy, delete it; again until `until`."""
    path = f"/api/v1/models/{slug}/download/"
    while time.monotonic() < until:
        job = await busy.run_job(client, "download", "POST", path, {"node": node}, tally,
                                 JOB_TIMEOUT)
        if job is None or job["state"] != "succeeded":
            await asyncio.sleep(3)
            continue
        problems = await asyncio.to_thread(verify_copy, slug, node)
        run.verified["corrupt" if problems else "ok"] += 1
        run.corrupt += problems
        await busy.run_job(client, "delete", "DELETE", path, {"node": node}, tally, JOB_TIMEOUT)


async def get_json(client: httpx.AsyncClient, path: str, tally: busy.Tally) -> Any:
    try:
        response = await client.get(path)
    except httpx.HTTPError:
        return None
    return response.json() if tally.answer(path.split("/")[3], response) else None


async def keep_loaded(client: httpx.AsyncClient, tally: busy.Tally, rng: random.Random,
                      until: float) -> None:
    """Keep the chat model loaded, as an operator would: start the cluster when its nodes are
    down (exo restarted), load the model when it is gone, and now and then load and unload
    another one."""
    while time.monotonic() < until:
        cluster = await get_json(client, "/api/v1/cluster/", tally)
        nodes = {n["name"]: n["status"] for n in (cluster or {}).get("nodes", [])}
        if cluster is None or not cluster.get("reachable") or any(
                nodes.get(name) != "online" for _, name in DOWNLOADS):
            if cluster is not None:
                await busy.run_job(client, "cluster start", "POST", "/api/v1/cluster/start/",
                                   {}, tally, JOB_TIMEOUT)
            await asyncio.sleep(3)
            continue
        instances = await get_json(client, "/api/v1/instances/", tally)
        if instances is None:
            await asyncio.sleep(3)
        elif not any(i["model_id"] == CHAT_REPO for i in instances):
            await busy.run_job(client, "load", "POST", "/api/v1/instances/",
                               {"model": CHAT_MODEL}, tally, JOB_TIMEOUT)
        elif rng.random() < 0.3:
            job = await busy.run_job(client, "load", "POST", "/api/v1/instances/",
                                     {"model": EXTRA_MODEL}, tally, JOB_TIMEOUT)
            if job and job["state"] == "succeeded":
                await asyncio.sleep(5)
                await busy.run_job(client, "unload", "DELETE",
                                   f"/api/v1/instances/{job['result']['instance_id']}/", {},
                                   tally, JOB_TIMEOUT)
        else:
            await asyncio.sleep(5)


def verify_copy(slug: str, node_name: str) -> list[str]:
    """What is wrong with the copy of `slug` on the node: a file missing, or whose size or
    sha256 is not the Hub's."""
    from django.db import close_old_connections

    from cluster_app.models import Node
    from models_app.catalogue.hub import repo_metadata
    from models_app.downloads.jobs import file_specs, model_dir
    from models_app.models import LlmModel

    close_old_connections()
    model = LlmModel.objects.get(slug=slug)
    folder = model_dir(Node.objects.get(name=node_name), model.repo_id)
    problems = []
    for spec in file_specs(repo_metadata(model.repo_id, files_only=True)):
        path = folder / spec.path
        if not path.is_file():
            problems.append(f"{slug} on {node_name}: {spec.path} missing")
        elif path.stat().st_size != spec.size:
            problems.append(f"{slug} on {node_name}: {spec.path} has {path.stat().st_size} "
                            f"bytes, not {spec.size}")
        elif spec.sha256 and hashlib.sha256(path.read_bytes()).hexdigest() != spec.sha256:
            problems.append(f"{slug} on {node_name}: {spec.path} fails its sha256")
    return problems


def settle(quiet: float) -> dict[str, Any]:
    """Wait until no job is active, or `quiet` seconds; then the jobs by kind and state, and
    the stuck ones (running with a heartbeat older than the lease, or queued all along)."""
    from django.conf import settings
    from django.utils import timezone

    from cluster_app.models import Job

    deadline = time.monotonic() + quiet
    began = timezone.now()
    while Job.objects.filter(state__in=Job.ACTIVE).exists() and time.monotonic() < deadline:
        time.sleep(1)
    stale = timezone.now() - timedelta(seconds=settings.JOB_LEASE_SECONDS)
    stuck = [*Job.objects.filter(state=Job.State.RUNNING, heartbeat_at__lt=stale),
             *Job.objects.filter(state=Job.State.QUEUED, created_at__lt=began)]
    return {"states": Counter(Job.objects.values_list("kind", "state")), "stuck": stuck,
            "lease": settings.JOB_LEASE_SECONDS,
            "paused": Job.objects.filter(state=Job.State.PAUSED).count()}


def on_disk_copies(demo: Demo) -> list[str]:
    """Problems with every copy left on the disk at the end (files under their final name)."""
    from models_app.models import LlmModel

    problems = []
    for slug, node in DOWNLOADS:
        model = LlmModel.objects.get(slug=slug)
        folder = demo.models / node / model.repo_id.replace("/", "--")
        finals = [p for p in folder.rglob("*") if p.is_file() and p.suffix != ".partial"]
        if finals and not list(folder.rglob("*.partial")):
            problems += verify_copy(slug, node)
    return problems


def report(args: argparse.Namespace, run: Run, tally: busy.Tally, ended: dict[str, Any],
           records: tuple[int, int, list[Chat]], errors: Counter[str], lines: list[str],
           left: list[str], skipped: str) -> bool:
    print(f"\nchaos: {args.minutes:g} minutes, seed {args.seed}, {len(run.faults)} faults"
          + (f" ({skipped})" if skipped else ""))
    print(f"\n{'fault':10}{'injected':>10}{'back in s (median, max)':>26}  notes")
    for name in FAULTS:
        these = [f for f in run.faults if f.name == name]
        back = [f.recovered for f in these if f.recovered is not None]
        spread = f"{statistics.median(back):.1f}, {max(back):.1f}" if back else "-"
        notes = "; ".join(sorted({f.note for f in these if f.note}))
        print(f"{name:10}{len(these):>10}{spread:>26}  {notes}")
    states = ("succeeded", "failed", "cancelled", "queued", "running", "paused")
    print(f"\n{'job kind':18}" + "".join(f"{s:>11}" for s in states))
    for kind in sorted({kind for kind, _ in ended["states"]}):
        print(f"{kind:18}" + "".join(f"{ended['states'][(kind, s)]:>11}" for s in states))
    rows, due, unrecorded = records
    died = sum(run.died_with_the_web(chat) for chat in run.chats)
    print(f"\nclient: chats {dict(tally.chats)} ({died} cut by a web kill, which leaves no "
          f"record); jobs {dict(tally.jobs)}")
    print(f"usage records: {rows} for {due} chats that must have one; {len(unrecorded)} of "
          f"those without")
    for chat in unrecorded[:10]:
        print(f"  no record: chat of stream {chat.stream}, {chat.outcome}, "
              f"{datetime.fromtimestamp(chat.began):%H:%M:%S.%f} to "
              f"{datetime.fromtimestamp(chat.ended):%H:%M:%S.%f}")
    print(f"downloads verified: {dict(run.verified)}")
    print(f"refused while something was away (502/503 with a reason): "
          f"{dict(tally.unavailable) or 'none'}")
    print(f"in the processes' output: {dict(errors) or 'nothing'}")
    for line in lines[:15]:
        print(f"  {line}")
    for problem in tally.problems[:15]:
        print(f"  client: {problem}")
    for job in ended["stuck"]:
        since = job.heartbeat_at or job.created_at
        print(f"  stuck: job {job.pk} {job.kind} {job.state} since {since}: {job.message}")
    for error in tally.server_errors[:10]:
        print(f"  server error: {error}")
    lost = run.corrupt + left
    for problem in lost[:10]:
        print(f"  lost: {problem}")
    missing = len(unrecorded)
    results = [(f"stuck jobs (after {ended['lease']} s lease and the quiet period)",
                len(ended["stuck"])),
               ("5xx answers (server errors)", len(tally.server_errors)),
               (f"data lost ({len(lost)} copies failing verification, {missing} usage records "
                "missing)", len(lost) + missing)]
    print()
    for what, count in results:
        print(f"{what}: {count} (must be 0): {verdict(count == 0)}")
    return all(count == 0 for _, count in results)


async def drive(demo: Demo, tokens: list[str], run: Run, tally: busy.Tally,
                faults: list[str], args: argparse.Namespace) -> None:
    """The client's work and the faults; `tokens`: the operator's, then one per chat stream."""
    rng = random.Random(args.seed)
    operator, *streams = [busy.api_client(demo.base_url, token, connections=16, timeout=120)
                          for token in tokens]
    try:
        ready = time.monotonic() + 300
        print("waiting for the demo cluster and its model", flush=True)
        while time.monotonic() < ready:  # the demo's start job, then the client's first load
            await keep_loaded(operator, tally, random.Random(args.seed + 2),
                              time.monotonic() + 1)
            instances = await get_json(operator, "/api/v1/instances/", tally)
            if instances and any(i["model_id"] == CHAT_REPO and i["status"] == "ready"
                                 for i in instances):
                break
        began = time.monotonic()
        until = began + args.minutes * 60
        print(f"chaos for {args.minutes:g} minutes, faults: {', '.join(faults)}", flush=True)
        await asyncio.gather(
            inject_faults(demo, run, faults, rng, until, began),
            keep_loaded(operator, tally, random.Random(args.seed + 1), until),
            *(chat_until(client, n, tally, run, until) for n, client in enumerate(streams)),
            *(download_until(operator, slug, node, tally, run, until)
              for slug, node in DOWNLOADS))
    finally:
        for client in [operator, *streams]:
            await client.aclose()


def chaos(args: argparse.Namespace, skipped: str) -> bool:
    faults = [name for name in args.faults if name != "disk" or not skipped]
    with ExitStack() as exits:
        work = open_work_dir(exits, keep=args.keep)
        demo = Demo(exits, work, disk=not skipped)
        import django

        django.setup()
        from django.contrib.auth import get_user_model

        from cluster_app.models import ApiToken
        from models_app.models import UsageRecord

        admin = get_user_model().objects.get(username="admin")
        keys = [ApiToken.issue(user=admin, name=f"chaos {n}") for n in range(CHAT_STREAMS + 1)]
        run, tally = Run(), busy.Tally()
        asyncio.run(drive(demo, [secret for _, secret in keys], run, tally, faults, args))
        print(f"client stopped; waiting up to {args.quiet:g} s for every job to end", flush=True)
        ended = settle(args.quiet)
        streams = [key for key, _ in keys[1:]]
        due = run.due()
        rows = busy.wait_for_rows(UsageRecord.objects.filter(token__in=streams).count, len(due))
        unrecorded = run.unrecorded({n: [(at.timestamp(), took / 1000) for at, took in
                                         UsageRecord.objects.filter(token=key).values_list(
                                             "created_at", "duration_ms")]
                                     for n, key in enumerate(streams)})
        left = on_disk_copies(demo)
        errors, lines = busy.log_errors([work])
        return report(args, run, tally, ended, (rows, len(due), unrecorded), errors, lines,
                      left, skipped)


def namespace_refusal() -> str:
    """Why the disk cannot be filled here ("" when it can): a tmpfs needs a mount namespace."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            done = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh",
                                   "-c", f"mount -t tmpfs -o size=1M tmpfs {folder}"],
                                  capture_output=True, text=True, check=False)
        except OSError as error:  # no unshare at all (not Linux)
            return f"disk fault skipped: {error}"
    return "" if done.returncode == 0 else (
        f"disk fault skipped: no tmpfs in a mount namespace here ({done.stderr.strip()})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quiet", type=float, default=120.0,
                        help="seconds at most to wait for the jobs after the client stops "
                             "(default 120: twice the job lease, so a job whose worker died "
                             "last is taken over and run again first)")
    parser.add_argument("--faults", type=lambda text: text.split(","), default=list(FAULTS),
                        help=f"the faults to draw from (default: {','.join(FAULTS)})")
    parser.add_argument("--keep", action="store_true", help="keep the work dir and its logs")
    parser.add_argument(NAMESPACE_FLAG, action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if unknown := set(args.faults) - set(FAULTS):
        parser.error(f"--faults: unknown {', '.join(sorted(unknown))}")
    skipped = "" if "disk" in args.faults else "no disk fault asked for"
    if not skipped and not args.in_namespace:
        skipped = namespace_refusal()
        if not skipped:  # again, inside a namespace of its own where it may mount the tmpfs
            os.execvp("unshare", ["unshare", "--user", "--map-root-user", "--mount", "--",
                                  sys.executable, __file__, *sys.argv[1:], NAMESPACE_FLAG])
    if skipped:
        print(skipped, flush=True)
    return 0 if chaos(args, skipped) else 1


if __name__ == "__main__":
    sys.exit(main())
