"""Soak the panel: steady chat, download and poll traffic for a long while (an hour by default),
and what grows, read at the start, after the warm-up and at the end.

Read each time: every web, worker and beat process's RSS (a worker with its pool's children),
Redis's memory and key count, the database's size and its job rows. Targets: each process's
RSS at the end at most 1.10x its figure after the warm-up; Redis's keys at most 1.5x theirs
(bounded, not growing with the traffic); no chat or download failed. Not part of the test
suite: run it by hand, on a quiet machine if you can.

    .venv/bin/python bench/soak.py [--minutes 60] [--streams 4] [--poll 0.25]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import redis
from cluster_poll import issue_token, open_work_dir, prepare_django, start_redis, verdict
from proxy import MODEL, chat_body, load_model, start_exo

from tests import stack

RSS_GROWTH_TARGET = 1.10
KEYS_GROWTH_TARGET = 1.5
REPO = "sim-org/tiny-4bit"
MIB = 1024**2


@dataclass
class Reading:
    at: float
    rss: dict[str, int]  # process name -> bytes
    redis_memory: int
    redis_keys: int
    database_bytes: int
    jobs: dict[str, int]


@dataclass
class Traffic:
    """What the clients did, counted by every thread."""

    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, what: str, error: str = "") -> None:
        with self.lock:
            self.counts[what] += 1
            if error and len(self.errors) < 20:
                self.errors.append(f"{what}: {error}")


def process_name(process: psutil.Process) -> str | None:
    """The stack's process this is, or None (a simulator, Redis, a pool child)."""
    command = " ".join(process.cmdline())
    if "arthur_panel.web" in command:
        return "web"
    if " beat " in f"{command} ":
        return "beat"
    if " worker " in f"{command} ":
        return "control" if "control@" in command else "worker"
    return None


def stack_rss() -> dict[str, int]:
    """RSS of each stack process, a worker's with its pool's children."""
    rss: dict[str, int] = {}
    for process in psutil.Process().children(recursive=True):
        try:
            name = process_name(process)
            if name is not None:
                rss[name] = rss.get(name, 0) + sum(
                    p.memory_info().rss for p in [process, *process.children(recursive=True)])
        except psutil.NoSuchProcess:
            continue
    return rss


def read(redis_url: str, database: Path) -> Reading:
    from cluster_app.models import Job

    client = redis.Redis.from_url(redis_url)
    size = sum(p.stat().st_size for p in database.parent.glob(f"{database.name}*"))
    jobs = Counter(Job.objects.values_list("state", flat=True))
    return Reading(time.monotonic(), stack_rss(), int(client.info("memory")["used_memory"]),
                   int(client.dbsize()), size, dict(jobs))


def chat_loop(base_url: str, token: str, traffic: Traffic, until: float) -> None:
    with httpx.Client(base_url=base_url, timeout=60,
                      headers={"Authorization": f"Bearer {token}"}) as client:
        while time.monotonic() < until:
            try:
                with client.stream("POST", "/v1/chat/completions",
                                   json=chat_body("Tell me about RDMA", 64)) as reply:
                    if reply.status_code != 200:
                        traffic.add("chat failed", f"{reply.status_code} {reply.read()[:200]!r}")
                        continue
                    text = "".join(reply.iter_text())
                traffic.add("chat" if "[DONE]" in text else "chat failed",
                            "" if "[DONE]" in text else text[-200:])
            except httpx.HTTPError as exc:
                traffic.add("chat failed", str(exc))


