from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from arthur_panel.env import (
    env_bool,
    env_int,
    env_list,
    env_networks,
    env_redis_url,
    env_secret,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("yes", True), ("ON", True),
                                               ("0", False), ("no", False), ("", False)])
def test_env_bool_reads_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("X_FLAG", raw)
    assert env_bool("X_FLAG", not expected) is expected


def test_env_bool_refuses_anything_else(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        env_bool("X_FLAG", False)


def test_env_int_checks_type_and_minimum(monkeypatch):
    monkeypatch.setenv("X_NUM", "abc")
    with pytest.raises(ImproperlyConfigured, match="whole number"):
        env_int("X_NUM", 1)
    monkeypatch.setenv("X_NUM", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("X_NUM", 5, minimum=1)
    monkeypatch.delenv("X_NUM")
    assert env_int("X_NUM", 5) == 5


def test_env_list_splits_and_trims(monkeypatch):
    monkeypatch.setenv("X_LIST", " a, b ,,c")
    assert env_list("X_LIST", []) == ["a", "b", "c"]


def test_secret_is_generated_once_private_and_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("X_SECRET", raising=False)
    path = tmp_path / "var" / "secret"
    first = env_secret("X_SECRET", path)
    assert len(first) > 40
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert env_secret("X_SECRET", path) == first
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_secret_from_variable_or_file(tmp_path, monkeypatch):
    monkeypatch.setenv("X_SECRET", "from-env")
    assert env_secret("X_SECRET", tmp_path / "unused") == "from-env"
    monkeypatch.delenv("X_SECRET")
    (tmp_path / "s").write_text("from-file\n")
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "s"))
    assert env_secret("X_SECRET", tmp_path / "unused") == "from-file"


@pytest.mark.parametrize("url", [
    "redis://127.0.0.1:6379/0", "redis://localhost/1", "redis://[::1]:6379/0",
    "redis://127.0.0.2:6379/0", "unix:///run/redis.sock",
    "redis://:secret@alpha.local:6379/0", "rediss://arthur:secret@10.0.0.2:6380/0",
    "redis://alpha.local:6379/0?password=secret",
])
def test_a_redis_url_on_loopback_or_with_a_password_is_taken(monkeypatch, url):
    monkeypatch.setenv("X_REDIS", url)
    assert env_redis_url("X_REDIS", "redis://127.0.0.1:6379/0") == url


@pytest.mark.parametrize("url", [
    "redis://alpha.local:6379/0", "redis://10.0.0.2/0", "redis://arthur@alpha.local:6379/0",
    "rediss://192.168.1.5:6380/0", "redis://:@alpha.local:6379/0",
])
def test_a_redis_url_on_the_network_without_a_password_is_refused(monkeypatch, url):
    monkeypatch.setenv("X_REDIS", url)
    with pytest.raises(ImproperlyConfigured, match=r"^X_REDIS reaches Redis on .* without a "
                                                   r"password.*requirepass.*redis://:<password>@"):
        env_redis_url("X_REDIS", "redis://127.0.0.1:6379/0")


def test_the_panel_refuses_to_start_with_an_open_redis_on_the_network():
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120,
                            env={**os.environ, "REDIS_URL": "redis://alpha.local:6379/0"})
    assert result.returncode != 0
    assert "REDIS_URL reaches Redis on alpha.local without a password" in result.stderr
    assert "redis://:<password>@alpha.local:6379/0" in result.stderr


def test_env_networks_reads_addresses_and_networks(monkeypatch):
    monkeypatch.setenv("X_NETS", "10.0.0.5, 192.168.1.0/24,fd00::/8")
    assert [str(n) for n in env_networks("X_NETS")] == ["10.0.0.5/32", "192.168.1.0/24",
                                                        "fd00::/8"]
    monkeypatch.setenv("X_NETS", "10.0.0.0/33")
    with pytest.raises(ImproperlyConfigured, match="X_NETS: '10.0.0.0/33'"):
        env_networks("X_NETS")
    monkeypatch.delenv("X_NETS")
    assert env_networks("X_NETS") == []
