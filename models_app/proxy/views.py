"""The OpenAI- and Anthropic-compatible front door to exo: `/v1/models`, `/v1/chat/completions`
and `/v1/messages`.

Authenticated (browser session with CSRF, or an API token), model names resolved through the
catalogue (slugs, aliases, repo ids, or `auto` through the router), limits applied, the body
passed to exo unchanged otherwise, and exo's stream passed back as it arrives, keep-alive
comments and all. A client that goes away closes the request to exo, which is how exo cancels
a generation. Every request leaves a usage record.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from redis import RedisError

from arthur_panel.errors import (
    REDIS_DOWN_MESSAGE,
    REDIS_RETRY_SECONDS,
    error_body,
    too_large_message,
)
from cluster_app.access import throttle
from cluster_app.access.limits import CHAT_REQUESTS, CHAT_TOKENS, STREAMS
from cluster_app.access.rules import CHAT, effective_scopes
from cluster_app.access.tokens import bearer_secret
from cluster_app.exo.client import TLS_CONTEXT, error_message
from cluster_app.models import ApiToken
from models_app.models import LlmModel
from models_app.proxy import lookups
from models_app.proxy.resolve import ready_route
from models_app.proxy.rules import Route
from models_app.proxy.transport import Connection, ExoTransport
from models_app.usage.meter import ERROR, StreamMeter, outcome
from models_app.usage.records import record_usage

logger = logging.getLogger(__name__)
# Generations can think for a long time before their first token; only connecting is quick.
EXO_STREAM_TIMEOUT = httpx.Timeout(connect=10.0, read=None, write=30.0, pool=10.0)


def _csrf_checked(request: HttpRequest) -> HttpResponse:
    """The view the CSRF check is run for: not csrf_exempt (the proxy's own views are, as token
    clients send no CSRF token), so a browser session's POST is always checked."""
    return HttpResponse()


_CSRF = CsrfViewMiddleware(_csrf_checked)
# Once an answer has begun, and while exo sends faster than this, the relay reads exo's stream
# at most this often: the tokens that arrive meanwhile go on to the client together, one write
# instead of one per token, which is most of the web process's work on a fast stream. Far
# below what a reader notices.
RELAY_INTERVAL = 0.005
T = TypeVar("T")
EXO_PATHS = {"chat": "/v1/chat/completions", "messages": "/v1/messages"}  # by the call's api


# A connection of its own per request (transport.py): one transport serves every loop.
_TRANSPORT = ExoTransport(TLS_CONTEXT)
_EXO_STREAM_TIMEOUTS = EXO_STREAM_TIMEOUT.as_dict()
_EXO_HEADERS = {"Accept": "*/*", "Content-Type": "application/json",
                "User-Agent": "arthur-panel"}


@functools.lru_cache(maxsize=16)
def _exo_url(base: str, path: str) -> httpx.URL:
    return httpx.URL(base.rstrip("/") + path)


# Clients per event loop and exo address (an httpx client is bound to its loop).
_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, httpx.AsyncClient]] = (
    weakref.WeakKeyDictionary())


def _exo_client() -> httpx.AsyncClient:
    clients = _CLIENTS.setdefault(asyncio.get_running_loop(), {})
    client = clients.get(settings.EXO_API_URL)
    if client is None:
        client = clients[settings.EXO_API_URL] = httpx.AsyncClient(
            base_url=settings.EXO_API_URL, timeout=EXO_STREAM_TIMEOUT,
            transport=ExoTransport(TLS_CONTEXT))
    return client