def download_loop(base_url: str, token: str, slug: str, traffic: Traffic, until: float,
                  every: float) -> None:
    """Download the small repo to ALPHA and delete it again, as jobs through the API."""
    with httpx.Client(base_url=base_url, timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as client:
        while time.monotonic() < until:
            began = time.monotonic()
            for method, what in (("POST", "download"), ("DELETE", "delete")):
                response = client.request(method, f"/api/v1/models/{slug}/download/",
                                          json={"node": "alpha"})
                if response.status_code >= 400:
                    traffic.add(f"{what} failed", response.text[:200])
                    break
                job = response.json()
                job = job["jobs"][0] if "jobs" in job else job  # a download may start several
                final = stack.wait_until(lambda job=job: (s := client.get(
                    f"/api/v1/jobs/{job['id']}/").json())["state"] in ("succeeded", "failed",
                                                                      "cancelled") and s,
                                         timeout=120)
                ok = final["state"] == "succeeded"
                traffic.add(what if ok else f"{what} failed",
                            "" if ok else f"{final['state']}: {final.get('error')}")
            time.sleep(max(0.0, every - (time.monotonic() - began)))


def report(start: Reading, warm: Reading, end: Reading, traffic: Traffic) -> bool:
    print(f"\n{'':10}{'start':>12}{'warmed up':>12}{'end':>12}{'end/warm':>10}")
    ok = True
    for name in sorted(end.rss):
        growth = end.rss[name] / warm.rss.get(name, end.rss[name])
        ok = ok and growth <= RSS_GROWTH_TARGET
        print(f"{name + ' MiB':10}{start.rss.get(name, 0) / MIB:12.1f}"
              f"{warm.rss.get(name, 0) / MIB:12.1f}{end.rss[name] / MIB:12.1f}{growth:9.2f}x")
    keys = end.redis_keys / max(warm.redis_keys, 1)
    print(f"{'redis MiB':10}{start.redis_memory / MIB:12.1f}{warm.redis_memory / MIB:12.1f}"
          f"{end.redis_memory / MIB:12.1f}{end.redis_memory / warm.redis_memory:9.2f}x")
    print(f"{'redis keys':10}{start.redis_keys:12}{warm.redis_keys:12}{end.redis_keys:12}"
          f"{keys:9.2f}x")
    print(f"{'db MiB':10}{start.database_bytes / MIB:12.1f}{warm.database_bytes / MIB:12.1f}"
          f"{end.database_bytes / MIB:12.1f}")
    print(f"job rows: start {start.jobs}, end {end.jobs}")
    print(f"traffic: {dict(traffic.counts)}")
    for error in traffic.errors:
        print(f"  {error}")
    failed = sum(n for what, n in traffic.counts.items() if what.endswith("failed"))
    print(f"\nRSS growth after warm-up, every process <= {RSS_GROWTH_TARGET:.2f}x: {verdict(ok)}")
    print(f"Redis keys after warm-up {keys:.2f}x <= {KEYS_GROWTH_TARGET:.1f}x: "
          f"{verdict(keys <= KEYS_GROWTH_TARGET)}")
    print(f"failed requests and jobs: {failed} (target 0): {verdict(failed == 0)}")
    return ok and keys <= KEYS_GROWTH_TARGET and failed == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=0.1,
                        help="the share of the run before the warm reading (default 0.1)")
    parser.add_argument("--streams", type=int, default=4, help="chat clients streaming at once")
    parser.add_argument("--poll", type=float, default=0.25, help="CLUSTER_POLL_SECONDS")
    parser.add_argument("--download-every", type=float, default=30.0,
                        help="seconds between the starts of two download-and-delete rounds")
    parser.add_argument("--keep", action="store_true", help="keep the work dir and its logs")
    args = parser.parse_args()
    with ExitStack() as exits:
        work = open_work_dir(exits, keep=args.keep)
        hub_url = exits.enter_context(stack.running_simulator("hub", work / "hub"))
        # Like exo, it reads the cards of models it does not know from the Hub.
        exo_url = start_exo(exits, work, "--hf-endpoint", hub_url)
        prepare_django(work, start_redis(exits, work))
        from django.conf import settings

        from models_app.catalogue.services import model_add_from_hub

        settings.HF_ENDPOINT = hub_url

        # The guide's nodes are the migrations' seed.
        slug = model_add_from_hub(repo_id=REPO).slug
        token = issue_token()
        with httpx.Client(base_url=exo_url, timeout=10) as sim:
            load_model(sim)
            sim.post("/_sim/settings", json={"model_speeds": {MODEL: 400.0}}).raise_for_status()
        live = exits.enter_context(stack.running_stack(
            os.environ["DATABASE_URL"], exo_url, hub_url, work / "stack",
            {"CLUSTER_POLL_SECONDS": str(args.poll), "RATE_CHAT_REQUESTS_PER_MINUTE": "0",
             "RATE_STREAMS_PER_USER": str(args.streams * 2)}))
        database = Path(os.environ["DATABASE_URL"].removeprefix("sqlite:///"))
        redis_url = live.env["REDIS_URL"]
        print(f"stack ready; {args.minutes:g} minutes of traffic", flush=True)
        traffic = Traffic()
        began = time.monotonic()
        until = began + args.minutes * 60
        start = read(redis_url, database)
        threads = [threading.Thread(target=chat_loop, args=(live.base_url, token, traffic, until))
                   for _ in range(args.streams)]
        threads.append(threading.Thread(target=download_loop, args=(
            live.base_url, token, slug, traffic, until, args.download_every)))
        for thread in threads:
            thread.start()
        time.sleep(args.minutes * 60 * args.warmup)
        warm = read(redis_url, database)
        print(f"warmed up: {dict(traffic.counts)}", flush=True)
        for thread in threads:
            thread.join()
        return 0 if report(start, warm, read(redis_url, database), traffic) else 1


if __name__ == "__main__":
    sys.exit(main())
