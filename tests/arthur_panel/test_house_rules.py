"""The house rules, held by the suite (so `make test`, CI and a fresh clone all run them): ruff
with the project's rule set, mypy with django-stubs, no missing migration, and the production
profile passing Django's deployment checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=600)


def test_ruff_finds_nothing():
    result = run("-m", "ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]


def test_mypy_finds_nothing():
    result = run("-m", "mypy")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]


def test_no_model_change_lacks_its_migration():
    result = run("manage.py", "makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_the_production_profile_passes_the_deployment_checks():
    result = run("manage.py", "check", "--deploy", "--fail-level", "WARNING",
                 DJANGO_ENV="production", DJANGO_DEBUG="false")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_the_demo_profile_is_what_the_deployment_checks_warn_about():
    """The gate above can fail: without the production profile the same checks complain."""
    result = run("manage.py", "check", "--deploy", "--fail-level", "WARNING",
                 DJANGO_ENV="demo")
    assert result.returncode != 0 and "security.W004" in result.stderr + result.stdout
