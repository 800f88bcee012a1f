"""One proxied request as the proxy's modules share it (`Call`), the error that answers it
(`ProxyError`, as JSON in OpenAI's or Anthropic's shape), and the pool its sync work runs on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.http import JsonResponse

from arthur_panel.errors import error_body
from cluster_app.access import throttle
from cluster_app.models import ApiToken

T = TypeVar("T")


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


@dataclass(eq=False)  # each request is itself: held in a WeakSet (relay._HELD)
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
