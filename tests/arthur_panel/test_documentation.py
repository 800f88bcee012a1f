"""The README's configuration table, .env.example and the code name the same variables."""

from __future__ import annotations

import re
from pathlib import Path

from cluster_app.deploy.units import PASSED_ON

ROOT = Path(__file__).resolve().parents[2]
CODE = ["arthur_panel", "cluster_app", "models_app", "tests/browser"]
NOT_SETTINGS = {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE", "PATH", "PYTHONUNBUFFERED",
                "CI"}
READ = re.compile(r"""(?:env_\w+|environ\.get|env\.get|env\.setdefault|getenv)"""
                  r"""\(\s*["']([A-Z][A-Z0-9_]+)["']"""
                  r"""|["']([A-Z][A-Z0-9_]+)["'] (?:not )?in (?:os\.environ|env)\b""")


def variables_in_code() -> set[str]:
    found: set[str] = set()
    for folder in CODE:
        for path in (ROOT / folder).rglob("*.py"):
            found |= {a or b for a, b in READ.findall(path.read_text())}
    found |= set(re.findall(r"\$\{(\w+)", (ROOT / "Procfile").read_text()))
    if "env_secret(" in (ROOT / "arthur_panel" / "settings.py").read_text():
        found.add("DJANGO_SECRET_KEY_FILE")
    return found - NOT_SETTINGS


def readme_table() -> set[str]:
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", (ROOT / "README.md").read_text(), re.M))


def env_example() -> set[str]:
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))


def test_every_variable_the_code_reads_is_documented():
    code = variables_in_code()
    assert {"DATABASE_URL", "REDIS_URL", "PORT"} <= code
    assert code - readme_table() == set()
    assert code - env_example() == set()


def test_the_readme_documents_nothing_that_does_not_exist():
    make_only = {"PYTHON"}
    compose_only = set(re.findall(r"\$\{(\w+)", (ROOT / "docker-compose.yml").read_text()))
    assert readme_table() - variables_in_code() - make_only - compose_only == set()
    assert env_example() - variables_in_code() - compose_only == set()


def test_the_installed_services_get_every_setting_of_the_panels_processes():
    """`manage.py service install` passes on each documented variable that is set, except those
    it sets itself and those of the tests, make and docker compose."""
    own = {"WORKER_NODES", "ARTHUR_VAR_DIR"}
    not_the_panels = {"CHROMIUM_PATH", "PYTHON", "POSTGRES_PASSWORD", "REDIS_PASSWORD"}
    assert set(PASSED_ON) == readme_table() - own - not_the_panels
    assert len(PASSED_ON) == len(set(PASSED_ON))


def test_readme_names_the_two_commands_and_shows_the_screenshot():
    text = (ROOT / "README.md").read_text()
    assert "make run" in text and "make test" in text
    image = re.search(r"!\[Dashboard\]\(([^)]+)\)", text)
    assert image and (ROOT / image.group(1)).is_file()
    assert "make test" in (ROOT / ".ci" / "run").read_text()
