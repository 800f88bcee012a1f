"""exo's side of a proxied request: the request to exo, sent on a connection of its own
(`transport.py`), exo's answer passed on as it comes (`Relay`), and its settling: the usage
record, the stream slots held (renewed while it runs) and given back, the tokens counted;
what Redis did not take, once it is back."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import httpx
from django.conf import settings
from redis import RedisError

from cluster_app.access import throttle
from cluster_app.access.limits import CHAT_TOKENS
from cluster_app.exo.client import error_message, tls_context
from models_app.proxy.calls import Call, ProxyError, pooled
from models_app.proxy.transport import RELAY_INTERVAL, Connection, ExoTransport
from models_app.usage.meter import ERROR, StreamMeter, outcome
from models_app.usage.records import record_usage

logger = logging.getLogger(__name__)
# Generations can think for a long time before their first token; only connecting is quick.
EXO_STREAM_TIMEOUT = httpx.Timeout(connect=10.0, read=None, write=30.0, pool=10.0)
EXO_PATHS = {"chat": "/v1/chat/completions", "messages": "/v1/messages"}  # by the call's api


# A connection of its own per request (transport.py): one transport serves every loop.
_TRANSPORT = ExoTransport(tls_context())
_EXO_STREAM_TIMEOUTS = EXO_STREAM_TIMEOUT.as_dict()
_EXO_HEADERS = {"Accept": "*/*", "Content-Type": "application/json",
                "User-Agent": "arthur-panel"}


@functools.lru_cache(maxsize=16)
def _exo_url(base: str, path: str) -> httpx.URL:
    return httpx.URL(base.rstrip("/") + path)


def exo_request(call: Call, forwarded: dict[str, Any]) -> httpx.Request:
    """The request to exo for a call, `forwarded` its body."""
    return httpx.Request("POST", _exo_url(settings.EXO_API_URL, EXO_PATHS[call.api]),
                         headers=_EXO_HEADERS, content=json.dumps(forwarded).encode(),
                         extensions={"timeout": _EXO_STREAM_TIMEOUTS})


def opening(request: httpx.Request) -> asyncio.Future[Connection]:
    """A connection for `request` being opened: to send it on (`send_to_exo`), or to give up
    (`abandon`)."""
    return asyncio.ensure_future(_TRANSPORT.connect(request))


def abandon(opened: asyncio.Future[Connection]) -> None:
    """A connection opened for a request that is not sent after all: closed, nothing sent."""
    if opened.cancel() or opened.cancelled():
        return
    if opened.exception() is None:
        opened.result().close()


async def send_to_exo(call: Call, request: httpx.Request, slots: throttle.StreamSlots,
                      started: float, opened: asyncio.Future[Connection] | None = None
                      ) -> tuple[httpx.Response, StreamMeter]:
    """exo's answer to a request let in (its stream slots held until it is settled), its
    headers read; or ProxyError, the request settled. `opened`: its connection, if one is
    being opened already."""
    _hold(call, slots)
    meter = StreamMeter(started)
    try:
        # Straight to the transport: httpx's client around it (its URL merging, auth and
        # redirect steps) cost more than the request itself, before every first token.
        connection = await (opened if opened is not None else _TRANSPORT.connect(request))
        upstream = await _TRANSPORT.send(connection, request)
        if upstream.status_code >= 400:
            await upstream.aread()
            raise _upstream_error(call, upstream)
    except (httpx.TransportError, ProxyError) as exc:
        failure = exc if isinstance(exc, ProxyError) else exo_down(exc)
        await _settle(call, meter, slots, failure.status, ERROR, failure.message)
        raise failure from None
    return upstream, meter


def answer_headers(call: Call, upstream: httpx.Response) -> list[tuple[str, str]]:
    """The headers of a relayed answer (the security headers aside)."""
    headers = [("Content-Type", upstream.headers.get("content-type", "application/json")),
               ("Cache-Control", "no-cache"), ("X-Arthur-Model", call.model_id)]
    if call.route:
        headers.append(("X-Arthur-Route", call.route))
    return headers


def exo_down(exc: httpx.TransportError) -> ProxyError:
    return ProxyError(f"exo at {settings.EXO_API_URL} is not answering ({exc}).",
                      "exo_unavailable", 503)


def _upstream_error(call: Call, upstream: httpx.Response) -> ProxyError:
    if upstream.status_code == 404 and "No instance found" in upstream.text:
        named = call.requested if call.requested == call.model_id else (
            f"{call.requested} ({call.model_id})")
        return ProxyError(f"Model {named} is not loaded on the cluster. Load it on the Cluster "
                          f'page, or POST /api/v1/instances/ {{"model": "{call.model_id}"}}, then '
                          "try again.", "model_not_loaded", 404)
    status = upstream.status_code if upstream.status_code < 500 else 502
    return ProxyError(f"exo refused the request: {error_message(upstream)}", "exo_error", status)


class Relay:
    """exo's answer to one request passed on as it comes (`chunks`), then settled (`settle`):
    its usage record, its stream slots given back, its tokens counted."""

    def __init__(self, call: Call, upstream: httpx.Response, meter: StreamMeter,
                 slots: throttle.StreamSlots) -> None:
        self.call, self.upstream, self.meter, self.slots = call, upstream, meter, slots
        self.client_left = False
        self.broken: str | None = None
        self._settling: asyncio.Future[None] | None = None

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        call, meter = self.call, self.meter
        collected = b""
        try:
            asked = time.monotonic()
            async for chunk in self.upstream.aiter_raw():
                now = time.monotonic()
                meter.feed(chunk, now)
                if not call.stream:
                    collected += chunk
                yield chunk
                if meter.first_token_at is not None and now - asked < RELAY_INTERVAL:
                    # exo writes faster than that: the next tokens gather meanwhile, to go on
                    # in one write (a slower answer is passed on as it comes, with no timer to
                    # wake).
                    await asyncio.sleep(RELAY_INTERVAL)
                asked = time.monotonic()
        except httpx.TransportError as exc:
            # exo broke the answer off (its process died or restarted): the client's stream
            # ends with a reason, in the frame exo itself sends for a failure mid-answer.
            self.broken = str(exc) or type(exc).__name__
            if call.stream:
                yield broken_off_frame(call.api, self.broken)
        except BaseException:
            # The caller went away (or the server is stopping): settling cancels at exo.
            self.client_left = True
            raise
        finally:
            if collected:
                meter.take_body(collected)

    async def settle(self) -> None:
        """Once, however often it is called: a cancelled response settles it on its way out."""
        if self._settling is None:
            status, error = outcome(self.meter, client_left=self.client_left,
                                    broken=self.broken)
            self._settling = asyncio.ensure_future(_finish(
                self.call, self.upstream, self.meter, self.slots,
                499 if self.client_left else 200, status, error))
        # Shielded: a cancelled response (the client left) must still free its slots, close
        # the request to exo and leave its usage record.
        await asyncio.shield(self._settling)


async def relayed(relay: Relay) -> AsyncIterator[bytes]:
    """The relay as Django streams a response: its chunks, then settled."""
    try:
        async with contextlib.aclosing(relay.chunks()) as chunks:
            async for chunk in chunks:
                yield chunk
    finally:
        await relay.settle()


def broken_off_frame(api: str, why: str) -> bytes:
    """The last frame of a stream exo broke off: exo's own mid-answer failure (`data:` error
    then `[DONE]`), or Anthropic's `error` event on `/v1/messages`."""
    message = (f"exo broke the answer off ({why}): was exo restarted? The answer stops here; "
               "ask again once the model is ready.")
    if api == "messages":
        event = {"type": "error", "error": {"type": "api_error", "message": message}}
        return f"event: error\ndata: {json.dumps(event)}\n\n".encode()
    chunk = {"error": {"message": message, "type": "BadGateway", "param": None, "code": 502}}
    return f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()


