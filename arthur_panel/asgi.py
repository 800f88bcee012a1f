from __future__ import annotations

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arthur_panel.settings")
# Django must be set up before anything that imports models (the routing below).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from arthur_panel.routing import websocket_urlpatterns  # noqa: E402
from cluster_app.access.tokens import BearerTokenWebsocketMiddleware  # noqa: E402


class AllowedHostsOrScriptOriginValidator(OriginValidator):
    """Browsers always send Origin, and it must be one of ALLOWED_HOSTS (no cross-site socket
    can ride on a session cookie). Scripts send none; they still have to authenticate."""

    def valid_origin(self, parsed_origin: Any) -> bool:
        return parsed_origin is None or self.validate_origin(parsed_origin)


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOrScriptOriginValidator(
            AuthMiddlewareStack(BearerTokenWebsocketMiddleware(URLRouter(websocket_urlpatterns))),
            settings.ALLOWED_HOSTS,
        ),
    }
)
