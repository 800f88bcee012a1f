"""`GET /api/v1/alerts/` (read), `POST /api/v1/alerts/` (silence: operators), the Alerts page
and the bell's socket, each behind a login."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client
from rest_framework.test import APIClient

from cluster_app.alerts.conditions import Facts, NodeFacts
from cluster_app.alerts.services import alerts_evaluate
from cluster_app.models import AlertSilence, ApiToken

pytestmark = pytest.mark.django_db

DOWN = Facts(exo_reachable=True, nodes=(
    NodeFacts("beta", "BETA", True, True, "offline", worker_online=True),))


@pytest.fixture
def firing(django_capture_on_commit_callbacks):
    alerts_evaluate(facts=DOWN, now=datetime(2026, 12, 5, 3, 0, tzinfo=UTC))


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_anonymous_gets_nothing():
    assert APIClient().get("/api/v1/alerts/").status_code in (401, 403)
    assert APIClient().post("/api/v1/alerts/", {}, format="json").status_code in (401, 403)
    assert Client().get("/alerts/").status_code == 302  # to the login page


def test_a_viewer_reads_counts_active_alerts_and_history(bob, firing):
    body = client_for(bob).get("/api/v1/alerts/").json()
    assert (body["firing"], body["pending"], body["silenced"]) == (1, 0, 0)
    (alert,) = body["alerts"]
    assert (alert["rule"], alert["subject"], alert["state"], alert["silenced"]) == (
        "node_offline", "beta", "firing", False)
    assert [a["subject"] for a in body["history"]] == ["beta"]


def test_history_filters(bob, firing):
    client = client_for(bob)
    assert client.get("/api/v1/alerts/?state=resolved").json()["history"] == []
    assert len(client.get("/api/v1/alerts/?rule=offline&subject=bet").json()["history"]) == 1
    assert client.get("/api/v1/alerts/?since=2027-01-01").json()["history"] == []
    bad = client.get("/api/v1/alerts/?state=burning")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_state"
    assert client.get("/api/v1/alerts/?since=soon").json()["error"]["code"] == "bad_time"


def test_a_read_key_reads_but_may_not_silence(bob, operator):
    _, secret = ApiToken.issue(user=operator, name="cron", scopes=["read"])
    client = APIClient(headers={"Authorization": f"Bearer {secret}"})
    assert client.get("/api/v1/alerts/").status_code == 200
    refused = client.post("/api/v1/alerts/", {"rule": "node_offline", "subject": "beta",
                                              "minutes": 5}, format="json")
    assert refused.status_code == 403


def test_a_viewer_may_not_silence(bob):
    response = client_for(bob).post("/api/v1/alerts/", {
        "rule": "node_offline", "subject": "beta", "minutes": 60}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not AlertSilence.objects.exists()


def test_an_operator_silences_and_lifts(operator, firing):
    client = client_for(operator)
    made = client.post("/api/v1/alerts/", {"rule": "node_offline", "subject": "beta",
                                           "minutes": 60}, format="json")
    assert made.status_code == 201 and made.json()["until"]
    assert client.get("/api/v1/alerts/").json()["firing"] == 0  # silenced: not in the bell
    lifted = client.post("/api/v1/alerts/", {"rule": "node_offline", "subject": "beta",
                                             "minutes": 0}, format="json")
    assert lifted.status_code == 200 and lifted.json()["until"] is None
    assert not AlertSilence.objects.exists()


@pytest.mark.parametrize(("body", "status"), [
    ({"rule": "nope", "subject": "beta", "minutes": 5}, 400),
    ({"rule": "node_offline", "subject": "beta", "minutes": -5}, 400),
    ({"rule": "node_offline", "subject": "beta", "minutes": 10**9}, 400),
    ({"rule": "node_offline", "minutes": 5}, 400),
    ({"rule": "node offline!", "subject": "beta", "minutes": 5}, 400),
    ([], 400),
])
def test_bad_silences_are_refused(operator, body, status):
    response = client_for(operator).post("/api/v1/alerts/", body, format="json")
    assert response.status_code == status
    assert set(response.json()["error"]) >= {"message", "code"}


def test_malformed_json_is_a_400(operator):
    response = client_for(operator).post("/api/v1/alerts/", "{", content_type="application/json")
    assert response.status_code == 400


def test_the_page_shows_empty_states(bob):
    client = Client()
    client.force_login(bob)
    page = client.get("/alerts/").content.decode()
    assert "Nothing is firing" in page and "No silences" in page and "No alerts yet" in page
    assert 'id="alert-bell"' in page


def test_the_page_lists_history_and_silence_buttons_for_operators(operator, bob, firing):
    client = Client()
    client.force_login(operator)
    page = client.get("/alerts/?rule=node_offline").content.decode()
    assert "BETA is offline" in page
    assert client.get("/alerts/?since=never").context["error"]
