"""The Audit page, its CSV export and `GET /api/v1/audit/`: admins only, filtered, newest
first, a page at a time."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from cluster_app.audit.services import record
from cluster_app.audit.views import PAGE_SIZE
from cluster_app.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(alice):
    alice.is_staff = True
    alice.save()
    return alice


@pytest.fixture
def entries(browser, admin, bob):
    """Three entries: bob's refused stop yesterday, alice's stop and her login today."""
    made = [record(action="api-cluster-stop", target="/api/v1/cluster/stop/", user=bob,
                   outcome="refused", message="403: =cmd"),
            record(action="cluster.stop", target="cluster", user=admin, params={"job": 1}),
            record(action="login", target="alice", user=admin)]
    AuditEntry.objects.filter(pk=made[0].pk).update(
        created_at=timezone.now() - timedelta(days=1))
    return made


def page_rows(client, query=""):
    response = client.get(f"/audit/{query}")
    assert response.status_code == 200
    return [(entry.username, entry.action) for entry in response.context["page"]]


@pytest.fixture
def browser(admin):
    client = Client()
    client.force_login(admin)
    AuditEntry.objects.all().delete()  # the login's own entry
    return client


def test_the_page_is_for_admins_only(bob):
    client = Client()
    client.force_login(bob)
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/export.csv").status_code == 403


def test_the_page_lists_newest_first(browser, entries):
    assert page_rows(browser) == [("alice", "login"), ("alice", "cluster.stop"),
                                  ("bob", "api-cluster-stop")]


@pytest.mark.parametrize(("query", "expected"), [
    ("?user=bob", [("bob", "api-cluster-stop")]),
    ("?action=cluster", [("alice", "cluster.stop"), ("bob", "api-cluster-stop")]),
    ("?target=/api/", [("bob", "api-cluster-stop")]),
    ("?since={today}", [("alice", "login"), ("alice", "cluster.stop")]),
    ("?until={yesterday}", [("bob", "api-cluster-stop")]),
    ("?user=alice&action=login", [("alice", "login")]),
])
def test_the_filters_narrow_the_list(browser, entries, query, expected):
    today = timezone.localdate()
    query = query.format(today=today, yesterday=today - timedelta(days=1))
    assert page_rows(browser, query) == expected


def test_a_bad_time_is_said_not_a_500(browser, entries):
    response = browser.get("/audit/?since=yesterday")
    assert response.status_code == 200
    assert "since must be a date" in response.context["error"]


def test_the_list_comes_a_page_at_a_time(browser, admin):
    AuditEntry.objects.bulk_create([AuditEntry(action=f"a{i}", user=admin, username="alice")
                                    for i in range(PAGE_SIZE + 3)])
    first = browser.get("/audit/?user=alice")
    assert len(first.context["page"]) == PAGE_SIZE
    assert 'href="?user=alice&amp;page=2"' in first.content.decode()
    assert len(browser.get("/audit/?user=alice&page=2").context["page"]) == 3


def test_the_csv_is_the_filtered_list(browser, entries):
    response = browser.get("/audit/export.csv?action=cluster")
    assert response["Content-Disposition"] == 'attachment; filename="audit.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:5] == ["time", "user", "token", "address", "action"]
    assert [(row[1], row[4]) for row in rows[1:]] == [("alice", "cluster.stop"),
                                                    ("bob", "api-cluster-stop")]
    assert rows[2][8] == "403: =cmd"  # no leading formula sign: it starts with "403"
    assert rows[1][6] == "{'job': 1}"


def test_the_csv_defuses_formulas(browser, admin):
    record(action="x", target="=HYPERLINK(1)", user=admin)
    rows = list(csv.reader(io.StringIO(
        b"".join(browser.get("/audit/export.csv").streaming_content).decode())))
    assert rows[1][5] == "'=HYPERLINK(1)"


def test_the_api_lists_the_filtered_entries_for_admins(admin, entries):
    client = APIClient()
    client.force_login(admin)
    body = client.get("/api/v1/audit/?action=cluster&page_size=1").json()
    assert body["count"] == 2 and body["next"] and body["previous"] is None
    (first,) = body["results"]
    assert (first["username"], first["action"], first["outcome"]) == (
        "alice", "cluster.stop", "ok")
    assert set(first) == {"id", "created_at", "username", "token_id", "token_hint", "address",
                          "action", "target", "params", "outcome", "message"}


def test_the_api_is_403_for_others_and_401_for_anonymous(bob, entries):
    client = APIClient()
    assert client.get("/api/v1/audit/").status_code == 401
    client.force_login(bob)
    response = client.get("/api/v1/audit/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_the_api_says_what_is_wrong_with_a_time(admin):
    client = APIClient()
    client.force_login(admin)
    response = client.get("/api/v1/audit/?until=soon")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_until"
