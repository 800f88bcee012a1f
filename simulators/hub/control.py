"""`/_sim/*`: the simulator's own control routes (info, faults, counters, bandwidth, CDN).

Errors here use the panel's shape, {"error": {"message", "code"}}, not the Hub's.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from .bandwidth import Bandwidth
from .errors import ControlError
from .faults import FaultSpecError
from .state import sim_state


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"null")
    except json.JSONDecodeError as exc:
        raise ControlError(f"malformed JSON: {exc.msg}", code="malformed_json") from exc


async def info(request: Request) -> JSONResponse:
    state = sim_state(request)
    store = state.store
    repos = [
        {
            "id": repo.repo_id,
            "gated": repo.spec.gated,
            "sha": repo.commit,
            "shards": repo.spec.shards,
            "true_weight_bytes": repo.spec.weight_bytes,
            "served_weight_bytes": repo.served_weight_bytes,
            "files": len(repo.files),
        }
        for repo in store.repos.values()
    ]
    return JSONResponse(
        {
            "scale": str(store.scale),
            "scale_factor": float(store.scale),
            "tokens_configured": len(state.tokens),
            "bandwidth": state.bandwidth.as_json(),
            "cdn": state.cdn.as_json(),
            "tree_page_size": state.tree_page_size,
            "repos": repos,
        }
    )


async def list_faults(request: Request) -> JSONResponse:
    return JSONResponse({"faults": [f.as_json() for f in sim_state(request).faults.all()]})


async def add_faults(request: Request) -> JSONResponse:
    data = await _json_body(request)
    items = data if isinstance(data, list) else [data]
    book = sim_state(request).faults
    try:
        # Validate all first so a bad list adds nothing.
        for item in items:
            book.check(item)
        added = [book.add(item) for item in items]
    except FaultSpecError as exc:
        raise ControlError(str(exc), code="invalid_fault") from exc
    return JSONResponse({"faults": [f.as_json() for f in added]}, status_code=201)


async def clear_faults(request: Request) -> JSONResponse:
    book = sim_state(request).faults
    count = len(book.all())
    book.clear()
    return JSONResponse({"cleared": count})


async def delete_fault(request: Request) -> JSONResponse:
    fault_id = request.path_params["fault_id"]
    if not sim_state(request).faults.remove(fault_id):
        raise ControlError(f"no fault {fault_id}", code="not_found", status=404)
    return JSONResponse({"cleared": 1})


async def counters(request: Request) -> JSONResponse:
    return JSONResponse(sim_state(request).counters.as_json())


async def reset_counters(request: Request) -> JSONResponse:
    sim_state(request).counters.reset()
    return JSONResponse({"reset": True})


async def get_bandwidth(request: Request) -> JSONResponse:
    return JSONResponse(sim_state(request).bandwidth.as_json())


async def set_bandwidth(request: Request) -> JSONResponse:
    data = await _json_body(request)
    if not isinstance(data, dict):
        raise ControlError(
            'body must be {"bytes_per_second": int|null, "per": "global"|"connection"}'
        )
    rate = data.get("bytes_per_second")
    per = data.get("per", "global")
    if rate is not None and (not isinstance(rate, int) or isinstance(rate, bool) or rate <= 0):
        raise ControlError("bytes_per_second must be a positive integer or null")
    if per not in ("global", "connection"):
        raise ControlError('per must be "global" or "connection"')
    state = sim_state(request)
    state.bandwidth = Bandwidth(rate, per_connection=per == "connection")
    return JSONResponse(state.bandwidth.as_json())


async def get_cdn(request: Request) -> JSONResponse:
    return JSONResponse(sim_state(request).cdn.as_json())


async def set_cdn(request: Request) -> JSONResponse:
    """`{"ttl_seconds": n}`: how long the links signed from now on last."""
    data = await _json_body(request)
    ttl = data.get("ttl_seconds") if isinstance(data, dict) else None
    if not isinstance(ttl, (int, float)) or isinstance(ttl, bool) or ttl <= 0:
        raise ControlError('body must be {"ttl_seconds": a positive number}')
    cdn = sim_state(request).cdn
    cdn.ttl = float(ttl)
    return JSONResponse(cdn.as_json())


async def expire_cdn_links(request: Request) -> JSONResponse:
    """Every link signed so far is refused from now on (403), as once past its Expires."""
    sim_state(request).cdn.expire_all()
    return JSONResponse({"expired": True})
