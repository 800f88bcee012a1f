"""The Keys page's API (`/api/v1/keys/`) and `manage.py issue_token`: scopes within the role,
allowed models through the catalogue's resolver, expiry, the secret once, revocation."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from cluster_app.models import ApiToken

pytestmark = pytest.mark.django_db
LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"


def error_of(response):
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "code"}, body
    return body["error"]


def session(user):
    client = APIClient()
    client.force_login(user)
    return client


def create(client, **fields):
    return client.post("/api/v1/keys/", {"name": "script", "scopes": ["chat"], **fields},
                       format="json")


def test_a_key_is_created_with_its_secret_shown_once(operator, guide_models):
    client = session(operator)
    response = create(client, scopes=["chat", "read"], models=["llama-1b"], expires="30d",
                      note="the laptop")
    assert response.status_code == 201, response.content
    made = response.json()
    assert made["secret"].startswith("arthur_") and made["hint"] == made["secret"][:13]
    assert made["scopes"] == ["chat", "read"] and made["allowed_models"] == [LLAMA_1B]
    assert made["state"] == "active" and made["note"] == "the laptop"
    key = ApiToken.objects.get(pk=made["id"])
    assert key.digest == ApiToken.digest_of(made["secret"])
    assert timedelta(days=29) < key.expires_at - timezone.now() <= timedelta(days=30)
    listed = client.get("/api/v1/keys/").json()
    assert [k["id"] for k in listed] == [made["id"]] and "secret" not in listed[0]


@pytest.mark.parametrize("scopes, missing", [(["operate"], "operate"), (["admin"], "admin")])
def test_a_viewer_may_not_give_a_key_more_than_her_role(bob, scopes, missing):
    response = create(session(bob), scopes=scopes)
    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"
    assert f"cannot give a key the {missing} scope" in error_of(response)["message"]
    assert not ApiToken.objects.exists()


def test_an_operator_may_not_make_an_admin_key(operator):
    response = create(session(operator), scopes=["operate", "admin"])
    assert response.status_code == 403 and "the admin scope" in error_of(response)["message"]


@pytest.mark.parametrize("fields, code", [
    ({"scopes": ["root"]}, "invalid"),
    ({"scopes": []}, "invalid"),
    ({"name": ""}, "invalid"),
    ({"models": ["no-such-model"]}, "unknown_model"),
    ({"scopes": ["read"], "models": ["llama-1b"]}, "invalid_models"),
    ({"expires": "soon"}, "invalid_expiry"),
    ({"expires": "2020-01-01"}, "invalid_expiry"),
])
def test_bad_key_requests_are_400s(bob, guide_models, fields, code):
    response = create(session(bob), **fields)
    assert response.status_code == 400, response.content
    assert error_of(response)["code"] == code
    assert not ApiToken.objects.exists()


def test_a_viewer_sees_and_revokes_only_her_own_keys(bob, operator):
    mine, _ = ApiToken.issue(user=bob, scopes=["chat"])
    theirs, _ = ApiToken.issue(user=operator, scopes=["chat"])
    client = session(bob)
    assert [k["id"] for k in client.get("/api/v1/keys/").json()] == [str(mine.pk)]
    assert client.post(f"/api/v1/keys/{theirs.pk}/revoke/").status_code == 404
    response = client.post(f"/api/v1/keys/{mine.pk}/revoke/")
    assert response.status_code == 200 and response.json()["state"] == "revoked"
    # Revoked, it stays listed; a second revocation is a conflict.
    assert client.get("/api/v1/keys/").json()[0]["revoked_at"] is not None
    assert client.post(f"/api/v1/keys/{mine.pk}/revoke/").status_code == 409
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_an_admin_sees_and_revokes_everyones_keys(bob, carol):
    bobs, _ = ApiToken.issue(user=bob, scopes=["chat"])
    client = session(carol)
    assert [(k["id"], k["user"]) for k in client.get("/api/v1/keys/").json()] == [
        (str(bobs.pk), "bob")]
    assert client.post(f"/api/v1/keys/{bobs.pk}/revoke/").json()["state"] == "revoked"


@pytest.mark.parametrize("scopes, status", [(["operate"], 403), (["admin"], 200)])
def test_keys_are_managed_with_a_key_only_by_an_admin_scope(carol, scopes, status):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(user=carol, scopes=scopes)[1]}")
    response = client.get("/api/v1/keys/")
    assert response.status_code == status
    if status == 403:
        assert "'admin' scope" in error_of(response)["message"]


def test_the_keys_page_offers_only_the_scopes_of_the_role(bob, client):
    client.force_login(bob)
    page = client.get("/keys/").content.decode()
    assert 'value="chat" checked' in page and 'value="read">' in page
    assert 'value="operate" disabled' in page and 'value="admin" disabled' in page


def test_issue_token_takes_scopes_models_and_expiry(operator, guide_models):
    out = StringIO()
    call_command("issue_token", "alice", "--name", "claude", "--scope", "chat",
                 "--scope", "read", "--models", "llama-1b", "--expires", "2099-01-31",
                 stdout=out)
    key = ApiToken.objects.get(digest=ApiToken.digest_of(out.getvalue().strip()))
    assert key.scopes == ["chat", "read"] and key.allowed_models == [LLAMA_1B]
    assert key.expires_at.date().isoformat() == "2099-01-31"


def test_issue_token_takes_the_keys_own_limits(bob):
    out = StringIO()
    call_command("issue_token", "bob", "--chat-requests-per-minute", "60",
                 "--chat-tokens-per-day", "500000", "--max-streams", "2", stdout=out)
    key = ApiToken.objects.get()
    assert (key.chat_requests_per_minute, key.chat_tokens_per_day, key.api_requests_per_minute,
            key.max_streams) == (60, 500_000, None, 2)


def test_issue_token_without_scopes_gives_what_the_role_allows(bob):
    out = StringIO()
    call_command("issue_token", "bob", stdout=out)
    assert ApiToken.objects.get().scopes == ["chat", "read"]


@pytest.mark.parametrize("args, message", [
    (["--scope", "chat,root"], "Unknown scope root"),
    (["--scope", "admin"], "cannot give a key the admin scope"),
    (["--expires", "someday"], "neither a span"),
    (["--models", "nope"], "knows no model nope"),
    (["--max-streams", "0"], "'0' is not a whole number from 1"),
])
def test_issue_token_refuses_bad_flags_clearly(bob, guide_models, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("issue_token", "bob", *args, stdout=StringIO())
