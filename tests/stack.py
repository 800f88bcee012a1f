"""The live stack for integration tests: the real web server (uvicorn), Celery beat and the two
Celery workers
(bulk and control lanes), as subprocesses, on the test database and the private Redis that
`make test` started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import redis
from django.conf import settings

from arthur_panel.launcher import (
    ROOT,
    exo_simulator_command,
    free_port,
    hub_simulator_command,
    wait_for_port,
)

CELERY_WORKER = [str(Path(sys.executable).parent / "celery"), "-A", "arthur_panel", "worker",
                 "--loglevel", "INFO", "--without-gossip", "--without-mingle"]
BULK_SLOTS = 2
NODE_OFFLINE_SECONDS = 10


def web_command() -> list[str]:
    """The web process, as the Procfile runs it; it listens on HOST and PORT."""
    return [sys.executable, "-m", "arthur_panel.web"]


def worker_command(*queues: str, name: str = "celery@%h") -> list[str]:
    """A bulk worker; with `queues`, only those (the default and node queues otherwise)."""
    command = [*CELERY_WORKER, "-n", name, "--concurrency", str(BULK_SLOTS)]
    return [*command, "-Q", ",".join(queues)] if queues else command


def control_worker_command(*queues: str, name: str = "control@%h") -> list[str]:
    """The control lane's worker, as the Procfile runs it: threads, on `control` and the node
    control queues; with `queues`, only those (a node's own, as on BETA)."""
    return [*CELERY_WORKER, "-Q", ",".join(queues or ("control",)), "-n", name,
            "--pool", "threads", "--concurrency", "8"]


@dataclass
class Stack:
    base_url: str
    ws_url: str
    env: dict[str, str]
    log_dir: Path
    models_dir: Path
    web_pid: int
    beat: subprocess.Popen[bytes] = field(repr=False, compare=False)


def database_url(database: dict[str, Any]) -> str:
    """The URL of a Django database (the test database, once set up), for the stack's
    processes: SQLite's file, or PostgreSQL's server with its user and password."""
    if database["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{database['NAME']}"
    login = f"{quote(database['USER'], safe='')}:{quote(database['PASSWORD'], safe='')}"
    return f"postgresql://{login}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


def require_private_redis() -> None:
    """Fail (not skip) a live test run outside the suite: it needs the suite's private Redis."""
    if "REDIS_URL" not in os.environ:
        pytest.fail("The live stack needs the private Redis: run the suite with `make test`.")


def stack_database_url() -> str:
    """The test database's URL for a stack's processes (see database_url)."""
    require_private_redis()
    return database_url(settings.DATABASES["default"])


def stack_redis_url() -> str:
    """The stack's own Redis database: its broker, layer and cache stay apart from the tests
    that run in-process."""
    return os.environ["REDIS_URL"].rsplit("/", 1)[0] + "/1"


def stack_env(database: str, exo_url: str, hub_url: str, models_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_ENDPOINT=hub_url,
        HF_TOKEN="",
        MODELS_DIR=str(models_dir),
        DOWNLOAD_STALL_SECONDS="2",
        DOWNLOAD_RETRIES="3",
        JOB_LEASE_SECONDS="5",
        REDIS_URL=stack_redis_url(),
        EXO_API_URL=exo_url,
        CLUSTER_POLL_SECONDS="0.5",
        # A node silent this long is offline (30 s by default): the alert tests drop one and
        # wait for it; long enough that a loaded machine's late GPU reading is no outage.
        NODE_OFFLINE_SECONDS=str(NODE_OFFLINE_SECONDS),
        ALERT_RETRY_SECONDS="0.5",
        DJANGO_SETTINGS_MODULE="arthur_panel.settings",
        DATABASE_URL=database,
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
        # ibv_devinfo is a Mac program: the stack's nodes have none, whatever this machine has.
        IBV_DEVINFO_PATH=str(models_dir.parent / "no-ibv_devinfo"),
        # One web process, whose pid is the stack's web_pid (tests watch its memory); several
        # are tested on their own (tests/arthur_panel/test_web_processes_live.py).
        WEB_CONCURRENCY="1",
    )
    return env


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(args, env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(*processes: subprocess.Popen[bytes]) -> None:
    """Stop the processes, all at once: each is asked to (SIGTERM), then waited for (and killed
    after 15 s)."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        process.terminate()
    for process in running:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for_web(base_url: str, timeout: float = 60.0) -> None:
    """Until the web server answers a page: with several processes (WEB_CONCURRENCY), its port
    is open before they have started."""
    def answers() -> bool:
        try:
            return httpx.get(f"{base_url}/login/", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(answers, timeout=timeout, interval=0.2)


def wait_for_worker(env: dict[str, str], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if b"ready." in log.read_bytes():
            return
        time.sleep(0.2)
    raise RuntimeError(f"Celery worker did not start:\n{log.read_text()[-3000:]}")


# Time for a cluster poll a worker has already taken to end.
POLL_UNDER_WAY_SECONDS = 1.0
# The beat of every stack running in this process (see other_stacks_paused).
_BEATS: list[subprocess.Popen[bytes]] = []
# How many holders keep each beat paused (see beats_paused).
_PAUSES: Counter[subprocess.Popen[bytes]] = Counter()


@contextmanager
def beats_paused(beats: Iterable[subprocess.Popen[bytes]]) -> Iterator[None]:
    """`beats` stopped meanwhile; each goes on once no holder keeps it paused any more."""
    held = [beat for beat in beats if beat.poll() is None]
    for beat in held:
        if not _PAUSES[beat]:
            beat.send_signal(signal.SIGSTOP)
        _PAUSES[beat] += 1
    try:
        yield
    finally:
        for beat in held:
            _PAUSES[beat] -= 1
            if not _PAUSES[beat] and beat.poll() is None:
                beat.send_signal(signal.SIGCONT)


@contextmanager
def other_stacks_paused() -> Iterator[None]:
    """The beats of the stacks already running (the session's) paused meanwhile: they share
    the test database, and their beat would act on what is not theirs: their job recovery would
    send another stack's jobs (waiting for their Redis, or their worker killed) to their own
    workers, and their cluster poll would write their exo's nodes over the other's."""
    with beats_paused(list(_BEATS)):
        yield


@contextmanager
def other_stacks_quiet() -> Iterator[None]:
    """`other_stacks_paused`, once a poll their workers had already taken has had time to end
    (a test that writes what their cluster poll writes: a node's figures, its samples)."""
    with other_stacks_paused():
        time.sleep(POLL_UNDER_WAY_SECONDS)
        yield


@contextmanager
def running_stack(database: str, exo_url: str, hub_url: str, log_dir: Path,
                  extra_env: dict[str, str] | None = None, *,
                  workers: bool = True) -> Iterator[Stack]:
    """The stack on the database at the URL `database` (see `database_url`); without
    `workers`, only the web server and beat (a test that kills workers runs its own). The
    stacks already running are paused while it runs (`other_stacks_paused`)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**stack_env(database, exo_url, hub_url, log_dir / "models"), **(extra_env or {})}
    port = free_port()
    bin_dir = Path(sys.executable).parent
    with other_stacks_paused():
        web = start(web_command(), {**env, "HOST": "127.0.0.1", "PORT": str(port)},
                    log_dir / "web.log")
        beat = start([str(bin_dir / "celery"), "-A", "arthur_panel", "beat", "--loglevel",
                      "INFO", "--schedule", str(log_dir / "beat-schedule")], env,
                     log_dir / "beat.log")
        lanes = [(worker_command(), log_dir / "worker.log"),
                 (control_worker_command(), log_dir / "control.log")] if workers else []
        running = [start(command, env, log) for command, log in lanes]
        _BEATS.append(beat)
        try:
            wait_for_web(f"http://127.0.0.1:{port}")
            for _, log in lanes:
                wait_for_worker(env, log)
            yield Stack(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", env, log_dir,
                        log_dir / "models", web.pid, beat)
        finally:
            _BEATS.remove(beat)
            stop(*running, beat, web)


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.1):  # type: ignore[no-untyped-def]
    """Poll `predicate` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def api(stack: Stack, token: str) -> httpx.Client:
    return httpx.Client(base_url=stack.base_url, timeout=10,
                        headers={"Authorization": f"Bearer {token}"})


# Quick enough for tests, slow enough to watch the runner states go by.
FAST_LOAD_TIME, FAST_SPEED = 2, 20
EXO_SIM_FAST = ["--load-time", str(FAST_LOAD_TIME), "--tick", "0.05", "--speed", str(FAST_SPEED),
                "--node-timeout", "2"]
HUB_TOKEN = "hf_arthur_test_token"


@contextmanager
def running_simulator(kind: str, log_dir: Path, *extra: str, demo: bool = False,
                      port: int | None = None,
                      env: dict[str, str] | None = None) -> Iterator[str]:
    """The exo simulator (fast timings) or the hub simulator (its small test manifest: two
    public repos and a gated one) as a server process, with `extra` flags; yields its URL.
    With `demo`, each as `make run` starts it: the exo simulator at its own timings (exo's
    30 s node timeout among them), the hub simulator with the demo manifest (every catalogue
    model at 1/20000 scale; not capped here). `env`: variables of its own (exo's HF_TOKEN)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    if kind == "exo":
        command = exo_simulator_command(port, log_dir, *([] if demo else EXO_SIM_FAST), *extra)
    else:
        flags = [] if demo else ["--tiny", "--token", HUB_TOKEN]
        command = hub_simulator_command(port, log_dir, *flags, *extra)
    process = start(command, {**os.environ, **(env or {})}, log_dir / f"{kind}-sim.log")
    try:
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


@contextmanager
def separate_stack(database: str, exo_url: str, hub_url: str, log_dir: Path, *,
                   redis_db: int, var_dir: Path, extra_env: dict[str, str] | None = None,
                   workers: bool = True) -> Iterator[Stack]:
    """A stack beside the session's, for exo simulators of a module's own: its own Redis
    database (emptied first; the session stack has database 1, in-process tests 0) and var
    directory (exo PID locks and console logs), and `extra_env` for its processes."""
    broker = os.environ["REDIS_URL"].rsplit("/", 1)[0] + f"/{redis_db}"
    redis.Redis.from_url(broker).flushdb()
    with running_stack(database, exo_url, hub_url, log_dir,
                       extra_env={**(extra_env or {}), "REDIS_URL": broker,
                                  "ARTHUR_VAR_DIR": str(var_dir)}, workers=workers) as stack:
        yield stack
