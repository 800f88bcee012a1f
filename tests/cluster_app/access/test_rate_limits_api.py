"""Rate limits on the API (per key and per user: 429, Retry-After, the limit named) and each
key's limits set and shown through `/api/v1/keys/`."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from cluster_app.models import ApiToken, AuditEntry
from tests.cluster_app.access.test_keys_api import create, error_of, session

pytestmark = pytest.mark.django_db


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_the_61st_request_in_a_minute_from_a_key_limited_to_60_is_a_429(operator):
    key, secret = ApiToken.issue(user=operator, name="script", api_requests_per_minute=60)
    client = bearer(secret)
    statuses = [client.get("/api/v1/nodes/").status_code for _ in range(60)]
    assert statuses == [200] * 60
    response = client.get("/api/v1/nodes/")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    error = error_of(response)
    assert error["code"] == "rate_limited"
    assert "60 API requests per minute for this API key (api_requests_per_minute)" in (
        error["message"])
    # The limit was the key's: its user, in the browser, goes on.
    assert session(operator).get("/api/v1/nodes/").status_code == 200


def test_a_users_limit_holds_over_the_browser_and_all_their_keys(operator, settings):
    settings.RATE_API_REQUESTS_PER_MINUTE = 4
    browser = session(operator)
    keyed = bearer(ApiToken.issue(user=operator, name="script")[1])
    assert [browser.get("/api/v1/nodes/").status_code, keyed.get("/api/v1/nodes/").status_code,
            browser.get("/api/v1/nodes/").status_code,
            keyed.get("/api/v1/nodes/").status_code] == [200] * 4
    response = keyed.get("/api/v1/nodes/")
    assert response.status_code == 429 and "for your account" in error_of(response)["message"]
    assert browser.get("/api/v1/nodes/").status_code == 429


def test_anonymous_calls_are_refused_as_such_not_counted(settings):
    settings.RATE_API_REQUESTS_PER_MINUTE = 1
    assert [APIClient().get("/api/v1/nodes/").status_code for _ in range(3)] == [401] * 3


def test_a_key_is_made_with_limits_and_they_are_listed_with_their_use(operator):
    client = session(operator)
    made = create(client, chat_requests_per_minute=60, chat_tokens_per_day=100_000).json()
    assert made["chat_requests_per_minute"] == 60 and made["max_streams"] is None
    bearer(made["secret"]).get("/api/v1/keys/")  # a chat key: refused, yet it was a request
    listed = client.get("/api/v1/keys/").json()[0]
    usage = {row["kind"]: row for row in listed["usage"]}
    assert usage["chat_requests_per_minute"] == {
        "kind": "chat_requests_per_minute", "name": "chat requests per minute", "used": 0,
        "allowed": 60}
    assert usage["chat_tokens_per_day"]["allowed"] == 100_000
    assert usage["api_requests_per_minute"]["allowed"] is None


def test_a_keys_limits_are_changed_and_cleared_and_the_change_audited(operator):
    client = session(operator)
    made = create(client, max_streams=2).json()
    response = client.patch(f"/api/v1/keys/{made['id']}/", {"api_requests_per_minute": 30},
                            format="json")
    assert response.status_code == 200, response.content
    assert response.json()["api_requests_per_minute"] == 30 and response.json()["max_streams"] == 2
    cleared = client.patch(f"/api/v1/keys/{made['id']}/", {"max_streams": None}, format="json")
    assert cleared.json()["max_streams"] is None
    key = ApiToken.objects.get(pk=made["id"])
    assert (key.api_requests_per_minute, key.max_streams) == (30, None)
    entries = AuditEntry.objects.filter(action="token.limits").order_by("created_at")
    assert [e.params for e in entries] == [{"api_requests_per_minute": 30}, {"max_streams": None}]
    assert entries[0].username == operator.username


@pytest.mark.parametrize("value", [0, -1, "many", 3.5])
def test_a_limit_must_be_a_whole_number_from_1(operator, value):
    made = create(session(operator)).json()
    response = session(operator).patch(f"/api/v1/keys/{made['id']}/", {"max_streams": value},
                                       format="json")
    assert response.status_code == 400 and error_of(response)["message"].startswith("max_streams")


def test_another_users_key_is_not_found_and_an_admin_may_change_it(operator, bob, carol):
    made = create(session(operator)).json()
    assert session(bob).patch(f"/api/v1/keys/{made['id']}/", {"max_streams": 1},
                              format="json").status_code == 404
    response = session(carol).patch(f"/api/v1/keys/{made['id']}/", {"max_streams": 1},
                                    format="json")
    assert response.status_code == 200 and response.json()["max_streams"] == 1


def test_revoking_a_key_is_audited(operator):
    client = session(operator)
    made = create(client).json()
    assert client.post(f"/api/v1/keys/{made['id']}/revoke/").status_code == 200
    entry = AuditEntry.objects.get(action="token.revoke")
    assert entry.target.startswith(f"token {made['hint']}") and entry.outcome == "ok"
