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
import json
import logging
import time
import weakref
from typing import Any

import httpx
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from redis import RedisError

from arthur_panel.errors import (
    REDIS_DOWN_MESSAGE,
    REDIS_RETRY_SECONDS,
    too_large_message,
)
from cluster_app.access import throttle
from cluster_app.access.limits import CHAT_REQUESTS, CHAT_TOKENS, STREAMS
from cluster_app.access.rules import CHAT, effective_scopes
from cluster_app.access.tokens import bearer_secret
from cluster_app.exo.client import error_message, tls_context
from cluster_app.models import ApiToken
from models_app.models import LlmModel
from models_app.proxy import lookups
from models_app.proxy.calls import Call, ProxyError, json_error, pooled
from models_app.proxy.relay import (
    EXO_STREAM_TIMEOUT,
    Relay,
    answer_headers,
    exo_down,
    exo_request,
    relayed,
    send_to_exo,
)
from models_app.proxy.resolve import ready_route
from models_app.proxy.rules import Route
from models_app.proxy.transport import ExoTransport

logger = logging.getLogger(__name__)


def _csrf_checked(request: HttpRequest) -> HttpResponse:
    """The view the CSRF check is run for: not csrf_exempt (the proxy's own views are, as token
    clients send no CSRF token), so a browser session's POST is always checked."""
    return HttpResponse()


_CSRF = CsrfViewMiddleware(_csrf_checked)


# Clients per event loop and exo address (an httpx client is bound to its loop).
_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, httpx.AsyncClient]] = (
    weakref.WeakKeyDictionary())


def _exo_client() -> httpx.AsyncClient:
    clients = _CLIENTS.setdefault(asyncio.get_running_loop(), {})
    client = clients.get(settings.EXO_API_URL)
    if client is None:
        client = clients[settings.EXO_API_URL] = httpx.AsyncClient(
            base_url=settings.EXO_API_URL, timeout=EXO_STREAM_TIMEOUT,
            transport=ExoTransport(tls_context()))
    return client


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


def _redis_down(exc: RedisError) -> ProxyError:
    logger.warning("Redis did not answer: %s", exc)
    return ProxyError(REDIS_DOWN_MESSAGE, "redis_unavailable", 503, REDIS_RETRY_SECONDS)


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
        return json_error("models", exo_down(exc))
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
