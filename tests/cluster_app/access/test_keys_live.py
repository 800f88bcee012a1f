"""API keys through the real stack: a chat key made on the Keys page's API streams from
`/v1/chat/completions` and is refused the cluster's stop; revoked (in the web process, or in
another process), the next proxy request fails, and its open sockets close."""

from __future__ import annotations

import secrets
from datetime import timedelta

import httpx
import openai
import pytest
from django.utils import timezone
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from cluster_app.jobs.consumers import CLOSE_UNAUTHENTICATED
from cluster_app.models import ApiToken, Job
from tests.cluster_app.access.test_websockets_live import (
    close_code,
    opened,
    session_cookie,
    still_open,
)
from tests.stack import wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"
CHAT = {"model": "llama-3.2-1b", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
def keys_page(live_stack, operator):
    """Alice's browser session on the live panel, as the Keys page's script calls the API."""
    csrf = secrets.token_hex(16)
    with httpx.Client(base_url=live_stack.base_url, timeout=10, headers={
            "Cookie": f"{session_cookie(operator)}; csrftoken={csrf}", "X-CSRFToken": csrf}) as c:
        yield c



def chat(live_stack, secret: str) -> httpx.Response:
    return httpx.post(f"{live_stack.base_url}/v1/chat/completions", json=CHAT, timeout=30,
                      headers={"Authorization": f"Bearer {secret}"})


def test_a_chat_key_from_the_keys_page_chats_and_nothing_else_until_revoked(
        live_stack, keys_page, loaded_llama):
    made = keys_page.post("/api/v1/keys/", json={"name": "claude", "scopes": ["chat"],
                                                 "models": ["llama-1b"]})
    assert made.status_code == 201, made.text
    secret = made.json()["secret"]
    client = openai.OpenAI(base_url=f"{live_stack.base_url}/v1", api_key=secret, max_retries=0)
    chunks = list(client.chat.completions.create(stream=True, **CHAT))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    stop = httpx.post(f"{live_stack.base_url}/api/v1/cluster/stop/", timeout=10,
                      headers={"Authorization": f"Bearer {secret}"})
    assert stop.status_code == 403
    assert stop.json()["error"]["code"] == "scope_denied"
    assert "'operate' scope" in stop.json()["error"]["message"]
    assert not Job.objects.filter(kind="cluster.stop").exists()

    revoked = keys_page.post(f"/api/v1/keys/{made.json()['id']}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    refused = chat(live_stack, secret)  # the very next request
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["code"] == "not_authenticated"
    (listed,) = [k for k in keys_page.get("/api/v1/keys/").json() if k["id"] == made.json()["id"]]
    assert listed["state"] == "revoked"  # and still listed
    assert listed["last_used_at"] and listed["last_used_from"] == "127.0.0.1"


def test_a_key_revoked_in_another_process_fails_within_a_second(live_stack, stack_layer, operator,
                                                                guide_models, settings):
    # This process shares the stack's Redis (and its channel layer, stack_layer), as a
    # `manage.py shell` beside the panel would.
    settings.REDIS_URL = live_stack.env["REDIS_URL"]
    key, secret = ApiToken.issue(user=operator, scopes=["chat", "read"])
    assert chat(live_stack, secret).status_code == 404  # accepted (and kept); llama not loaded
    with opened(f"{live_stack.ws_url}/ws/jobs/", {"Authorization": f"Bearer {secret}"}) as ws:
        key.revoked_at = timezone.now()
        key.save()
        wait_until(lambda: chat(live_stack, secret).status_code == 401, timeout=1.0,
                   interval=0.05)
        assert close_code(ws) == CLOSE_UNAUTHENTICATED


def test_a_chat_only_key_opens_no_socket(live_stack, operator):
    _, secret = ApiToken.issue(user=operator, scopes=["chat"])
    with pytest.raises(InvalidStatus):
        connect(f"{live_stack.ws_url}/ws/jobs/",
                additional_headers={"Authorization": f"Bearer {secret}"}, open_timeout=10)


def test_a_keys_socket_closes_when_the_key_expires(live_stack, operator):
    # Expiry is a moment, not a save: no signal tells the sockets, their own timer does.
    key, secret = ApiToken.issue(user=operator, scopes=["read"],
                                 expires_at=timezone.now() + timedelta(seconds=3))
    with opened(f"{live_stack.ws_url}/ws/jobs/", {"Authorization": f"Bearer {secret}"}) as ws:
        assert still_open(ws)
        assert close_code(ws, timeout=15) == CLOSE_UNAUTHENTICATED
    assert timezone.now() >= key.expires_at
    with pytest.raises(InvalidStatus):  # and it opens none again
        connect(f"{live_stack.ws_url}/ws/jobs/",
                additional_headers={"Authorization": f"Bearer {secret}"}, open_timeout=10)
