"""The proxy's express lane (models_app/proxy/express.py), in-process through the panel's ASGI
application against an exo simulator: a key's request is served on the event loop once the
process holds what it needs, answered as the whole way answers it; anything else takes the
whole way, counted once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.utils import timezone

from arthur_panel.asgi import application
from arthur_panel.redis_client import redis_client
from cluster_app.access import throttle
from cluster_app.access.limits import CHAT_REQUESTS, STREAMS
from cluster_app.models import ApiToken, AuditEntry
from models_app.models import UsageRecord
from models_app.proxy import express, handler, lookups, relay
from simulators.exo import app as exo_app
from simulators.exo.config import SimConfig
from simulators.exo.testing import FAST, RunningSim, running
from tests.conftest import LLAMA_1B
from tests.threads import run_async

# Nothing of it is PostgreSQL's: once, in the SQLite pass.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.sqlite_pass]
CHAT = {"model": "llama-3.2-1b", "max_tokens": 5, "stream": True,
        "messages": [{"role": "user", "content": "Hi"}]}
# Set per answer by the server or by the client library, not by the panel.
NOT_COMPARED = {"content-length", "date", "server"}


@contextmanager
def loaded_exo(tmp_path: Path, settings: Any) -> Iterator[RunningSim]:
    """An exo simulator of the test's own, Llama 3.2 1B loaded, while the block runs."""
    with running(SimConfig(**{**FAST, "log_dir": tmp_path / "exo", "port": 0}),
                 wait_for_shutdown=True) as sim:
        sim.load(LLAMA_1B)
        settings.EXO_API_URL = sim.url
        yield sim


@pytest.fixture
def exo(tmp_path: Path, settings: Any) -> Iterator[RunningSim]:
    with loaded_exo(tmp_path, settings) as sim:
        yield sim


