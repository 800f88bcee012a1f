"""The OpenAI-compatible front door to exo: `/v1/models` and `/v1/chat/completions`.

Authenticated (browser session or API token), model names resolved through the catalogue
(slugs, aliases, repo ids), bodies passed to exo unchanged otherwise, and exo's stream passed
back as it arrives, keep-alive comments and all. A client that goes away closes the request to
exo, which is how exo cancels a generation.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from arthur_panel.errors import error_body
from cluster_app.auth import user_for_bearer
from cluster_app.exo_client import error_message
from models_app.selectors import model_by_name

logger = logging.getLogger(__name__)

# Generations can think for a long time before their first token; only connecting is quick.
EXO_STREAM_TIMEOUT = httpx.Timeout(connect=10.0, read=None, write=30.0, pool=10.0)


def _error(message: str, code: str, status: int) -> JsonResponse:
    return JsonResponse(error_body(message, code), status=status)


def _refusal(request: HttpRequest) -> JsonResponse | None:
    """None when the caller may go on: a valid API token, or a logged-in browser session
    whose POSTs carry the CSRF token like any other form on the panel."""
    header = request.headers.get("Authorization", "")
    if header:
        if user_for_bearer(header) is None:
            return _error("Invalid or revoked API token.", "not_authenticated", 401)
        return None
    if not request.user.is_authenticated:
        return _error("Log in, or send Authorization: Bearer <token> (manage.py issue_token).",
                      "not_authenticated", 401)
    if request.method == "POST" and _CSRF.process_view(request, None, (), {}) is not None:
        return _error("CSRF token missing or incorrect.", "csrf_failed", 403)
    return None


_CSRF = CsrfViewMiddleware(lambda request: HttpResponse())


def resolve(name: str) -> tuple[str, str | None]:
    """exo's model id for a requested name, and the catalogue slug when the catalogue knows it."""
    model = model_by_name(name)
    if model is None:
        return name, None
    return model.exo_model_id or model.repo_id, model.slug


def _not_loaded(requested: str, exo_id: str) -> JsonResponse:
    named = requested if requested == exo_id else f"{requested} ({exo_id})"
    return _error(f"Model {named} is not loaded on the cluster. Load it on the Cluster page, or "
                  f'POST /api/v1/instances/ {{"model": "{exo_id}"}}, then try again.',
                  "model_not_loaded", 404)


async def _stream_from_exo(client: httpx.AsyncClient, response: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    finally:
        # Also runs when the browser or script disconnects: closing tells exo to cancel.
        await response.aclose()
        await client.aclose()


# CSRF is checked in _refusal, for sessions only: scripts with a token have no CSRF cookie.
@csrf_exempt
@login_not_required
async def chat_completions(request: HttpRequest) -> HttpResponse:
    if refusal := await sync_to_async(_refusal)(request):
        return refusal
    if request.method != "POST":
        return _error("Use POST.", "method_not_allowed", 405)
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return _error("The body is not valid JSON.", "parse_error", 400)
    if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body["model"]:
        return _error('The body must be a JSON object with a "model" name.', "invalid", 400)
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return _error('"messages" must be a non-empty list.', "invalid", 400)
    requested = body["model"]
    exo_id, _slug = await sync_to_async(resolve)(requested)
    forwarded = {**body, "model": exo_id}
    client = httpx.AsyncClient(base_url=settings.EXO_API_URL, timeout=EXO_STREAM_TIMEOUT)
    try:
        upstream = await client.send(client.build_request("POST", "/v1/chat/completions",
                                                          json=forwarded), stream=True)
    except httpx.TransportError as exc:
        await client.aclose()
        return _error(f"exo at {settings.EXO_API_URL} is not answering ({exc}).",
                      "exo_unavailable", 503)
    if upstream.status_code >= 400:
        await upstream.aread()
        await client.aclose()
        if upstream.status_code == 404 and "No instance found" in upstream.text:
            return _not_loaded(requested, exo_id)
        return _error(f"exo refused the request: {error_message(upstream)}", "exo_error",
                      upstream.status_code if upstream.status_code < 500 else 502)
    streaming = StreamingHttpResponse(_stream_from_exo(client, upstream),
                                      content_type=upstream.headers.get("content-type",
                                                                        "application/json"))
    streaming["Cache-Control"] = "no-cache"
    streaming["X-Arthur-Model"] = exo_id
    return streaming


@login_not_required
async def list_models(request: HttpRequest) -> HttpResponse:
    """exo's model list, each entry also naming its catalogue slug and aliases."""
    if refusal := await sync_to_async(_refusal)(request):
        return refusal
    if request.method != "GET":
        return _error("Use GET.", "method_not_allowed", 405)
    try:
        async with httpx.AsyncClient(base_url=settings.EXO_API_URL,
                                     timeout=settings.EXO_TIMEOUT) as client:
            response = await client.get("/v1/models")
    except httpx.TransportError as exc:
        return _error(f"exo at {settings.EXO_API_URL} is not answering ({exc}).",
                      "exo_unavailable", 503)
    if response.status_code >= 400:
        return _error(f"exo refused the request: {error_message(response)}", "exo_error", 502)
    data: list[dict[str, Any]] = response.json().get("data", [])
    names = await sync_to_async(_catalogue_names)()
    for card in data:
        card["arthur_names"] = names.get(str(card.get("id")), [])
    return JsonResponse({"object": "list", "data": data})


def _catalogue_names() -> dict[str, list[str]]:
    from models_app.models import LlmModel

    return {m.exo_model_id or m.repo_id: [m.slug, *m.aliases] for m in LlmModel.objects.all()}
