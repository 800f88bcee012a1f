"""`make run`'s launcher: a fresh var/, a private Redis, one process group that starts a
process again when it dies, a clean Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import psycopg
import pytest
import redis

from arthur_panel import launcher
from arthur_panel.postgres import private_postgres
from arthur_panel.supervisor import STATUS_FILE, read_status
from tests.stack import wait_until


def test_redis_command_is_private_and_persistent(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTHUR_VAR_DIR", str(tmp_path / "var"))
    command = launcher.redis_command(6399, tmp_path / "redis")
    assert os.path.exists(command[0])
    config = Path(command[1])
    settings = dict(line.split(" ", 1) for line in config.read_text().splitlines())
    assert settings["bind"] == "127.0.0.1" and settings["appendonly"] == "yes"
    password = (tmp_path / "var" / "redis_password").read_text()
    assert settings["requirepass"] == password and len(password) >= 40
    # Neither file is readable by another user; the password is not on the command line.
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "var" / "redis_password").stat().st_mode) == 0o600
    assert password not in " ".join(command)
    assert launcher.private_redis_url(6399) == f"redis://:{password}@127.0.0.1:6399/0"


def test_the_private_redis_refuses_a_client_without_the_password(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTHUR_VAR_DIR", str(tmp_path / "var"))
    port = launcher.free_port()
    server = subprocess.Popen(launcher.redis_command(port, tmp_path / "redis"),
                              stdout=subprocess.DEVNULL)
    try:
        launcher.wait_for_port(port)
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).ping()
        assert redis.Redis.from_url(launcher.private_redis_url(port)).ping()
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_private_postgres_listens_on_loopback_wants_its_password_and_leaves_nothing():
    port = launcher.free_port()
    with private_postgres(port) as url:
        address = urlsplit(url)
        assert (address.hostname, address.port, address.path) == ("127.0.0.1", port, "/arthur")
        assert address.password and len(address.password) >= 24
        (server,) = [p for p in psutil.process_iter(["cmdline"])
                     if f"port={port}" in (p.info["cmdline"] or [])]
        # Run as root, the server is an unprivileged user's; its data directory is that user's.
        user = "postgres" if os.geteuid() == 0 else psutil.Process().username()
        data = Path(server.cmdline()[server.cmdline().index("-D") + 1])
        assert server.username() == data.owner() == user
        assert address.password not in " ".join(server.cmdline())
        assert {c.laddr.ip for c in server.net_connections("inet")
                if c.status == psutil.CONN_LISTEN} == {"127.0.0.1"}
        with psycopg.connect(url) as connection:
            assert connection.execute("SELECT current_user").fetchone() == ("arthur",)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(url.replace(address.password, "not-the-password"))
    assert not data.exists() and not server.is_running()


@pytest.mark.stack
def test_run_starts_everything_and_ctrl_c_leaves_no_process(tmp_path):
    env = {key: value for key, value in os.environ.items()
           if key not in ("REDIS_URL", "DATABASE_URL", "DJANGO_SECRET_KEY")}
    port = launcher.free_port()
    env.update(ARTHUR_VAR_DIR=str(tmp_path / "var"), PORT=str(port), PYTHONUNBUFFERED="1")
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "arthur_panel.launcher", "run"], env=env,
                                cwd=launcher.ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        response = wait_until(lambda: _get(f"http://127.0.0.1:{port}/"), timeout=90)
        assert response.status_code == 302 and "/login/" in response.headers["location"]
        wait_until(lambda: b"ready." in log.read_bytes(), timeout=60)  # the worker is up
        # The demo cluster comes up by itself: a node agent per exo node, each holding its lock.
        agents = wait_until(lambda: _agents(tmp_path / "var" / "exo"), timeout=60)
        assert all("simulators.exo.node" in agent.cmdline() for agent in agents)
        assert re.search(rb"Starting the demo cluster: job #\d+", log.read_bytes())
        group = psutil.Process(proc.pid).children(recursive=True)
        assert set(agents) <= set(group)
        names = " ".join(" ".join(p.cmdline()) for p in group)
        for expected in ("redis-server", "arthur_panel.web", "worker", "beat", "simulators.exo",
                         "simulators.hub"):
            assert expected in names, names
        text = log.read_text()
        assert re.search(r"log in as 'admin' with password \S{12,}", text)
        assert f"http://127.0.0.1:{port}/" in text
        assert ((tmp_path / "var" / "secret_key").exists()
                and (tmp_path / "var" / "db.sqlite3").exists())

        # A process of the group that dies is started again; the rest runs on.
        redis_server = next(p for p in group if p.name() == "redis-server")
        redis_server.kill()
        status_file = tmp_path / "var" / STATUS_FILE
        restarted = wait_until(lambda: (s := read_status(status_file)) and (
            r := s["processes"]["redis"])["restarts"] == 1 and r["state"] == "running" and r,
            timeout=30)
        assert restarted["last_exit_code"] == 128 + signal.SIGKILL  # as its shell tells it
        assert b"redis ended (rc=137); starting it again in 1 s" in log.read_bytes()
        assert _get(f"http://127.0.0.1:{port}/login/").status_code == 200
        others = {name: p["restarts"] for name, p in read_status(status_file)["processes"].items()
                  if name != "redis"}
        assert set(others) >= {"web", "worker", "beat"} and not any(others.values())
        group = psutil.Process(proc.pid).children(recursive=True)

        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        assert not status_file.exists()
        # The agents run in sessions of their own; they leave once the simulator is gone.
        try:
            wait_until(lambda: not _alive(group), timeout=15)
        except AssertionError:
            raise AssertionError([p.cmdline() for p in _alive(group)]) from None
    finally:
        # A failure part-way must not leave the whole `make run` group behind: the launcher,
        # everything it started, and the node agents (sessions of their own, by their locks).
        leftovers = [*_descendants(proc.pid), *(_agents(tmp_path / "var" / "exo") or [])]
        if proc.poll() is None:
            proc.kill()
        for process in _alive(leftovers):
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            pass
    return alive


def _agents(lock_dir: Path) -> list[psutil.Process] | None:
    """The processes holding ALPHA's and BETA's exo locks, once both run."""
    try:
        agents = [psutil.Process(int(lock_dir.joinpath(f"{name}.pid").read_text()))
                  for name in ("alpha", "beta")]
    except (OSError, ValueError, psutil.NoSuchProcess):
        return None
    return agents if len(_alive(agents)) == 2 else None


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None


def test_admin_is_created_once(db, django_user_model, monkeypatch):
    monkeypatch.setattr("django.core.management.call_command", lambda *a, **k: None)
    password = launcher.prepare_database()
    assert password and django_user_model.objects.get(username="admin").check_password(password)
    assert launcher.prepare_database() is None
