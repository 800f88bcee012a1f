from __future__ import annotations

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arthur_panel.settings")
# Django must be set up before anything that imports models (the routing below).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import WebsocketDenier  # noqa: E402
from django.conf import settings  # noqa: E402

from arthur_panel.origins import origin_allowed  # noqa: E402
from arthur_panel.routing import websocket_urlpatterns  # noqa: E402
from arthur_panel.web import stop_with_parent  # noqa: E402
from cluster_app.access.tokens import BearerTokenWebsocketMiddleware  # noqa: E402
from models_app.proxy.handler import with_api_key_proxy  # noqa: E402


def header_values(scope: dict[str, Any], name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in scope.get("headers", []) if key == name]


def socket_scheme(scope: dict[str, Any]) -> str:
    """ws or wss. wss also when Django takes a proxy's word that it ended TLS
    (SECURE_PROXY_SSL_HEADER: TRUST_X_FORWARDED_PROTO), as it does for every request."""
    if trusted := getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        name, secure = trusted
        said = header_values(scope, name.removeprefix("HTTP_").replace("_", "-").lower().encode())
        if said and said[0].split(",", 1)[0].strip() == secure:
            return "wss"
    return str(scope.get("scheme", "ws"))


class OriginCheck:
    """Refuses (HTTP 403, before any consumer runs) a socket opened by a page of another
    origin: no cross-site socket can ride on a session cookie (see origins.py)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        origins, hosts = header_values(scope, b"origin"), header_values(scope, b"host")
        allowed = len(origins) <= 1 and origin_allowed(
            origins[0] if origins else None, scheme=socket_scheme(scope),
            host=hosts[0] if len(hosts) == 1 else None, allowed_hosts=settings.ALLOWED_HOSTS,
            trusted_origins=settings.CSRF_TRUSTED_ORIGINS)
        if not allowed:
            return await WebsocketDenier()(scope, receive, send)
        return await self.inner(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": with_api_key_proxy(django_asgi_app),
        "websocket": OriginCheck(
            AuthMiddlewareStack(BearerTokenWebsocketMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)

stop_with_parent()  # a server process of several: it ends with uvicorn's parent
