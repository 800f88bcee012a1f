"""Every page of the navigation with Redis away (restarting): it works, or says that Redis is
not answering and tries again by itself (503, Retry-After), never the 500 page. The API's side
is in tests/cluster_app/jobs/test_api.py, the proxy's in tests/models_app/proxy/test_views.py,
the whole restart in test_redis_restart_live.py."""

from __future__ import annotations

import json

import pytest
import redis
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from arthur_panel.errors import REDIS_DOWN_MESSAGE, server_error
from arthur_panel.launcher import free_port
from arthur_panel.navigation import NAV
from cluster_app.nodes import views

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_away(settings) -> None:
    """The panel's Redis (its cache, counters and queues) on a port nobody listens on."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    settings.REDIS_URL = url
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": url}}


@pytest.fixture
def staff(alice, nodes, guide_models) -> Client:
    alice.is_staff = True
    alice.save()
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    return client


@pytest.mark.parametrize("item", NAV, ids=[item.route for item in NAV])
def test_no_page_is_a_500_while_redis_is_away(staff, redis_away, item):
    response = staff.get(reverse(item.route))
    assert response.status_code in (200, 503), response.content.decode()[:500]
    if response.status_code == 503:
        page = response.content.decode()
        assert escape(REDIS_DOWN_MESSAGE) in page and 'http-equiv="refresh"' in page
        assert response["Retry-After"] == "5"


def test_the_models_page_says_redis_is_away_and_tries_again(staff, redis_away):
    response = staff.get(reverse("models"))  # its download progress is kept in Redis
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert escape(REDIS_DOWN_MESSAGE) in response.content.decode()


def test_under_the_api_the_answer_is_json(rf):
    request = rf.get("/api/v1/nodes/")
    try:
        raise redis.ConnectionError("Connection refused.")
    except redis.ConnectionError:
        response = server_error(request)
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert json.loads(response.content)["error"]["code"] == "redis_unavailable"


def test_other_errors_are_still_the_500_page(staff, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(views, "render", broken)
    response = staff.get("/")
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
