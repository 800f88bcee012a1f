"""docs/Caddyfile, the README's HTTPS section and the panel's defaults say the same: Caddy
proxies to where the web process listens by default, sets the forwarded headers the panel's
settings trust, and the README shows that file and the variables that go with it."""

from __future__ import annotations

import re
from pathlib import Path

from arthur_panel.web import DEFAULT_HOST, DEFAULT_PORT

ROOT = Path(__file__).resolve().parents[2]
CADDYFILE = (ROOT / "docs" / "Caddyfile").read_text()
README = (ROOT / "README.md").read_text()


def directives() -> list[list[str]]:
    """The Caddyfile's lines as words, comments left out."""
    lines = (line.split("#", 1)[0].split() for line in CADDYFILE.splitlines())
    return [words for words in lines if words]


def readme_section() -> str:
    return README.split("## HTTPS in front of ALPHA\n", 1)[1].split("\n## ", 1)[0]


def test_the_braces_balance():
    depth = 0
    for words in directives():
        depth += words.count("{") - words.count("}")
        assert depth >= 0
    assert depth == 0


def test_caddy_proxies_to_the_panels_default_address():
    (upstream,) = [words[1] for words in directives() if words[0] == "reverse_proxy"]
    assert upstream == f"{DEFAULT_HOST}:{DEFAULT_PORT}"


def test_caddy_sets_the_headers_the_panel_trusts():
    headers = {words[1]: words[2] for words in directives() if words[0] == "header_up"}
    assert headers == {"X-Forwarded-Proto": "{scheme}", "X-Forwarded-For": "{remote_host}"}
    assert ["flush_interval", "-1"] in directives()  # chat answers stream as they come


def test_the_readme_shows_the_caddyfile_and_its_settings():
    section = readme_section()
    assert f"```caddyfile\n{CADDYFILE}```" in section
    settings = dict(re.findall(r"\b([A-Z][A-Z_]+)=([\w.:/-]+)", section))
    assert settings["DJANGO_ENV"] == "production"
    assert settings["TRUST_X_FORWARDED_PROTO"] == "true"
    assert settings["FORWARDED_ALLOW_IPS"] == DEFAULT_HOST  # Caddy, on the same machine
    assert (settings["HOST"], settings["PORT"]) == (DEFAULT_HOST, str(DEFAULT_PORT))
