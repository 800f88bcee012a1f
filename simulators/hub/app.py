"""The Starlette application: control routes first, then the Hub API, then file downloads."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route

from . import control
from .api import models_api, search_models
from .errors import ControlError, HubError, control_error_response, hub_error_response
from .resolve import resolve_file
from .state import SimState


def create_app(state: SimState) -> Starlette:
    """Returns the ASGI app serving `state`'s repos; `app.state.sim` is `state`."""
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
        Route("/api/models", search_models, methods=["GET"]),
        # Repo ids and revisions may hold encoded "/", so these handlers split the raw path.
        Route("/api/models/{rest:path}", models_api, methods=["GET", "POST"]),
        Route("/{rest:path}", resolve_file, methods=["GET", "HEAD"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HubError: hub_error_response, ControlError: control_error_response},
    )
    app.state.sim = state
    return app
