"""Who is acting: the request being served, kept for the audit services, which run far from
the view (job services, signal receivers)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from cluster_app.access.tokens import bearer_secret
from cluster_app.models import ApiToken

_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)
RECORDED = "_audit_recorded"


@dataclass(frozen=True)
class Actor:
    user: Any
    token: ApiToken | None
    address: str | None
    request: HttpRequest | None


def current_actor(*, user: Any = None, request: HttpRequest | None = None) -> Actor:
    """Who is acting: `user` if given, else the request's user; the API token the request
    came with; its address (the socket's, as the login throttling reads it)."""
    request = request or _request.get()
    if request is None:
        return Actor(user, None, None, None)
    if user is None:
        user = getattr(request, "user", None)
    if user is not None and not user.is_authenticated:
        user = None
    secret = bearer_secret(request.META.get("HTTP_AUTHORIZATION", ""))
    token = ApiToken.objects.get_for_secret(secret) if secret else None
    return Actor(user, token, request.META.get("REMOTE_ADDR") or None, request)


def mark_recorded(request: HttpRequest | None) -> None:
    if request is not None:
        setattr(request, RECORDED, True)


@contextmanager
def serving(request: HttpRequest) -> Iterator[None]:
    """Makes `request` the one the audit services see while it is served."""
    reset = _request.set(request)
    try:
        yield
    finally:
        _request.reset(reset)
