"""The security headers, with their values, on every kind of response: pages, the login page,
API answers (errors too), the chat proxy, static files and the API docs."""

from __future__ import annotations

import pytest

from arthur_panel.security import socket_sources

pytestmark = pytest.mark.django_db

HEADERS = {
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
}
POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "connect-src": ["'self'", *socket_sources("testserver")],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def directives(header: str) -> dict[str, list[str]]:
    name_and_sources = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in name_and_sources}


def assert_secured(response) -> None:
    for name, value in HEADERS.items():
        assert response.get(name) == value, (response.request["PATH_INFO"], name)
    assert directives(response["Content-Security-Policy"]) == POLICY


@pytest.mark.parametrize("path", ["/login/", "/admin/login/", "/", "/api/v1/jobs/",
                                  "/v1/models", "/no-such-page/"])
def test_anonymous_responses_carry_the_headers(client, path):
    assert_secured(client.get(path))


@pytest.mark.parametrize("path", ["/", "/jobs/", "/models/", "/no-such-page/", "/api/v1/jobs/",
                                  "/api/v1/no-such-route/", "/api/v1/docs/",
                                  "/api/v1/docs/?script=", "/static/css/panel.css"])
def test_signed_in_responses_carry_the_headers(api_client, nodes, path):
    response = api_client.get(path)
    assert response.status_code in (200, 404), path
    assert_secured(response)


def test_token_requests_carry_the_headers(client, alice_token):
    response = client.get("/api/v1/jobs/", headers={"Authorization": f"Bearer {alice_token}"})
    assert response.status_code == 200
    assert_secured(response)
    bad = client.post("/api/v1/jobs/1/cancel/", "{", content_type="application/json",
                      headers={"Authorization": f"Bearer {alice_token}"})
    assert bad.status_code in (400, 404)
    assert_secured(bad)


def test_the_api_docs_page_has_no_inline_script_or_style(api_client):
    html = api_client.get("/api/v1/docs/").content.decode()
    assert "<style" not in html and "style=" not in html
    assert "<script>" not in html and 'src="/api/v1/docs/?script="' in html
    script = api_client.get("/api/v1/docs/?script=")
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content


def test_a_request_for_another_host_is_refused_with_the_policy(client):
    response = client.get("/login/", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert directives(response["Content-Security-Policy"])["connect-src"] == ["'self'"]
