"""API keys at the chat proxy: only keys with the chat scope, only their allowed models, and a
key revoked in any process refused at the next request (the look-up cache follows Redis)."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from arthur_panel.launcher import free_port
from arthur_panel.redis_client import redis_client
from cluster_app.models import ApiToken
from models_app.proxy import lookups
from tests.threads import off_loop

# Transactional: the proxy reads tokens and models on a pool thread, with its own connection.
pytestmark = pytest.mark.django_db(transaction=True)
BODY = {"model": "llama-3.2-1b", "messages": [{"role": "user", "content": "Hi"}]}
LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"


@pytest.fixture
def exo_down(settings):
    # Past every check, the request would go to exo: 503 here means the key was accepted.
    settings.EXO_API_URL = f"http://127.0.0.1:{free_port()}"


def post(client, secret, body=BODY):
    return off_loop(client.post, "/v1/chat/completions", data=json.dumps(body),
                    content_type="application/json", headers={"Authorization": f"Bearer {secret}"})


@pytest.mark.parametrize("scopes", [["read"], ["operate"], ["admin"], ["read", "operate"]])
def test_only_a_chat_key_may_chat(client, operator, guide_models, exo_down, scopes):
    _, secret = ApiToken.issue(user=operator, scopes=scopes)
    response = post(client, secret)
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "scope_denied" and "'chat' scope" in error["message"]


def test_a_viewers_chat_key_chats(client, bob, guide_models, exo_down):
    _, secret = ApiToken.issue(user=bob, scopes=["chat"])
    assert post(client, secret).status_code == 503


def test_a_chat_key_for_some_models_is_refused_the_others(client, bob, guide_models, exo_down):
    _, secret = ApiToken.issue(user=bob, scopes=["chat"], allowed_models=[LLAMA_1B])
    assert post(client, secret).status_code == 503  # llama-3.2-1b is LLAMA_1B
    response = post(client, secret, {**BODY, "model": "deepseek-v3-4bit"})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "model_not_allowed"
    assert f"may use only {LLAMA_1B}, not deepseek-v3-4bit" in error["message"]


def test_a_key_revoked_by_another_process_is_refused_at_the_next_request(bob):
    key, secret = ApiToken.issue(user=bob, scopes=["chat"])
    lookups.follow_changes()  # as each request does first
    assert lookups.token(secret) == key  # kept in this process now
    # Another process revokes it: no signal here, only the version it bumps in Redis.
    ApiToken.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    lookups.follow_changes()
    assert lookups.token(secret) == key  # without the bump, the kept entry would answer
    redis_client().incr(lookups.VERSION_KEY)
    lookups.follow_changes()
    assert lookups.token(secret) is None


def test_a_revocation_here_bumps_the_version_for_the_others(bob):
    key, _ = ApiToken.issue(user=bob, scopes=["chat"])
    before = int(redis_client().get(lookups.VERSION_KEY) or 0)
    key.revoked_at = timezone.now()
    key.save()
    assert int(redis_client().get(lookups.VERSION_KEY) or 0) == before + 1
