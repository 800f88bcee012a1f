"""The ASGI application: the Hub (control routes, the API, file downloads) on one port and the
CDN its LFS downloads are redirected to on another, told apart by the port a request came in on."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from . import control
from .api import models_api, search_models
from .errors import ControlError, HubError, control_error_response, hub_error_response
from .resolve import cdn_file, resolve_file
from .state import SimState


class PortDispatch:
    """Sends each connection to the CDN app when it came in on the CDN's port, else to the Hub."""

    def __init__(self, hub: Starlette, cdn: Starlette, state: SimState) -> None:
        self.hub, self.cdn, self.state = hub, cdn, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        on_cdn = scope["type"] == "http" and server is not None and server[1] == self.state.cdn.port
        app: ASGIApp = self.cdn if on_cdn else self.hub
        await app(scope, receive, send)


def create_app(state: SimState) -> PortDispatch:
    """Returns the ASGI app serving `state`'s repos; each Starlette app's `state.sim` is `state`."""
    routes = [
        Route("/_sim/info", control.info, methods=["GET"]),
        Route("/_sim/faults", control.list_faults, methods=["GET"]),
        Route("/_sim/faults", control.add_faults, methods=["POST"]),
        Route("/_sim/faults", control.clear_faults, methods=["DELETE"]),
        Route("/_sim/faults/{fault_id:int}", control.delete_fault, methods=["DELETE"]),
        Route("/_sim/counters", control.counters, methods=["GET"]),
        Route("/_sim/counters", control.reset_counters, methods=["DELETE"]),
        Route("/_sim/bandwidth", control.get_bandwidth, methods=["GET"]),
        Route("/_sim/bandwidth", control.set_bandwidth, methods=["PUT"]),
        Route("/_sim/cdn", control.get_cdn, methods=["GET"]),
        Route("/_sim/cdn", control.set_cdn, methods=["PUT"]),
        Route("/_sim/cdn/expire", control.expire_cdn_links, methods=["POST"]),
        Route("/api/models", search_models, methods=["GET"]),
        # Repo ids and revisions may hold encoded "/", so these handlers split the raw path.
        Route("/api/models/{rest:path}", models_api, methods=["GET", "POST"]),
        Route("/{rest:path}", resolve_file, methods=["GET", "HEAD"]),
    ]
    handlers = {HubError: hub_error_response, ControlError: control_error_response}
    hub = Starlette(routes=routes, exception_handlers=handlers)
    cdn = Starlette(routes=[Route("/repos/{rest:path}", cdn_file, methods=["GET", "HEAD"])],
                    exception_handlers=handlers)
    hub.state.sim = cdn.state.sim = state
    return PortDispatch(hub, cdn, state)
