"""The OpenAI-compatible proxy through the real stack: the official openai client, aliases,
streaming framing kept, clear errors for a model not loaded and for exo down."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.stack import api, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"


@pytest.fixture
def loaded_llama(live_stack, alice_token, nodes, guide_models):
    """Llama 3.2 1B loaded on the exo simulator, unloaded afterwards."""
    with api(live_stack, alice_token) as client:
        job = client.post("/api/v1/instances/", json={"model": LLAMA_1B}).json()
        wait_until(lambda: client.get(f"/api/v1/jobs/{job['id']}/").json()["state"] == "succeeded",
                   timeout=30)
        instance_id = client.get(f"/api/v1/jobs/{job['id']}/").json()["result"]["instance_id"]
        yield instance_id
        client.delete(f"/api/v1/instances/{instance_id}/")
        wait_until(lambda: client.get(f"/api/v1/instances/{instance_id}/").status_code == 404,
                   timeout=30)


def openai_client(stack, token) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stack.base_url}/v1", api_key=token, max_retries=0)


def test_openai_client_streams_through_the_panel_by_alias(live_stack, alice_token, loaded_llama):
    client = openai_client(live_stack, alice_token)
    chunks = list(client.chat.completions.create(
        model="llama-3.2-1b", messages=[{"role": "user", "content": "Hello"}], max_tokens=20,
        stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and chunks[-1].usage and chunks[-1].usage.completion_tokens > 0
    assert all(c.model == LLAMA_1B for c in chunks)


def test_openai_client_without_streaming(live_stack, alice_token, loaded_llama):
    reply = openai_client(live_stack, alice_token).chat.completions.create(
        model="llama-1b",  # a catalogue alias
        messages=[{"role": "user", "content": "Hi"}], max_tokens=10)
    assert reply.choices[0].message.content and reply.usage.total_tokens > 0


def test_the_stream_keeps_exos_framing(live_stack, alice_token, loaded_llama):
    with httpx.stream("POST", f"{live_stack.base_url}/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {alice_token}"},
                      json={"model": "llama-3.2-1b", "stream": True, "max_tokens": 8,
                            "messages": [{"role": "user", "content": "Hello"}]}) as response:
        raw = b"".join(response.iter_raw()).decode()
    assert response.headers["x-arthur-model"] == LLAMA_1B
    assert raw.startswith(": keep-alive")
    assert ": generation_stats " in raw and raw.rstrip().endswith("data: [DONE]")


def test_a_model_not_loaded_is_a_clear_404(live_stack, alice_token, guide_models):
    with pytest.raises(openai.NotFoundError) as missing:
        openai_client(live_stack, alice_token).chat.completions.create(
            model="deepseek-v3-4bit", messages=[{"role": "user", "content": "Hi"}], max_tokens=5)
    message = missing.value.body["message"]
    assert "deepseek-v3-4bit (mlx-community/DeepSeek-V3-4bit) is not loaded" in message
    assert "/api/v1/instances/" in message


def test_models_list_names_catalogue_aliases(live_stack, alice_token, guide_models):
    models = {m.id: m for m in openai_client(live_stack, alice_token).models.list()}
    assert LLAMA_1B in models
    assert "llama-3.2-1b" in models[LLAMA_1B].model_extra["arthur_names"]


@pytest.mark.parametrize(("headers", "body", "status"), [
    ({}, {"model": "x", "messages": [{"role": "user", "content": "x"}]}, 401),
    ({"Authorization": "Bearer arthur_wrong"}, {"model": "x", "messages": []}, 401),
])
def test_the_proxy_needs_a_login_or_token(live_stack, headers, body, status):
    response = httpx.post(f"{live_stack.base_url}/v1/chat/completions", json=body, headers=headers)
    assert response.status_code == status and response.json()["error"]["message"]


@pytest.mark.parametrize(("content", "fragment"), [
    ("{not json", "not valid JSON"), ('{"messages": []}', '"model"'),
    ('{"model": "llama-3.2-1b", "messages": []}', "messages"), ("[1, 2]", '"model"'),
])
def test_bad_bodies_are_400(live_stack, alice_token, content, fragment):
    response = httpx.post(f"{live_stack.base_url}/v1/chat/completions", content=content,
                          headers={"Authorization": f"Bearer {alice_token}",
                                   "Content-Type": "application/json"})
    assert response.status_code == 400 and fragment in response.json()["error"]["message"]
