"""Keep the database busy for minutes (5 by default), on SQLite and on PostgreSQL.

32 chat streams back to back through the proxy (each leaves a usage record), the cluster poll
every second, 4 downloads at once from the hub simulator (each downloaded, deleted and
downloaded again, as jobs through the API) and the log follower on two nodes' exo logs, all on
the live stack. Targets, every one 0: "database is locked" (or PostgreSQL's deadlock and
serialization failures) in any process's log, 5xx answers, failed jobs, usage records lost
(every chat the client finished, or saw broken, must have its record). Exits 1 when one is
missed. Not part of the test suite (tests/arthur_panel/test_database_busy.py is its short
version).

    .venv/bin/python bench/db_stress.py [--minutes 5] [--database sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
from cluster_poll import (
    issue_token,
    open_work_dir,
    percentile,
    prepare_django,
    start_redis,
    started,
    verdict,
)
from download import LLAMA_CONFIG
from proxy import MODEL, load_model, start_exo

from arthur_panel.launcher import free_port, hub_simulator_command, wait_for_port
from arthur_panel.postgres import private_postgres
from tests import busy, stack
from tests.follower import running_follower

MIB = 1024**2
# Four repos of two shards, each file fetched at most at this speed per connection: a download
# lasts a few seconds, long enough for its progress to be saved and sent several times.
REPOS = [f"bench-org/busy-{n}" for n in range(1, 5)]
REPO_BYTES, REPO_SHARDS = 24 * MIB, 2
CONNECTION_BYTES_PER_SECOND = 8 * MIB
LOG_NODES = ("alpha", "beta")
CHAT_RATE = 400.0  # tokens/s of the simulated model
PROBE_SECONDS = 0.1


def start_hub(exits: ExitStack, work: Path) -> str:
    manifest = work / "manifest.json"
    manifest.write_text(json.dumps({"repos": [
        {"id": repo, "weight_bytes": REPO_BYTES, "shards": REPO_SHARDS, "config": LLAMA_CONFIG}
        for repo in REPOS]}))
    port = free_port()
    started(exits, hub_simulator_command(
        port, work, "--manifest", str(manifest), "--scale", "1", "--log-level", "warning",
        "--bandwidth", str(CONNECTION_BYTES_PER_SECOND), "--bandwidth-per", "connection"),
        work / "hub-sim.log")
    wait_for_port(port, timeout=30)
    return f"http://127.0.0.1:{port}"


def follow_logs_of(work: Path) -> list[Path]:
    """Point the log nodes at files of their own in `work`; returns them."""
    from cluster_app.models import Node

    files = []
    for name in LOG_NODES:
        path = work / "exo-logs" / f"{name}.log"
        path.parent.mkdir(exist_ok=True)
        path.touch()
        Node.objects.filter(name=name).update(exo_log_files=[str(path)])
        files.append(path)
    return files


def describe_database() -> str:
    """The database and, for SQLite, the settings that decide how writers wait for each
    other, as the stack's processes open it."""
    from django.db import connection

    if connection.vendor != "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            return f"PostgreSQL ({cursor.fetchone()[0].split(' on ')[0]})"
    with connection.cursor() as cursor:
        pragmas = {}
        for name in ("journal_mode", "busy_timeout", "synchronous"):
            cursor.execute(f"PRAGMA {name}")
            pragmas[name] = cursor.fetchone()[0]
    synchronous = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[pragmas["synchronous"]]
    mode = connection.settings_dict["OPTIONS"].get("transaction_mode", "DEFERRED")
    return (f"SQLite (journal_mode {pragmas['journal_mode']}, busy_timeout "
            f"{pragmas['busy_timeout']} ms, synchronous {synchronous}, {mode} transactions)")


