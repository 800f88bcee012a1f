"""The chat proxy's express lane: a request with an API key that this web process can let in
from what it already holds is served on the event loop, with no thread, no Django request and
no middleware.

What it must hold: the key and the model name among the proxy's kept look-ups (`lookups.py`),
the name a catalogue model's (no route to choose), the key's last use recorded less than a
minute ago from the same address, and the security headers a request of the same path, scheme
and host was answered with (`SecurityHeaders`: which also means the host was allowed and no
redirect to HTTPS was due). The limits are let in by the same Redis script as everywhere,
through an asyncio client, in one round trip with the look-ups' version; a version that moved
meanwhile means something changed, and the request takes the whole way after all.

Whatever is missing, or anything unusual (an invalid body, a refusal by the limits, Redis
away, a method other than POST), sends the request the whole way, through Django
(`handler.ProxyHandler`), with its body as it came: one way of answering each case, the
messages and the audit included. So the first request of a key or a model name goes the whole
way and fills what the next ones use.

Why: 32 requests arriving at once each cost the web process milliseconds of CPU on Django's
way (its handler, its request signals, hops to threads for the look-ups and the limits), and
they queue behind each other's before exo hears of them (bench/proxy.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache
from django.conf import settings
from django.core.signals import setting_changed
from django.db import DatabaseError
from django.utils import timezone
from redis import RedisError

from arthur_panel.redis_client import async_redis_client
from cluster_app.access import throttle
from cluster_app.access.limits import CHAT_REQUESTS, CHAT_TOKENS, STREAMS
from cluster_app.access.rules import CHAT, effective_scopes
from cluster_app.access.tokens import bearer_secret, use_due
from models_app.proxy import lookups
from models_app.proxy.calls import Call, ProxyError, json_error, pooled
from models_app.proxy.relay import Relay, abandon, answer_headers, exo_request, opening, send_to_exo
from models_app.proxy.views import check_allowed, parse_body

logger = logging.getLogger(__name__)
Scope = Mapping[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]
# Sends an error response (raw body, response, send) as the whole way would (handler.py).
Answer = Callable[[bytes, Any, Send], Awaitable[None]]
# What a request's security headers depend on besides its path and scheme (SecurityMiddleware,
# the CSP's socket sources, Django's host check).
_HOST_HEADERS = frozenset({b"host", b"x-forwarded-host", b"x-forwarded-proto",
                           b"x-forwarded-port", b"forwarded"})


def _security_key(scope: Scope) -> tuple[Any, ...]:
    return (scope["path"], scope.get("scheme"),
            tuple(sorted((k, v) for k, v in scope["headers"] if k in _HOST_HEADERS)))


class SecurityHeaders:
    """The headers the stack's security middleware added to the last good answer of a path,
    scheme and host: what an express answer carries (kept for a bounded number of hosts)."""

    def __init__(self) -> None:
        self._kept: LRUCache[tuple[Any, ...], Headers] = LRUCache(maxsize=64)
        setting_changed.connect(self._forget, weak=False)

    def keep(self, scope: Scope, before: dict[str, str], after: Mapping[str, str]) -> None:
        """An answer the stack gave (status below 400): its headers before and after the
        security middleware."""
        self._kept[_security_key(scope)] = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in after.items() if before.get(name) != value]

    def get(self, scope: Scope) -> Headers | None:
        return self._kept.get(_security_key(scope))

    def _forget(self, **kwargs: Any) -> None:
        self._kept.clear()


@dataclass(frozen=True)
class Asked:
    """What a request asks for, as the express lane reads it."""

    api: str
    secret: str
    address: str | None
    body: dict[str, Any]  # checked, as parse_body leaves it


def asked(scope: Scope, raw: bytes, api: str) -> Asked | None:
    """The request, if it is one the lane may serve: a POST with a key and a valid body, for a
    model named (not `auto`, no task to route by); None: it takes the whole way."""
    if scope["method"] != "POST":
        return None
    secret = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            secret = secret or bearer_secret(value.decode("latin-1"))
        elif name == b"x-api-key":
            secret = secret or value.decode("latin-1")
        elif name == b"x-arthur-task":
            return None
    try:
        body = parse_body(raw)
    except ProxyError:
        return None
    if not secret or "task" in body or body["model"] == "auto":
        return None
    return Asked(api, secret, (scope.get("client") or (None,))[0], body)


@dataclass
class Ticket:
    """A request the express lane can let in, short of its limits."""

    call: Call
    forwarded: dict[str, Any]
    way_in: throttle.Admission
    version: object  # the look-ups' version this process's kept ones were checked against
    stale: bool  # they are to be looked up again (beside the request)


def ticket(request: Asked) -> Ticket | None:
    """The request's ticket, from the look-ups the process holds; None if one is not held or
    the key may not make this request (the whole way says why)."""
    held = lookups.kept(request.secret, request.body["model"])
    token, named, now = held.token, held.named, timezone.now()
    if (token is None or named is None or named.task
            or token.expired(now)
            or CHAT not in effective_scopes(token.scopes)
            or use_due(token, request.address, now)):
        return None
    call = Call(api=request.api, user=token.user, token=token, requested=request.body["model"],
                model_id=named.model_id, slug=named.slug,
                stream=bool(request.body.get("stream")))
    try:
        check_allowed(call)
    except ProxyError:
        return None
    way_in = throttle.admission(
        tokens=throttle.limits_for(CHAT_TOKENS, token.user, token),
        requests=throttle.limits_for(CHAT_REQUESTS, token.user, token),
        streams=throttle.limits_for(STREAMS, token.user, token))
    return Ticket(call, {**request.body, "model": call.model_id}, way_in, held.version,
                  held.stale)


# Look-ups being made, by loop, key, name and address: requests that arrive together wait for
# one (kept look-ups run out every LOOKUP_SECONDS, and 32 streams often start at once).
_LOOKING_UP: dict[tuple[Any, ...], asyncio.Future[None]] = {}


async def looked_up(request: Asked) -> None:
    """The request's key and model name looked up, as the whole way looks them up (its use
    recorded), on a pool thread; once for all the requests that wait for the same."""
    key = (asyncio.get_running_loop(), request.secret, request.body["model"], request.address)
    pending = _LOOKING_UP.get(key)
    if pending is None:
        pending = _LOOKING_UP[key] = asyncio.ensure_future(
            pooled(_look_up)(request.secret, request.body["model"], request.address))
        pending.add_done_callback(lambda _: _LOOKING_UP.pop(key, None))
    await asyncio.shield(pending)


_BESIDE: set[asyncio.Task[None]] = set()  # held here: the loop keeps only weak references


def _beside(work: Coroutine[Any, Any, None]) -> None:
    """`work` run beside the request, its failure only logged (the next request tries
    again)."""
    task = asyncio.ensure_future(work)
    _BESIDE.add(task)
    task.add_done_callback(_done_beside)


def _done_beside(task: asyncio.Task[None]) -> None:
    _BESIDE.discard(task)
    if not task.cancelled() and (error := task.exception()) is not None:
        logger.warning("proxy look-ups not renewed: %s", error)


def _look_up(secret: str, name: str, address: str | None) -> None:
    lookups.follow_changes()
    if lookups.token(secret, address) is not None:
        lookups.model(name)


async def admitted(entry: Ticket) -> throttle.StreamSlots | None:
    """The stream slots the request took under its limits; None if refused, if the look-ups
    changed meanwhile or if Redis did not answer (the whole way says why)."""
    client = async_redis_client()
    way_in = entry.way_in
    try:
        async with client.pipeline(transaction=False) as pipe:
            pipe.get(lookups.VERSION_KEY)
            pipe.evalsha(throttle.ADMIT_SHA, len(way_in.keys), *way_in.keys, *way_in.args)
            version, (hit, _) = await pipe.execute()
    except RedisError:  # away, or restarted and without the script: the whole way loads it
        return None
    if hit:
        return None
    slots = way_in.settle(0, 0)
    if version != entry.version:
        # Let in on look-ups that may be stale: taken back (its request in each minute's
        # window and its stream slots share one member), to go the whole way.
        with contextlib.suppress(RedisError):
            async with client.pipeline(transaction=False) as pipe:
                for key in way_in.keys[int(way_in.args[0]):]:
                    pipe.zrem(key, slots.member)
                await pipe.execute()
        return None
    return slots


async def read_body(receive: Receive) -> tuple[list[Message], bytes | None]:
    """The request's messages as received, and its body; None when it is larger than Django
    takes (the whole way refuses it)."""
    messages: list[Message] = []
    size, limit = 0, settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        size += len(message.get("body", b""))
        if limit is not None and size > limit:
            return messages, None
        if not message.get("more_body"):
            return messages, b"".join(m.get("body", b"") for m in messages)


def replaying(messages: list[Message], receive: Receive) -> Receive:
    """`receive`, giving `messages` first (the body the express lane read)."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


