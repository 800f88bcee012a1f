"""The one place that shapes API errors: `{"error": {"message": ..., "code": ...}}`."""

from __future__ import annotations

import logging
import sys
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import DisallowedHost, RequestDataTooBig
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults
from redis import RedisError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from arthur_panel.exceptions import DomainError, NotFound

logger = logging.getLogger(__name__)
M = TypeVar("M", bound=Model)
# Redis away (restarting, say): every route counts its requests there, and jobs are sent
# through it. A moment's wait, not a bug: 503 with a hint of when to try again.
REDIS_DOWN_MESSAGE = ("Redis (the panel's queues, limits and live events) is not answering; "
                      "try again in a few seconds.")
REDIS_RETRY_SECONDS = 5


def get_or_404(queryset: QuerySet[M], label: str, **lookup: Any) -> M:
    """The one object matching `lookup`, or NotFound naming what was looked for."""
    found = queryset.filter(**lookup).first()
    if found is None:
        wanted = ", ".join(str(value) for value in lookup.values())
        raise NotFound(f"{label} {wanted} not found.")
    return found


def error_body(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "code": code}}


def _first_message(detail: Any) -> str:
    """Flatten DRF's nested validation detail into one readable sentence."""
    if isinstance(detail, dict):
        field, value = next(iter(detail.items()))
        inner = _first_message(value)
        return inner if field in ("non_field_errors", "detail") else f"{field}: {inner}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def too_large_message() -> str:
    return f"The request body is over the limit of {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body(too_large_message(), "request_too_large"),
                        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, DomainError):
        headers = None if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
        return Response(error_body(exc.message, exc.code), status=exc.status_code,
                        headers=headers)
    if isinstance(exc, RedisError):
        logger.warning("Redis did not answer: %s", exc)
        return Response(error_body(REDIS_DOWN_MESSAGE, "redis_unavailable"),
                        status=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": str(REDIS_RETRY_SECONDS)})
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled API error", exc_info=exc)
        return Response(
            error_body("Internal error; the server log has the details.", "server_error"),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, exceptions.APIException):
        code = exc.get_codes()
        code = code if isinstance(code, str) else "invalid"
        response.data = error_body(_first_message(exc.detail), code)
    return response


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(("/api/", "/v1/"))


def json_or_page(page_handler: Any, message: str, code: str, status_code: int) -> Any:
    """Wrap Django's default error handler: JSON under /api/ and /v1/, the page elsewhere."""

    def handler(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if _wants_json(request):
            return JsonResponse(error_body(message, code), status=status_code)
        return page_handler(request, *args, **kwargs)

    return handler


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400: a request Django refused before any view saw it, most often for a Host
    header not in DJANGO_ALLOWED_HOSTS; JSON under /api/ and /v1/, Django's page elsewhere."""
    if not _wants_json(request):
        return defaults.bad_request(request, exception)
    message = ("The request's Host header names a host this panel does not answer to "
               "(an admin lists the panel's names in DJANGO_ALLOWED_HOSTS)."
               if isinstance(exception, DisallowedHost) else
               "The request is malformed; the panel could not read it.")
    return JsonResponse(error_body(message, "bad_request"), status=400)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: Redis away (an exception from a page's view or from the middleware) is a
    503 that says so and reloads by itself; anything else Django's 500, JSON under /api/ and
    /v1/. Called while the exception is being handled."""
    if isinstance(sys.exc_info()[1], RedisError):
        response: HttpResponse
        if _wants_json(request):
            response = JsonResponse(error_body(REDIS_DOWN_MESSAGE, "redis_unavailable"),
                                    status=503)
        else:
            response = HttpResponse(render_to_string("503.html", {
                "message": REDIS_DOWN_MESSAGE, "retry_seconds": REDIS_RETRY_SECONDS}), status=503)
        response["Retry-After"] = str(REDIS_RETRY_SECONDS)
        return response
    return _internal_error(request)


_internal_error = json_or_page(defaults.server_error,
                               "Internal error; the server log has the details.", "server_error",
                               500)
