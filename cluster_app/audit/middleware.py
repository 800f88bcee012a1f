"""The one place refusals raised outside the audited services (a missing permission checked
in a view, a lockout, DRF's own refusals) are recorded, and where the request is kept for the
services to see who acts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware

from cluster_app.audit.context import RECORDED, serving
from cluster_app.audit.services import record

# Refusals worth recording: forbidden, conflicting, too many. A 400 is a typo, not an act.
REFUSAL_STATUSES = (403, 409, 429)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _refusal_message(response: HttpResponse) -> str:
    data = getattr(response, "data", None)
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return str(data["error"].get("message", ""))
    return response.reason_phrase


def _unrecorded_refusal(request: HttpRequest, response: HttpResponse) -> bool:
    return (request.method not in SAFE_METHODS and response.status_code in REFUSAL_STATUSES
            and not getattr(request, RECORDED, False))


def _note_refusal(request: HttpRequest, response: HttpResponse) -> None:
    match = request.resolver_match
    record(action=match.view_name if match else "request",
           target=request.path, outcome="refused", request=request,
           message=f"{response.status_code}: {_refusal_message(response)}")


@sync_and_async_middleware
def audit_middleware(get_response: Callable[[HttpRequest], Any]) -> Any:
    """Keeps the request for the audit services and records a refused state-changing request
    that no service recorded itself."""
    if iscoroutinefunction(get_response):
        async def async_middleware(request: HttpRequest) -> HttpResponse:
            with serving(request):
                response = await get_response(request)
            if _unrecorded_refusal(request, response):  # rare: no hop to a thread otherwise
                await sync_to_async(_note_refusal)(request, response)
            return response
        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponse:
        with serving(request):
            response = get_response(request)
        if _unrecorded_refusal(request, response):
            _note_refusal(request, response)
        return response
    return middleware