@pytest.fixture
def whole_way(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests that went the whole way (through Django's handler)."""
    taken: list[str] = []
    handle = handler.ProxyHandler.handle

    async def counted(self: handler.ProxyHandler, scope: Any, receive: Any, send: Any) -> None:
        taken.append(scope["path"])
        await handle(self, scope, receive, send)

    monkeypatch.setattr(handler.ProxyHandler, "handle", counted)
    lookups.forget()
    return taken


async def ask(key: str, body: Any = CHAT, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await client.post("/v1/chat/completions", content=content, headers={
            "Authorization": f"Bearer {key}", "Content-Type": "application/json", **headers})


def asked(key: str, times: int = 1, body: Any = CHAT, **headers: str) -> list[httpx.Response]:
    async def in_turn() -> list[httpx.Response]:
        return [await ask(key, body, **headers) for _ in range(times)]

    return run_async(in_turn())


def compared(response: httpx.Response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items()
            if name not in NOT_COMPARED}


def counted_look_ups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The model names the lane looks up (with their keys) from now on."""
    looked_up: list[str] = []
    look_up = express._look_up

    def counted(secret: str, name: str, address: str | None) -> None:
        looked_up.append(name)
        look_up(secret, name, address)

    monkeypatch.setattr(express, "_look_up", counted)
    return looked_up


def test_a_keys_next_requests_take_the_express_lane_and_are_answered_alike(
        exo, alice_token, guide_models, whole_way):
    first, second, third = asked(alice_token, 3)
    assert whole_way == ["/v1/chat/completions"]  # the first filled what the others use
    for response in (first, second, third):
        assert response.status_code == 200
        assert response.text.rstrip().endswith("data: [DONE]")
    assert compared(second) == compared(first) == compared(third)
    assert "default-src 'self'" in second.headers["Content-Security-Policy"]
    assert second.headers["X-Arthur-Model"] == LLAMA_1B
    records = UsageRecord.objects.order_by("pk")
    assert [(r.status, r.http_status, r.model_id) for r in records] == [
        ("ok", 200, LLAMA_1B)] * 3
    assert all(r.completion_tokens == 5 and r.token_id for r in records)


def test_requests_arriving_together_after_the_look_ups_ran_out_wait_for_one_look_up(
        exo, alice_token, guide_models, whole_way, monkeypatch):
    asked(alice_token)
    looked_up = counted_look_ups(monkeypatch)
    lookups.forget()  # as when they run out (LOOKUP_SECONDS)

    async def together() -> list[httpx.Response]:
        return list(await asyncio.gather(*(ask(alice_token) for _ in range(4))))

    answers = run_async(together())
    assert [r.status_code for r in answers] == [200] * 4
    assert looked_up == ["llama-3.2-1b"] and whole_way == ["/v1/chat/completions"]


def test_look_ups_past_their_freshness_serve_on_while_looked_up_again_beside(
        exo, alice_token, guide_models, whole_way, monkeypatch):
    asked(alice_token)
    looked_up = counted_look_ups(monkeypatch)
    monkeypatch.setattr(lookups, "LOOKUP_SECONDS", 0.0)  # everything kept is past it
    assert [r.status_code for r in asked(alice_token, 2)] == [200, 200]
    assert whole_way == ["/v1/chat/completions"]
    assert looked_up == ["llama-3.2-1b"] * 2  # one beside each


def test_an_answer_ends_once_its_usage_record_is_written(exo, alice_token, guide_models,
                                                         whole_way, monkeypatch):
    asked(alice_token)  # fills the lane
    happened: list[str] = []
    record = relay.record_usage

    def recorded(*args: Any, **kwargs: Any) -> Any:
        happened.append("record")
        return record(*args, **kwargs)

    monkeypatch.setattr(relay, "record_usage", recorded)

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and not message["more_body"]:
            happened.append("end")

    run_async(application(chat_scope(alice_token), request_of(CHAT), send))
    assert whole_way == ["/v1/chat/completions"]
    assert happened == ["record", "end"]  # a client with its answer whole has its record


def chat_scope(key: str) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": "/v1/chat/completions",
            "raw_path": b"/v1/chat/completions", "query_string": b"", "root_path": "",
            "client": ("127.0.0.1", 40000), "server": ("localhost", 80),
            "headers": [(b"host", b"localhost"), (b"authorization", f"Bearer {key}".encode()),
                        (b"content-type", b"application/json")]}


def request_of(body: Any) -> Any:
    """An ASGI `receive` giving `body`, then nothing: the client stays."""
    messages = [{"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()
        raise AssertionError("not reached")

    return receive


def test_the_express_lane_counts_the_limits_as_the_whole_way_does(
        exo, alice_token, guide_models, whole_way):
    asked(alice_token, 3)
    token = ApiToken.objects.get()
    minute = throttle.limits_for(CHAT_REQUESTS, token.user, token)
    streams = throttle.limits_for(STREAMS, token.user, token)
    assert [throttle.usage(limit) for limit in minute] == [3] * len(minute)
    assert [throttle.usage(limit) for limit in streams] == [0] * len(streams)  # all given back


def test_a_request_past_its_streams_limit_is_refused_the_whole_way_and_audited(
        exo, alice, guide_models, whole_way, monkeypatch):
    token, secret = ApiToken.issue(user=alice, name="one stream", max_streams=1)
    asked(secret)  # fills the lane
    at_exo = exo_requests(monkeypatch)
    held = throttle.admit(streams=throttle.limits_for(STREAMS, alice, token))  # one running
    refused = asked(secret)[0]
    throttle.give_back(held)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert whole_way == ["/v1/chat/completions"] * 2
    assert AuditEntry.objects.get(action="v1-chat-completions").outcome == "refused"
    # The lane opened its connection to exo while Redis answered; refused, nothing went on it.
    assert at_exo == []
    assert asked(secret)[0].status_code == 200 and at_exo == ["/v1/chat/completions"]


def exo_requests(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The chat requests the exo simulator is sent from now on."""
    sent: list[str] = []
    answer = exo_app.chat_completions

    async def counted(request: Any, *args: Any) -> Any:
        sent.append(request.url.path)
        return await answer(request, *args)

    monkeypatch.setattr(exo_app, "chat_completions", counted)
    return sent


@pytest.mark.parametrize("body, headers, code", [
    (b"{", {}, "parse_error"),
    ({**CHAT, "max_tokens": 0}, {}, "invalid_max_tokens"),
    ({**CHAT, "model": "auto"}, {}, None),
    (CHAT, {"X-Arthur-Task": "coding"}, None),
])
def test_what_the_lane_does_not_hold_takes_the_whole_way(
        exo, alice_token, guide_models, whole_way, body, headers, code):
    asked(alice_token)
    answer = asked(alice_token, body=body, **headers)[0]
    assert whole_way == ["/v1/chat/completions"] * 2
    if code:
        assert answer.json()["error"]["code"] == code
    else:
        assert answer.status_code == 200


def test_a_change_anywhere_sends_the_next_request_the_whole_way_counted_once(
        exo, alice_token, guide_models, whole_way):
    asked(alice_token)
    redis_client().incr(lookups.VERSION_KEY)  # as another process's change does
    second = asked(alice_token)[0]
    assert second.status_code == 200
    assert whole_way == ["/v1/chat/completions"] * 2
    token = ApiToken.objects.get()
    minute = throttle.limits_for(CHAT_REQUESTS, token.user, token)[0]
    assert throttle.usage(minute) == 2  # the lane's admission was taken back


def test_a_key_revoked_in_another_process_is_refused_at_the_next_request(
        exo, alice_token, guide_models, whole_way):
    asked(alice_token)
    ApiToken.objects.update(revoked_at="2026-01-01T00:00:00Z")  # no signal: as elsewhere
    redis_client().incr(lookups.VERSION_KEY)
    assert asked(alice_token)[0].status_code == 401


def test_a_key_that_expires_while_kept_is_refused_at_its_next_request(
        exo, alice_token, guide_models, whole_way):
    asked(alice_token)
    kept = lookups.kept(alice_token, "llama-3.2-1b").token
    assert kept is not None
    # As the clock passing its expiry leaves the row and the kept token (no change to tell).
    kept.expires_at = timezone.now()
    ApiToken.objects.update(expires_at=kept.expires_at)
    assert asked(alice_token)[0].status_code == 401


def test_a_redis_that_forgot_its_scripts_sends_the_request_the_whole_way(
        exo, alice_token, guide_models, whole_way):
    asked(alice_token)
    redis_client().script_flush()  # as a restarted Redis has
    assert [r.status_code for r in asked(alice_token, 2)] == [200, 200]
    assert whole_way == ["/v1/chat/completions"] * 2  # the third found the script again


def test_exo_refusing_after_the_lane_let_the_request_in_is_answered_as_the_whole_way_does(
        exo, alice_token, guide_models, whole_way):
    asked(alice_token)
    for instance_id in exo.state()["instances"]:
        exo.client.delete(f"/instance/{instance_id}").raise_for_status()
    exo.wait_for(lambda: not exo.state()["instances"])
    lane, whole = asked(alice_token)[0], asked(alice_token, **{"X-Arthur-Task": "chat"})[0]
    assert whole_way == ["/v1/chat/completions"] * 2  # the first, and the one with a task
    assert lane.status_code == whole.status_code == 404
    assert lane.json() == whole.json()
    assert lane.json()["error"]["code"] == "model_not_loaded"
    assert compared(lane) == compared(whole)
    assert [r.status for r in UsageRecord.objects.order_by("pk")] == ["ok", "error", "error"]


def test_exo_gone_after_the_lane_let_the_request_in_is_a_503(
        tmp_path, settings, alice_token, guide_models, whole_way):
    with loaded_exo(tmp_path, settings):
        asked(alice_token)
    gone = asked(alice_token)[0]
    assert whole_way == ["/v1/chat/completions"]
    assert gone.status_code == 503 and gone.json()["error"]["code"] == "exo_unavailable"
    assert "default-src 'self'" in gone.headers["Content-Security-Policy"]
    assert [r.status for r in UsageRecord.objects.order_by("pk")] == ["ok", "error"]
