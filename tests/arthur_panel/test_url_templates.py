"""The URL templates pages hand to their scripts: what `reverse()` gives, on every page, and
the only way the scripts build a URL of the panel."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import clear_script_prefix, reverse, set_script_prefix

from arthur_panel.url_templates import url_templates

SCRIPTS = Path(__file__).resolve().parents[2] / "static" / "js"
# A value for each parameter any route takes.
VALUES = {"job_id": "7", "benchmark_id": "5", "slug": "llama-3.2-1b", "name": "alpha",
          "instance_id": "a-b-c", "key_id": "3f9a2c1b-5d4e-4f6a-8b7c-9d0e1f2a3b4c",
          "conversation_id": "5", "preset_id": "2"}


def test_each_route_is_a_template_with_its_parameters_named():
    templates = url_templates()
    assert templates["api-job-cancel"] == "/api/v1/jobs/{job_id}/cancel/"
    assert templates["api-model-download"] == "/api/v1/models/{slug}/download/"
    assert templates["model"] == "/models/{slug}/"
    assert templates["dashboard"] == "/"
    assert templates["v1-chat-completions"] == "/v1/chat/completions"
    assert templates["ws-jobs"] == "/ws/jobs/"
    assert templates["ws-job"] == "/ws/jobs/{job_id}/"
    assert not [name for name in templates if ":" in name]  # the admin's own stay out


def test_a_template_filled_in_is_what_reverse_gives():
    for name, template in url_templates().items():
        if name.startswith("ws-"):
            continue
        params = re.findall(r"\{(\w+)\}", template)
        filled = template.format(**{param: VALUES[param] for param in params})
        assert filled == reverse(name, kwargs={param: VALUES[param] for param in params}), name


def test_the_templates_follow_the_script_prefix():
    set_script_prefix("/panel/")
    try:
        templates = url_templates()
    finally:
        clear_script_prefix()
    assert templates["api-jobs"] == "/panel/api/v1/jobs/"
    assert templates["ws-cluster"] == "/panel/ws/cluster/"


@pytest.mark.django_db
def test_every_page_carries_them(alice, nodes):
    client = Client()
    client.force_login(alice)
    for route in ("dashboard", "jobs", "downloads"):
        html = client.get(reverse(route)).content.decode()
        match = re.search(r'<script id="urls" type="application/json">(.*?)</script>', html)
        assert match, route
        assert json.loads(match.group(1)) == url_templates()


def test_no_script_writes_a_path_of_the_api_or_a_socket():
    written = [f"{path.name}:{number}: {line.strip()}"
               for path in sorted(SCRIPTS.glob("*.js"))
               for number, line in enumerate(path.read_text().splitlines(), 1)
               if "/api/v1/" in line or "/ws/" in line]
    assert written == []


def test_every_route_a_script_names_exists():
    named = {name for path in SCRIPTS.glob("*.js")
             for name in re.findall(r"\burl\(\s*\"([\w-]+)\"", path.read_text())}
    assert "api-job-cancel" in named and "ws-jobs" in named
    assert named - set(url_templates()) == set()
