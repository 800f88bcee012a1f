"""The simulator's own controls under ``/_sim``: settings, nodes, runners, downloads, files,
model cards, faults.

Not part of exo; the prefix keeps them out of the way of anything that speaks exo's API.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from . import lifecycle, speed
from .catalogue import CardError, card_from_config
from .cluster import Cluster, Node
from .errors import ApiError, check, read_json
from .faults import CONTROL_PREFIX, Faults
from .wire import VERSIONS, Wire

NUMBER_SETTINGS = ("speed", "load_time", "node_timeout", "rescan_interval", "retry_backoff")


def control_routes(cluster: Cluster, faults: Faults) -> list[Route]:
    def node_named(request: Request) -> Node:
        node = cluster.node_by_name(request.path_params["name"])
        if node is None:
            raise ApiError(404, f"No node named {request.path_params['name']}")
        return node

    def overview() -> dict[str, Any]:
        return {
            "nodes": [
                {"name": n.name, "friendly_name": n.spec.display_name,
                 "hostname": n.spec.hostname, "node_id": n.node_id, "alive": n.alive,
                 "rdma_enabled": n.spec.rdma_enabled,
                 "log_file": str(cluster.logbook.path_for(n.name))}
                for n in cluster.nodes
            ],
            "settings": settings(),
            "faults": fault_state(),
        }

    def settings() -> dict[str, Any]:
        return {"exo_version": cluster.wire.version, "speed": cluster.speed,
                "load_time": cluster.load_time, "node_timeout": cluster.node_timeout,
                "rescan_interval": cluster.rescan_interval,
                "retry_backoff": cluster.retry_backoff, "model_speeds": cluster.model_speeds,
                "answer_tokens": cluster.answer_tokens, "answer_text": cluster.answer_text,
                "reasoning_text": cluster.reasoning_text,
                "overheads": {speed.overhead_key(*key): share
                              for key, share in cluster.overheads.items()},
                "hf_endpoint": cluster.config.hf_endpoint}

    def fault_state() -> dict[str, Any]:
        return {"latency": faults.latency, "error_rate": faults.error_rate,
                "fail_load": sorted(cluster.fail_load)}

    async def optional_json(request: Request) -> dict[str, Any]:
        return await read_json(request) if await request.body() else {}

    async def get_overview(request: Request) -> JSONResponse:
        return JSONResponse(overview())

    async def get_settings(request: Request) -> JSONResponse:
        return JSONResponse(settings())

    async def set_settings(request: Request) -> JSONResponse:
        body = await read_json(request)
        check(body, {}, {**dict.fromkeys(NUMBER_SETTINGS, "number"), "model_speeds": "dict",
                         "answer_tokens": "int", "answer_text": "str", "reasoning_text": "str",
                         "exo_version": "str", "hf_endpoint": "str", "overheads": "dict"},
              choices={"exo_version": VERSIONS})
        if body.get("speed") is not None and body["speed"] <= 0:
            raise ApiError(400, "speed must be positive")
        for model_id, rate in (body.get("model_speeds") or {}).items():
            if model_id not in cluster.cards or not isinstance(rate, (int, float)) or rate <= 0:
                raise ApiError(400, f"bad model speed {model_id}={rate}")
            cluster.model_speeds[model_id] = float(rate)
        keys = {speed.overhead_key(*key): key for key in speed.OVERHEADS}
        for name, share in (body.get("overheads") or {}).items():
            if name not in keys or not isinstance(share, (int, float)) or not 0 <= share < 1:
                raise ApiError(400, f"bad overhead {name}={share}: one of {sorted(keys)}, "
                                    "a share from 0 to under 1")
            cluster.overheads[keys[name]] = float(share)
        if "answer_tokens" in body:
            # 0 or null: back to each prompt's own answer length.
            cluster.answer_tokens = max(0, body["answer_tokens"] or 0) or None
        for key in ("answer_text", "reasoning_text"):
            if key in body:
                setattr(cluster, key, body[key] or "")
        for key in NUMBER_SETTINGS:
            if body.get(key) is not None:
                setattr(cluster, key, max(0.0, float(body[key])))
        if body.get("hf_endpoint"):
            cluster.config.hf_endpoint = body["hf_endpoint"]
        if body.get("exo_version") and body["exo_version"] != cluster.wire.version:
            # Another exo on every machine: each process restarts, with ids of its format.
            cluster.wire = Wire(body["exo_version"])
            cluster.restart_all()
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

    async def set_friendly_name(request: Request) -> JSONResponse:
        node = node_named(request)
        body = await read_json(request)
        check(body, {"friendly_name": "str"})
        node.spec.friendly_name = body["friendly_name"]
        cluster.touch()
        return JSONResponse(overview())

    async def delete_files(request: Request) -> JSONResponse:
        """The model's files removed behind exo's back (by hand, in Finder)."""
        node = node_named(request)
        card = cluster.card(request.path_params["model_id"])
        if card is None:
            raise ApiError(404, f"No card for {request.path_params['model_id']}")
        cluster.disks.delete(node, card)
        return JSONResponse({"node": node.name, "model_id": card.model_id})

    async def rescan(request: Request) -> JSONResponse:
        for node in cluster.live_nodes():
            cluster.downloads.scan(node)
        return JSONResponse(overview())

    async def fail_runner(request: Request) -> JSONResponse:
        runner_id = request.path_params["runner_id"]
        instance = cluster.instance_for_runner(runner_id)
        if instance is None or not instance.runners[runner_id].status:
            raise ApiError(404, f"No runner {runner_id}")
        body = await optional_json(request)
        check(body, {}, {"reason": "str"}, choices={"reason": tuple(lifecycle.DEATHS)})
        runner = lifecycle.fail_runner(cluster, instance, runner_id,
                                       body.get("reason") or "segfault", time.monotonic())
        return JSONResponse({"runner_id": runner_id, "errorMessage": runner.error,
                             "diagnostics": runner.diagnostics})

    async def fail_download(request: Request) -> JSONResponse:
        body = await read_json(request)
        check(body, {"node": "str", "model_id": "str"}, {"message": "str"})
        node = cluster.node_by_name(body["node"])
        if node is None or body["model_id"] not in cluster.cards:
            raise ApiError(404, "Unknown node or model")
        message = body.get("message") or "Connection reset by peer while fetching from hub"
        cluster.downloads.fail(node, body["model_id"], message)
        return JSONResponse({"node": node.name, "model_id": body["model_id"], "error": message})

    async def add_card(request: Request) -> JSONResponse:
        """A card made from a config.json, as POST /models/add makes one, without a Hub."""
        body = await read_json(request)
        check(body, {"model_id": "str", "config": "dict", "total_size": "int"},
              {"shared": "bool"})
        try:
            card = card_from_config(body["model_id"], body["config"], body["total_size"])
        except CardError as error:
            raise ApiError(400, str(error)) from None
        cluster.add_card(card)
        if body.get("shared", True):
            cluster.shared_cards.add(card.model_id)
        return JSONResponse(cluster.wire.listing(card, cluster.created))

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
        Route(f"{p}/nodes/{{name}}/friendly-name", set_friendly_name, methods=["POST"]),
        Route(f"{p}/nodes/{{name}}/files/{{model_id:path}}", delete_files, methods=["DELETE"]),
        Route(f"{p}/rescan", rescan, methods=["POST"]),
        Route(f"{p}/runners/{{runner_id}}/fail", fail_runner, methods=["POST"]),
        Route(f"{p}/downloads/fail", fail_download, methods=["POST"]),
        Route(f"{p}/cards", add_card, methods=["POST"]),
    ]
