"""The OpenAPI schema beyond what drf-spectacular reads from the views: every operation's
error answers in the one error shape, and the OpenAI- and Anthropic-compatible `/v1` routes,
which are plain Django views that DRF never sees."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

ERROR_COMPONENT = "Error"
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
SECURITY: list[dict[str, list[str]]] = [{"bearerToken": []}, {"cookieAuth": []}]

# Why each error status is answered; which ones an operation documents is `error_statuses`.
ERROR_REASONS = {
    400: "Invalid input (the message names the field), a refusal the caller can act on, or a "
         "malformed request (a Host header the panel does not answer to, say).",
    401: "No credentials, or a token that is invalid or revoked.",
    403: "The caller lacks the permission the operation needs (the message names it), or a "
         "browser session's unsafe request came without its CSRF token.",
    404: "The object the path names does not exist.",
    409: "The object is not in a state that allows this (another operation is running).",
    413: "The request body is over the limit (`CHAT_MAX_REQUEST_BYTES`).",
    415: "The request body is not JSON.",
    429: "Over a rate limit (API requests per minute, of the key or of its user; the message "
         "names it, Retry-After says when to try again), or the caller's active jobs.",
    502: "exo or the Hub answered with an error.",
    503: "exo or the Hub could not be reached, or Redis is not answering (Retry-After says when "
         "to try again).",
}
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
F = TypeVar("F", bound=Callable[..., Any])


def answers(*statuses: int) -> Callable[[F], F]:
    """Declare the error statuses only this view method can answer (409, 429, 502, ...);
    those every operation of its kind can answer are added anyway (`error_statuses`)."""
    unknown = set(statuses) - set(ERROR_REASONS)
    if unknown:
        raise ValueError(f"no reason written for status {sorted(unknown)}")

    def mark(method: F) -> F:
        method.schema_errors = frozenset(statuses)  # type: ignore[attr-defined]
        return method

    return mark


class ErrorDetail(serializers.Serializer):
    message = serializers.CharField(help_text="What went wrong and what to do, in a sentence.")
    code = serializers.CharField(help_text="A short machine-readable code (`not_found`, ...).")

    class Meta:
        ref_name = "ErrorDetail"


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetail()

    class Meta:
        ref_name = ERROR_COMPONENT


def error_statuses(*, method: str, has_path_parameters: bool,
                   declared: frozenset[int]) -> list[int]:
    """The error statuses an operation can answer: those every authenticated, rate-limited
    route can (its limits are counted in Redis, and any request can be malformed), those its
    body and path make possible, and those its view method declares (`answers`)."""
    statuses = {400, 401, 403, 429, 503} | declared
    if method in UNSAFE:
        statuses |= {413, 415}
    if has_path_parameters:
        statuses.add(404)
    return sorted(statuses)


class ArthurAutoSchema(AutoSchema):
    """drf-spectacular's schema, with the error answers of every operation."""

    def _get_response_bodies(self, direction: Literal["request", "response"] = "response"
                             ) -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        method = getattr(self.view, self.method.lower(), None)
        declared: frozenset[int] = getattr(method, "schema_errors", frozenset())
        places = {parameter["in"] for parameter in self._get_parameters()}
        for status_code in error_statuses(method=self.method,
                                          has_path_parameters="path" in places,
                                          declared=declared):
            if str(status_code) not in responses:
                responses[str(status_code)] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=ERROR_REASONS[status_code]),
                    str(status_code))
        return responses


def _error_responses(*statuses: int) -> dict[str, Any]:
    return {str(code): {"description": ERROR_REASONS[code],
                        "content": {"application/json": {"schema": ERROR_REF}}}
            for code in statuses}


def _chat_operation(summary: str, operation_id: str, required: list[str]) -> dict[str, Any]:
    """A `/v1` chat operation: exo's own request and answer, which the panel passes through."""
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": ["v1"],
        "security": SECURITY,
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": required,
            "properties": {
                "model": {"type": "string", "description": "Any name of a loaded model, or "
                                                           "`auto` (the router)."},
                "messages": {"type": "array", "items": {"type": "object"}},
                "stream": {"type": "boolean"},
                "max_tokens": {"type": "integer", "minimum": 1},
                "task": {"type": "string", "description": "For `auto`: coding, quick, fast, "
                                                          "testing."},
            },
        }}}},
        "responses": {
            "200": {"description": "exo's answer, or its stream (`stream: true`).",
                    "content": {"application/json": {"schema": {"type": "object"}},
                                "text/event-stream": {"schema": {"type": "string"}}}},
            **_error_responses(400, 401, 403, 404, 413, 429, 502, 503),
        },
    }


PROXY_PATHS: dict[str, dict[str, Any]] = {
    "/v1/models": {"get": {
        "operationId": "v1_models_list",
        "summary": "The models exo can serve, and the catalogue's names for them.",
        "tags": ["v1"],
        "security": SECURITY,
        "responses": {
            "200": {"description": "OpenAI's model list.",
                    "content": {"application/json": {"schema": {
                        "type": "object", "required": ["data"],
                        "properties": {"object": {"type": "string"},
                                       "data": {"type": "array", "items": {"type": "object"}}},
                    }}}},
            **_error_responses(400, 401, 403, 502, 503),
        },
    }},
    "/v1/chat/completions": {"post": _chat_operation(
        "OpenAI's chat completions, proxied to exo.", "v1_chat_completions",
        ["model", "messages"])},
    "/v1/messages": {"post": _chat_operation(
        "Anthropic's Messages API (Claude Code), proxied to exo. Errors also carry Anthropic's "
        "`type` fields.", "v1_messages", ["model", "messages", "max_tokens"])},
}


def add_proxy_paths(result: dict[str, Any], generator: Any, request: Any, public: bool
                    ) -> dict[str, Any]:
    """Postprocessing hook: the `/v1` routes beside the API's own."""
    result["paths"] = {**result.get("paths", {}), **PROXY_PATHS}
    return result
