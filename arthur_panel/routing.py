from __future__ import annotations

from cluster_app.routing import websocket_urlpatterns as cluster_websockets

websocket_urlpatterns = [*cluster_websockets]
