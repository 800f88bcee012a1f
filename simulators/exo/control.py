"""The simulator's own controls under ``/_sim``: nodes, runners, downloads, faults, timings.

Not part of exo; the prefix keeps them out of the way of anything that speaks exo's API.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from . import downloads, runners
from .catalogue import CATALOGUE
from .cluster import Cluster, Node
from .errors import ApiError, check, read_json
from .faults import CONTROL_PREFIX, Faults


def control_routes(cluster: Cluster, faults: Faults) -> list[Route]:
    def node_named(request: Request) -> Node:
        node = cluster.node_by_name(request.path_params["name"])
        if node is None:
            raise ApiError(404, f"No node named {request.path_params['name']}")
        return node

    def overview() -> dict[str, Any]:
        return {
            "nodes": [
                {"name": n.name, "hostname": n.spec.hostname, "node_id": n.node_id,
                 "alive": n.alive, "rdma_enabled": n.spec.rdma_enabled,
                 "log_file": str(cluster.logbook.path_for(n.name))}
                for n in cluster.nodes
            ],
            "settings": settings(),
            "faults": fault_state(),
        }

    def settings() -> dict[str, Any]:
        return {"speed": cluster.speed, "load_time": cluster.load_time,
                "node_timeout": cluster.node_timeout, "model_speeds": cluster.model_speeds,
                "answer_tokens": cluster.answer_tokens}

    def fault_state() -> dict[str, Any]:
        return {"latency": faults.latency, "error_rate": faults.error_rate,
                "fail_load": sorted(cluster.fail_load)}

    async def get_overview(request: Request) -> JSONResponse:
        return JSONResponse(overview())

    async def get_settings(request: Request) -> JSONResponse:
        return JSONResponse(settings())

    async def set_settings(request: Request) -> JSONResponse:
        body = await read_json(request)
        check(body, {}, {"speed": "number", "load_time": "number", "node_timeout": "number",
                         "model_speeds": "dict", "answer_tokens": "int"})
        if body.get("speed") is not None and body["speed"] <= 0:
            raise ApiError(400, "speed must be positive")
        for model_id, rate in (body.get("model_speeds") or {}).items():
            if model_id not in CATALOGUE or not isinstance(rate, (int, float)) or rate <= 0:
                raise ApiError(400, f"bad model speed {model_id}={rate}")
            cluster.model_speeds[model_id] = float(rate)
        if "answer_tokens" in body:
            # 0 or null: back to each prompt's own answer length.
            cluster.answer_tokens = max(0, body["answer_tokens"] or 0) or None
        for key in ("speed", "load_time", "node_timeout"):
            if body.get(key) is not None:
                setattr(cluster, key, max(0.0, float(body[key])))
        return JSONResponse(settings())

    async def get_faults(request: Request) -> JSONResponse:
        return JSONResponse(fault_state())

    async def set_faults(request: Request) -> JSONResponse:
        body = await read_json(request)
        check(body, {}, {"latency": "number", "error_rate": "number", "fail_load": "list"})
        if body.get("latency") is not None:
            faults.latency = max(0.0, float(body["latency"]))
        if body.get("error_rate") is not None:
            faults.error_rate = min(1.0, max(0.0, float(body["error_rate"])))
        if body.get("fail_load") is not None:
            cluster.fail_load = {str(m) for m in body["fail_load"]}
        return JSONResponse(fault_state())

    async def clear_faults(request: Request) -> JSONResponse:
        faults.clear()
        cluster.fail_load.clear()
        return JSONResponse(fault_state())

    async def drop(request: Request) -> JSONResponse:
        node = node_named(request)
        if node.alive:
            cluster.drop_node(node)
        return JSONResponse(overview())

    async def revive(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        node = cluster.node_by_name(name)
        if node is not None and node.alive:
            raise ApiError(409, f"{node.name} is running")
        spec = node.spec if node is not None else cluster.spec_by_name(name)
        if spec is None:
            raise ApiError(404, f"No node named {name}")
        # exo makes a new node id at every start; an old one still listed ages out on its own.
        cluster.start_node(spec)
        return JSONResponse(overview())

    async def set_rdma(request: Request) -> JSONResponse:
        node = node_named(request)
        body = await read_json(request)
        check(body, {"enabled": "bool"})
        node.spec.rdma_enabled = body["enabled"]
        cluster.touch()
        return JSONResponse(overview())

    async def fail_runner(request: Request) -> JSONResponse:
        runner_id = request.path_params["runner_id"]
        instance = cluster.instance_for_runner(runner_id)
        if instance is None:
            raise ApiError(404, f"No runner {runner_id}")
        runners.fail_runner(cluster, instance, runner_id)
        return JSONResponse({"runner_id": runner_id, "errorMessage": runners.SEGFAULT})

    async def fail_download(request: Request) -> JSONResponse:
        body = await read_json(request)
        check(body, {"node": "str", "model_id": "str"}, {"message": "str"})
        node = cluster.node_by_name(body["node"])
        if node is None or body["model_id"] not in CATALOGUE:
            raise ApiError(404, "Unknown node or model")
        message = body.get("message") or "Connection reset by peer while fetching from hub"
        downloads.fail(cluster, node, body["model_id"], message)
        return JSONResponse({"node": node.name, "model_id": body["model_id"], "error": message})

    p = CONTROL_PREFIX
    return [
        Route(p, get_overview, methods=["GET"]),
        Route(f"{p}/settings", get_settings, methods=["GET"]),
        Route(f"{p}/settings", set_settings, methods=["POST"]),
        Route(f"{p}/faults", get_faults, methods=["GET"]),
        Route(f"{p}/faults", set_faults, methods=["POST"]),
        Route(f"{p}/faults", clear_faults, methods=["DELETE"]),
        Route(f"{p}/nodes/{{name}}/drop", drop, methods=["POST"]),
        Route(f"{p}/nodes/{{name}}/revive", revive, methods=["POST"]),
        Route(f"{p}/nodes/{{name}}/rdma", set_rdma, methods=["POST"]),
        Route(f"{p}/runners/{{runner_id}}/fail", fail_runner, methods=["POST"]),
        Route(f"{p}/downloads/fail", fail_download, methods=["POST"]),
    ]
