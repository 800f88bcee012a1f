"""Bearer tokens for scripts, over HTTP (DRF) and websockets (Channels)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from cluster_app.access.rules import READ, effective_scopes
from cluster_app.models import ApiToken

# A token's last use is written at most this often: a write per request would slow every
# proxied chat call on SQLite.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def bearer_secret(header: str) -> str | None:
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return secret.strip() or None


def token_for_secret(secret: str, address: str | None = None) -> ApiToken | None:
    """The live token with this secret, or None; its use (time to the minute, and the client's
    `address`) is recorded."""
    token = ApiToken.objects.get_for_secret(secret)
    if token is not None:
        note_use(token, address)
    return token


def note_use(token: ApiToken, address: str | None) -> None:
    """Record that `token` was used now from `address`, at most once a minute per address."""
    now = timezone.now()
    if use_due(token, address, now):
        fields: dict[str, Any] = {"last_used_at": now}
        if address:
            fields["last_used_from"] = address
        ApiToken.objects.filter(pk=token.pk).update(**fields)
        for field, value in fields.items():
            setattr(token, field, value)


def use_due(token: ApiToken, address: str | None, now: datetime) -> bool:
    """Whether a use of `token` from `address` at `now` is to be recorded (note_use)."""
    return bool(token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION
                or (address and address != token.last_used_from))


def token_for_bearer(header: str, address: str | None = None) -> ApiToken | None:
    """The live token in an `Authorization` header (its user active), or None."""
    secret = bearer_secret(header)
    return token_for_secret(secret, address) if secret else None


class BearerTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Any) -> tuple[Any, ApiToken] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if bearer_secret(header) is None:
            return None
        token = token_for_bearer(header, request.META.get("REMOTE_ADDR"))
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API token.")
        # request.auth: the key whose scopes narrow what request.user may do.
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        # Makes DRF answer 401 (not 403) to anonymous calls, telling scripts what to send.
        return 'Bearer realm="api"'


class BearerTokenWebsocketMiddleware:
    """Lets scripts open websockets with `Authorization: Bearer <token>` (a key with the read
    scope: sockets only read); the token's id and expiry go in the scope too, for the socket
    to close when the token is revoked, deleted or expires."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = dict(scope.get("headers", []))
        header = headers.get(b"authorization", b"").decode("latin-1")
        if header:
            client = scope.get("client") or [None]
            token = await database_sync_to_async(token_for_bearer)(header, client[0])
            if token is not None and READ in effective_scopes(token.scopes):
                scope = {**scope, "user": token.user, "api_token_id": token.pk,
                         "api_token_expires_at": token.expires_at}
        return await self.inner(scope, receive, send)


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI page describes the tokens: `Authorization: Bearer arthur_...`."""

    target_class = BearerTokenAuthentication
    name = "bearerToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer",
                "description": "An API key from the Keys page or `manage.py issue_token "
                               "<user>` (arthur_...); its scopes limit what it may do."}