async def serve(scope: Scope, raw: bytes, receive: Receive, send: Send, *, api: str,
                security: Headers, answer_error: Answer) -> bool:
    """Serve the request if it can be let in here; False: it takes the whole way, untouched
    (nothing counted, nothing sent)."""
    started = time.monotonic()
    request = asked(scope, raw, api)
    if request is None:
        return False
    entry = ticket(request)
    if entry is None:
        try:
            await looked_up(request)
        except (RedisError, DatabaseError):
            return False  # the whole way answers it
        if (entry := ticket(request)) is None:
            return False
    elif entry.stale:
        _beside(looked_up(request))
    call = entry.call
    request_to_exo = exo_request(call, entry.forwarded)
    opened = opening(request_to_exo)  # meanwhile: the limits' round trip to Redis
    try:
        slots = await admitted(entry)
    except BaseException:  # cancelled: the client left, or the server is stopping
        abandon(opened)
        raise
    if slots is None:
        abandon(opened)
        return False
    try:
        upstream, meter = await send_to_exo(call, request_to_exo, slots, started, opened)
    except ProxyError as error:
        await answer_error(raw, json_error(api, error), send)
        return True
    headers = {name.lower().encode("latin-1"): value.encode("latin-1")
               for name, value in answer_headers(call, upstream)} | dict(security)
    await send({"type": "http.response.start", "status": 200, "headers": list(headers.items())})
    relay = Relay(call, upstream, meter, slots)
    try:
        await _stream(relay, receive, send)
    finally:
        await relay.settle()  # if the client left: settled on the way out
    return True


async def _stream(relay: Relay, receive: Receive, send: Send) -> None:
    """The relay's chunks sent as they come; if the client goes away first, the relay is
    cancelled (settling it closes the request to exo, as Django's handler does)."""

    async def pump() -> None:
        async with contextlib.aclosing(relay.chunks()) as chunks:
            async for chunk in chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        # Settled before the answer's end, as the whole way does: a client that has its answer
        # whole has its usage record too.
        await relay.settle()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def client_left() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    pumping, watching = asyncio.create_task(pump()), asyncio.create_task(client_left())
    try:
        await asyncio.wait((pumping, watching), return_when=asyncio.FIRST_COMPLETED)
    finally:
        watching.cancel()
        pumping.cancel()  # nothing if it ended
        with contextlib.suppress(asyncio.CancelledError):
            await pumping
