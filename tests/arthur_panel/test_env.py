from __future__ import annotations

import os
import stat

import pytest
from django.core.exceptions import ImproperlyConfigured

from arthur_panel.env import env_bool, env_int, env_list, env_secret


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
