"""`make run`'s launcher: a fresh var/, a private Redis, one process group, a clean Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest

from arthur_panel import launcher
from tests.stack import wait_until


def test_redis_command_is_private_and_persistent(tmp_path):
    command = launcher.redis_command(6399, tmp_path / "redis")
    assert os.path.exists(command[0])
    assert command[command.index("--bind") + 1] == "127.0.0.1"
    assert command[command.index("--appendonly") + 1] == "yes"
    assert (tmp_path / "redis").is_dir()



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
        group = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in group)
        for expected in ("redis-server", "daphne", "worker", "beat", "simulators.exo",
                         "simulators.hub"):
            assert expected in names, names
        text = log.read_text()
        assert re.search(r"log in as 'admin' with password \S{12,}", text)
        assert f"http://127.0.0.1:{port}/" in text
        assert (tmp_path / "var" / "secret_key").exists() and (tmp_path / "var" / "db.sqlite3").exists()

        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        time.sleep(0.5)
        alive = [p for p in group if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert not alive, [p.cmdline() for p in alive]
    finally:
        if proc.poll() is None:
            proc.kill()


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
