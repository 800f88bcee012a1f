"""Every page needs a login; the admin registers every model; tokens come from the command."""

from __future__ import annotations

from io import StringIO

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.management import CommandError, call_command
from django.urls import URLPattern, URLResolver, get_resolver

from cluster_app.models import ApiToken

pytestmark = pytest.mark.django_db

OPEN = {"/login/", "/logout/"}
# Answered as the API answers (a scraper is a script): 401, not the login page.
API_ELSEWHERE = {"/metrics"}


def page_paths(resolver=None, prefix=""):
    """Every concrete path without parameters, admin excluded (it has its own login)."""
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if route.startswith("admin/"):
            continue
        if isinstance(entry, URLResolver):
            yield from page_paths(entry, route)
        elif isinstance(entry, URLPattern) and "<" not in route:
            yield "/" + route


def test_every_page_and_api_route_refuses_anonymous_visitors(client):
    paths = sorted(set(page_paths()) - OPEN)
    assert "/" in paths and "/api/v1/jobs/" in paths and "/jobs/" in paths
    assert "/v1/chat/completions" in paths
    for path in paths:
        response = client.get(path)
        if path.startswith(("/api/", "/v1/")) or path in API_ELSEWHERE:
            assert response.status_code == 401, path
        else:
            assert response.status_code == 302 and response["Location"].startswith("/login/"), path


def test_login_page_is_open_and_logs_in(client, alice):
    assert client.get("/login/").status_code == 200
    response = client.post("/login/", {"username": "alice", "password": "alice-password-1"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_wrong_password_shows_a_message(client, alice):
    response = client.post("/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200 and b"Wrong username or password" in response.content


@pytest.mark.parametrize("label", ["cluster_app", "models_app"])
def test_admin_registers_every_model(label):
    for model in apps.get_app_config(label).get_models():
        assert admin.site.is_registered(model), model


def test_issue_token_prints_a_working_token(alice):
    out = StringIO()
    call_command("issue_token", "alice", "--name", "scripts", stdout=out)
    secret = out.getvalue().strip()
    token = ApiToken.objects.get_for_secret(secret)
    assert token is not None and token.user == alice and token.name == "scripts"


def test_issue_token_for_unknown_user_fails_clearly():
    with pytest.raises(CommandError, match="No active user named 'bob'"):
        call_command("issue_token", "bob")