async def _finish(call: Call, upstream: httpx.Response, meter: StreamMeter,
                  slots: throttle.StreamSlots, http_status: int, status: str, error: str) -> None:
    await upstream.aclose()
    await _settle(call, meter, slots, http_status, status, error)


# Redis away when a request ends: its stream slots and tokens are settled once it is back,
# tried after these pauses (seconds); its slots' leases run out meanwhile anyway.
RELEASE_RETRY_SECONDS = (1, 2, 4, 8, 15, 30, 60, 60, 60, 60)
_releasing: set[asyncio.Task[None]] = set()  # held here: the loop keeps only weak references


# Per event loop: the requests whose stream slots its process holds, renewed together every
# STREAM_RENEW_SECONDS. Weakly: a request dropped unsettled (its client gone before the answer
# began) stops being renewed, and its lease runs out, as a killed server's do.
_HELD: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.WeakSet[Call]] = (
    weakref.WeakKeyDictionary())
_renewers: set[asyncio.Task[None]] = set()  # held here: the loop keeps only weak references


def _hold(call: Call, slots: throttle.StreamSlots) -> None:
    call.slots = slots
    loop = asyncio.get_running_loop()
    held = _HELD.get(loop)
    if held is None:
        held = _HELD[loop] = weakref.WeakSet()
        task = loop.create_task(_renew_leases(held))
        _renewers.add(task)
        task.add_done_callback(_renewers.discard)
    held.add(call)


async def _renew_leases(held: weakref.WeakSet[Call]) -> None:
    while True:
        await asyncio.sleep(throttle.STREAM_RENEW_SECONDS)
        if slots := [call.slots for call in list(held)]:
            try:
                await pooled(throttle.renew)(slots)
            except RedisError as exc:
                logger.warning("stream slots not renewed (Redis: %s)", exc)


async def _settle(call: Call, meter: StreamMeter, slots: throttle.StreamSlots, http_status: int,
                  status: str, error: str) -> None:
    """Leave the usage record and settle the request's limits; what Redis did not take, once it
    is back."""
    _HELD.get(asyncio.get_running_loop(), weakref.WeakSet()).discard(call)
    if not await pooled(_account)(call, meter, slots, http_status, status, error):
        task = asyncio.create_task(_release_when_back(call, meter, slots))
        _releasing.add(task)
        task.add_done_callback(_releasing.discard)


def _account(call: Call, meter: StreamMeter, slots: throttle.StreamSlots, http_status: int,
             status: str, error: str) -> bool:
    """The usage record first (the database's: whatever Redis does), then the stream slots
    given back and the tokens counted against the daily limits; False if Redis did not answer."""
    record_usage(call, meter, http_status=http_status, status=status, error=error)
    return _release(call, meter, slots)


def _release(call: Call, meter: StreamMeter, slots: throttle.StreamSlots) -> bool:
    """The request's slots and tokens settled in Redis; False if it did not answer."""
    try:
        throttle.release(slots, throttle.limits_for(CHAT_TOKENS, call.user, call.token),
                         meter.tokens_used)
    except RedisError as exc:
        logger.warning("stream slots and tokens not settled yet (Redis: %s)", exc)
        return False
    return True


async def _release_when_back(call: Call, meter: StreamMeter, slots: throttle.StreamSlots
                             ) -> None:
    for pause in RELEASE_RETRY_SECONDS:
        await asyncio.sleep(pause)
        if await pooled(_release)(call, meter, slots):
            return