def database_figures(work: Path) -> str:
    """Its size, and for PostgreSQL the server's own count of deadlocks it broke."""
    from django.db import connection

    if connection.vendor == "sqlite":
        sizes = {path.name.removeprefix("db.sqlite3") or "db": path.stat().st_size / MIB
                 for path in work.glob("db.sqlite3*")}
        return ", ".join(f"{name} {size:.1f} MiB" for name, size in sorted(sizes.items()))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database()), deadlocks, conflicts "
                       "FROM pg_stat_database WHERE datname = current_database()")
        size, deadlocks, conflicts = cursor.fetchone()
    return f"{size / MIB:.1f} MiB, deadlocks {deadlocks}, conflicts {conflicts} (server counts)"


class LockProbe:
    """SQLite's write lock taken and given back every PROBE_SECONDS from a thread of its own,
    as any writer takes it (BEGIN IMMEDIATE, with the panel's busy timeout): how long writers
    wait for each other, against that timeout."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.waits: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(path, timeout), daemon=True)

    def __enter__(self) -> LockProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self, path: Path, timeout: float) -> None:
        connection = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        try:
            while not self._stop.wait(PROBE_SECONDS):
                began = time.perf_counter()
                connection.execute("BEGIN IMMEDIATE")
                self.waits.append(time.perf_counter() - began)
                connection.execute("ROLLBACK")
        finally:
            connection.close()

    def summary(self) -> str:
        if not self.waits:
            return "no probe"
        return (f"p50 {statistics.median(self.waits) * 1000:.1f} ms, p99 "
                f"{percentile(self.waits, 0.99) * 1000:.1f} ms, max {max(self.waits) * 1000:.0f} "
                f"ms over {len(self.waits)} takes")


@contextmanager
def lock_probe(work: Path) -> Iterator[LockProbe | None]:
    """A LockProbe on the SQLite database (None on PostgreSQL, whose writers lock rows)."""
    from django.db import connection

    if connection.vendor != "sqlite":
        yield None
        return
    with LockProbe(work / "db.sqlite3", connection.settings_dict["OPTIONS"]["timeout"]) as probe:
        yield probe


def stress(args: argparse.Namespace) -> bool:
    """One run on `args.database`; prints its report and returns whether every target held."""
    with ExitStack() as exits:
        work = open_work_dir(exits, keep=args.keep)
        redis_url = start_redis(exits, work)
        database = (exits.enter_context(private_postgres(free_port()))
                    if args.database == "postgresql" else None)
        hub_url = start_hub(exits, work)
        # Like exo, it reads the cards of models it does not know from the Hub.
        exo_url = start_exo(exits, work, "--hf-endpoint", hub_url)
        os.environ.update(HF_ENDPOINT=hub_url, HF_TOKEN="", HF_HOME=str(work / "hf-home"))
        prepare_django(work, redis_url, database)
        from cluster_app.models import Job
        from models_app.catalogue.services import model_add_from_hub
        from models_app.models import UsageRecord

        slugs = [model_add_from_hub(repo_id=repo).slug for repo in REPOS]
        token = issue_token()
        log_files = follow_logs_of(work)
        with httpx.Client(base_url=exo_url, timeout=10) as sim:
            load_model(sim)
            sim.post("/_sim/settings", json={"model_speeds": {MODEL: CHAT_RATE}}
                     ).raise_for_status()
        live = exits.enter_context(stack.running_stack(
            os.environ["DATABASE_URL"], exo_url, hub_url, work / "stack",
            {"CLUSTER_POLL_SECONDS": str(args.poll), "RATE_CHAT_REQUESTS_PER_MINUTE": "0",
             "RATE_API_REQUESTS_PER_MINUTE": "0", "RATE_STREAMS_PER_USER": str(2 * args.streams),
             # The panel's own lease (the test stack's is short, for the fault tests).
             "JOB_LEASE_SECONDS": "60"}))
        # The stack's bulk worker runs two jobs at once: a second one, as BETA's would be,
        # lets the four downloads run together.
        second = live.log_dir / "worker-2.log"
        started(exits, stack.worker_command(name="second@%h"), second, live.env)
        stack.wait_for_worker(live.env, second)
        exits.enter_context(running_follower(live, live.log_dir / "follower.log", *LOG_NODES))
        described = describe_database()
        print(f"stack ready on {described}; {args.minutes:g} minutes of traffic", flush=True)
        tally = busy.Tally()
        chat = {"model": MODEL, "stream": True, "max_tokens": args.tokens,
                "messages": [{"role": "user", "content": "Tell me about RDMA"}]}
        downloads = [(slug, LOG_NODES[n % len(LOG_NODES)]) for n, slug in enumerate(slugs)]
        began = time.monotonic()
        with lock_probe(work) as probe:
            asyncio.run(busy.keep_busy(
                base_url=live.base_url, chat_tokens=[token], operator_token=token,
                streams=args.streams, chat=chat, downloads=downloads, log_files=log_files,
                seconds=args.minutes * 60, tally=tally))
        seconds = time.monotonic() - began
        rows = busy.wait_for_rows(UsageRecord.objects.count, tally.usage_expected, timeout=60)
        errors, lines = busy.log_errors([work])
        jobs = Counter(f"{kind} {state}" for kind, state in
                       Job.objects.values_list("kind", "state"))
        figures = database_figures(work) + (f"; write lock waited for: {probe.summary()}"
                                            if probe else "")
        return report(described, tally, rows, errors, lines, jobs, seconds, figures)


def report(described: str, tally: busy.Tally, rows: int, errors: Counter[str],
           lines: list[str], jobs: Counter[str], seconds: float, figures: str) -> bool:
    chats = sum(tally.chats.values())
    print(f"\n{described}, {seconds / 60:.1f} minutes")
    print(f"chats: {chats} ({chats / seconds:.1f}/s): {dict(tally.chats)}")
    print(f"usage records: {rows} ({rows / seconds:.1f}/s written), "
          f"{tally.usage_expected} expected")
    print(f"download and delete jobs: {dict(tally.jobs)}")
    print(f"job rows: {dict(jobs)}")
    print(f"log lines written for the follower: {tally.log_lines}")
    print(f"database: {figures}")
    print(f"in the processes' logs: {dict(errors) or 'nothing'}")
    for line in lines:
        print(f"  {line}")
    for problem in [*tally.server_errors[:10], *tally.unavailable, *tally.problems]:
        print(f"  {problem}")
    locked = sum(errors[pattern] for pattern in busy.LOCKED)
    conflicts = sum(errors[pattern] for pattern in busy.POSTGRES_CONFLICTS)
    failed = sum(n for what, n in tally.jobs.items() if not what.endswith(" succeeded"))
    lost = tally.usage_expected - rows
    five_hundreds = len(tally.server_errors) + sum(tally.unavailable.values())
    results = [
        ('"database is locked" in any log', locked, locked == 0),
        ("deadlocks and serialization failures in any log", conflicts, conflicts == 0),
        ("5xx answers", five_hundreds, five_hundreds == 0),
        ("failed or unfinished jobs", failed, failed == 0),
        ("lost usage records", lost, lost == 0),
    ]
    print()
    for what, count, ok in results:
        print(f"{what}: {count} (target 0): {verdict(ok)}")
    return all(ok for *_, ok in results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--streams", type=int, default=32, help="chat streams at once")
    parser.add_argument("--tokens", type=int, default=64, help="max_tokens of each chat")
    parser.add_argument("--poll", type=float, default=1.0, help="CLUSTER_POLL_SECONDS")
    parser.add_argument("--keep", action="store_true", help="keep the work dir and its logs")
    args = parser.parse_args()
    if args.database != "both":
        return 0 if stress(args) else 1
    # One process per database: Django is set up once per process.
    verdicts = {}
    for database in ("sqlite", "postgresql"):
        print(f"==== {database} ====", flush=True)
        argv = ["--minutes", str(args.minutes), "--streams", str(args.streams), "--tokens",
                str(args.tokens), "--poll", str(args.poll), *(["--keep"] if args.keep else [])]
        verdicts[database] = subprocess.run(
            [sys.executable, __file__, *argv, "--database", database]).returncode == 0
    print(f"\n{', '.join(f'{db}: {verdict(ok)}' for db, ok in verdicts.items())}")
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