def pooled(work: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """`work` on asgiref's shared thread pool instead of the request's own new thread (Django
    gives each ASGI request one): pool threads keep their database connections between
    requests, where a new thread would open a new one, milliseconds before every first token."""

    def run(*args: Any) -> T:
        close_old_connections()  # what Django does at a request's start: drop broken or old ones
        return work(*args)

    return sync_to_async(run, thread_sensitive=False)


class ProxyError(Exception):
    def __init__(self, message: str, code: str, status: int,
                 retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status
        self.retry_after = retry_after


@dataclass(eq=False)  # each request is itself: held in a WeakSet (_HELD)
class Call:
    """One proxied request, as it goes: who asked, for what, and where it was sent."""

    api: str  # "chat" or "messages"
    user: Any
    token: ApiToken | None
    requested: str = ""
    model_id: str = ""
    slug: str | None = None
    route: str = ""
    task: str = ""  # the router's task, when the request was routed
    stream: bool = False
    slots: throttle.StreamSlots = throttle.StreamSlots()  # taken once it is let in


def json_error(api: str, error: ProxyError) -> JsonResponse:
    body = error_body(error.message, error.code)
    if api == "messages":
        # Anthropic's shape too, for Claude Code and the anthropic client.
        body = {"type": "error", "error": {**body["error"], "type": error.code}}
    response = JsonResponse(body, status=error.status)
    if error.retry_after is not None:
        response["Retry-After"] = str(error.retry_after)
    return response


def _caller(request: HttpRequest) -> tuple[Any, ApiToken | None]:
    """The user (and token) making the request, or ProxyError: a token from `Authorization:
    Bearer` or `x-api-key` (Anthropic clients), or a browser session with its CSRF token.
    First of the request's look-ups: the kept ones are checked for changes here."""
    lookups.follow_changes()
    secret = bearer_secret(request.headers.get("Authorization", "")) or request.headers.get(
        "x-api-key")
    if secret:
        token = lookups.token(secret, request.META.get("REMOTE_ADDR"))
        if token is None:
            raise ProxyError("Invalid, expired or revoked API token.", "not_authenticated", 401)
        if CHAT not in effective_scopes(token.scopes):
            raise ProxyError(f"{request.path} needs an API key with the '{CHAT}' scope; this key "
                             f"has {', '.join(token.scopes)}.", "scope_denied", 403)
        return token.user, token
    if not request.user.is_authenticated:
        raise ProxyError("Log in, or send Authorization: Bearer <token> (manage.py issue_token).",
                         "not_authenticated", 401)
    if request.method == "POST" and _CSRF.process_view(request, _csrf_checked, (), {}) is not None:
        raise ProxyError("CSRF token missing or incorrect.", "csrf_failed", 403)
    return request.user, None


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        raw = request.body
    except RequestDataTooBig:
        raise ProxyError(too_large_message(), "request_too_large", 413) from None
    return parse_body(raw)


def parse_body(raw: bytes) -> dict[str, Any]:
    """The request's JSON body, checked, with the max_tokens exo is to be sent; or
    ProxyError."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ProxyError("The body is not valid JSON.", "parse_error", 400) from None
    if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body["model"]:
        raise ProxyError('The body must be a JSON object with a "model" name.', "invalid", 400)
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        raise ProxyError('"messages" must be a non-empty list.', "invalid", 400)
    for key in ("max_tokens", "max_completion_tokens"):
        wanted = body.get(key)
        if wanted is not None and (not isinstance(wanted, int) or isinstance(wanted, bool)
                                   or not 0 < wanted <= settings.CHAT_MAX_TOKENS):
            raise ProxyError(f"{key} must be a whole number from 1 to {settings.CHAT_MAX_TOKENS}.",
                             "invalid_max_tokens", 400)
    # Left out, exo generates until the model's context runs out: the cap is the default, sent
    # as max_tokens, the name exo reads, whichever name the client used.
    body["max_tokens"] = (body.get("max_tokens") or body.get("max_completion_tokens")
                          or settings.CHAT_MAX_TOKENS)
    return body


def _prepare(request: HttpRequest, api: str
             ) -> tuple[Call, dict[str, Any], throttle.StreamSlots]:
    """Everything before exo, in one trip to the sync thread: the call, the body to forward
    and the caller's stream slots."""
    user, token = _caller(request)
    call = Call(api=api, user=user, token=token)
    if request.method != "POST":
        raise ProxyError("Use POST.", "method_not_allowed", 405)
    body = _body(request)
    try:
        slots = throttle.admit(tokens=throttle.limits_for(CHAT_TOKENS, user, token),
                               requests=throttle.limits_for(CHAT_REQUESTS, user, token),
                               streams=throttle.limits_for(STREAMS, user, token))
    except throttle.RateLimited as refused:
        raise _rate_limited(refused) from None
    try:
        _choose_model(call, body, request)
    except ProxyError:
        throttle.give_back(slots)  # refused after all: no stream runs
        raise
    return call, {**body, "model": call.model_id}, slots


def _choose_model(call: Call, body: dict[str, Any], request: HttpRequest) -> None:
    """The model the call goes to (the requested one, or the route's), or ProxyError."""
    call.requested, call.stream = body["model"], bool(body.get("stream"))
    task = body.pop("task", None) or request.headers.get("X-Arthur-Task")
    if call.requested == "auto":
        route: Route | None = ready_route(task if isinstance(task, str) else None)
    else:
        named = lookups.model(call.requested)
        call.model_id, call.slug = named.model_id, named.slug
        # A name routed by its pattern (Claude Code's claude-*) goes where its task says.
        route = ready_route(named.task, via=call.requested) if named.task else None
    if route is not None:
        call.route, call.task = route.describe(), route.task
        if route.slug is None:
            asked = "" if route.via == "auto" else f" ({route.via} goes to it)"
            raise ProxyError(f"No model for task '{route.task}' is ready{asked}: load one of "
                             f"{', '.join(route.skipped)}.", "no_model_ready", 503)
        chosen = lookups.model(route.slug)
        call.model_id, call.slug = chosen.model_id, chosen.slug
    check_allowed(call)


def check_allowed(call: Call) -> None:
    """ProxyError unless the call's key may use the model it goes to."""
    token = call.token
    if token is not None and token.allowed_models and call.model_id not in token.allowed_models:
        raise ProxyError(f"This API key may use only {', '.join(token.allowed_models)}, not "
                         f"{call.requested} ({call.model_id}).", "model_not_allowed", 403)


def _rate_limited(refused: throttle.RateLimited) -> ProxyError:
    return ProxyError(refused.message, refused.code, refused.status_code, refused.retry_after)


async def _proxy(request: HttpRequest, api: str) -> HttpResponseBase:
    started = time.monotonic()
    try:
        call, forwarded, slots = await pooled(_prepare)(request, api)
        upstream, meter = await send_to_exo(call, exo_request(call, forwarded), slots, started)
    except ProxyError as error:
        return json_error(api, error)
    except RedisError as exc:  # the limits are counted there: wait for it
        return json_error(api, _redis_down(exc))
    response = StreamingHttpResponse(relayed(Relay(call, upstream, meter, slots)))
    for name, value in answer_headers(call, upstream):
        response[name] = value
    return response


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
        failure = exc if isinstance(exc, ProxyError) else _exo_down(exc)
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


def _redis_down(exc: RedisError) -> ProxyError:
    logger.warning("Redis did not answer: %s", exc)
    return ProxyError(REDIS_DOWN_MESSAGE, "redis_unavailable", 503, REDIS_RETRY_SECONDS)


def _exo_down(exc: httpx.TransportError) -> ProxyError:
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


# CSRF is checked in _caller, for sessions only: scripts with a token have no CSRF cookie.
@csrf_exempt
@login_not_required
async def chat_completions(request: HttpRequest) -> HttpResponseBase:
    return await _proxy(request, "chat")


@csrf_exempt
@login_not_required
async def messages(request: HttpRequest) -> HttpResponseBase:
    return await _proxy(request, "messages")


@login_not_required
async def list_models(request: HttpRequest) -> HttpResponse:
    """exo's model list, each entry also naming its catalogue slug and aliases."""
    try:
        await sync_to_async(_caller)(request)
        if request.method != "GET":
            raise ProxyError("Use GET.", "method_not_allowed", 405)
        response = await _exo_client().get("/v1/models", timeout=settings.EXO_TIMEOUT)
    except ProxyError as error:
        return json_error("models", error)
    except RedisError as exc:  # the kept keys are checked there
        return json_error("models", _redis_down(exc))
    except httpx.TransportError as exc:
        return json_error("models", _exo_down(exc))
    if response.status_code >= 400:
        return json_error("models", ProxyError(
            f"exo refused the request: {error_message(response)}", "exo_error", 502))
    data: list[dict[str, Any]] = response.json().get("data", [])
    names = await sync_to_async(_catalogue_names)()
    for card in data:
        card["arthur_names"] = names.get(str(card.get("id")), [])
    return JsonResponse({"object": "list", "data": data})


def _catalogue_names() -> dict[str, list[str]]:
    return {m.exo_model_id or m.repo_id: [m.slug, *m.aliases] for m in LlmModel.objects.all()}
