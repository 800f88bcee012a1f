"""exo's HTTP API over the simulated cluster, plus the /_sim controls, as one Starlette app."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from . import placement, state, ticker
from .bench import bench_chat
from .catalogue import ModelCard
from .chat import STREAM_HEADERS, chat_completions
from .cluster import Cluster, Instance
from .config import SimConfig
from .control import control_routes
from .downloads_api import download_routes
from .errors import (
    ApiError,
    Unhandled,
    ValidationFailed,
    check,
    error_response,
    read_json,
)
from .faults import FaultMiddleware, Faults
from .generation import Generations, with_keepalive
from .hub import HubFetchError
from .messages import create_message
from .models_api import ModelsApi
from .snake import snake_instance

AWAIT_POLL_SECONDS = 0.1  # how often exo's /instance/await looks for the instance
AWAIT_MAX_SECONDS = 300.0


def _query(request: Request) -> dict[str, Any]:
    """Query parameters, with min_nodes as a number when it reads as one."""
    query: dict[str, Any] = dict(request.query_params)
    if str(query.get("min_nodes", "")).isdigit():
        query["min_nodes"] = int(query["min_nodes"])
    return query


def _timeout_seconds(text: str) -> float:
    """``timeout_seconds``: a number from 0 to 300, else FastAPI's 422."""
    try:
        value = float(text)
    except ValueError:
        detail = {"type": "float_parsing",
                  "msg": "Input should be a valid number, unable to parse string as a number"}
    else:
        if 0 <= value <= AWAIT_MAX_SECONDS:
            return value
        detail = ({"type": "greater_than_equal", "msg": "Input should be greater than or "
                   "equal to 0"} if value < 0 else
                  {"type": "less_than_equal", "msg": "Input should be less than or equal to "
                   f"{AWAIT_MAX_SECONDS:g}"})
    raise ValidationFailed([{**detail, "loc": ["query", "timeout_seconds"], "input": text}])


class ExoApi:
    """The routes exo serves; every handler reads or changes the one Cluster."""

    def __init__(self, cluster: Cluster, generations: Generations) -> None:
        self.cluster = cluster
        self.generations = generations
        self.models = ModelsApi(cluster)

    def routes(self) -> list[Route]:
        return [
            Route("/node_id", self.node_id, methods=["GET"]),
            Route("/state", self.get_state, methods=["GET"]),
            Route("/state/{path:path}", self.get_state, methods=["GET"]),
            *self.models.routes(),
            Route("/instance/previews", self.previews, methods=["GET"]),
            Route("/instance/placement", self.placement, methods=["GET"]),
            Route("/instance/await", self.await_instance, methods=["GET"]),
            Route("/instance", self.create_instance, methods=["POST"]),
            Route("/instance/{instance_id}", self.get_instance, methods=["GET"]),
            Route("/instance/{instance_id}", self.delete_instance, methods=["DELETE"]),
            Route("/place_instance", self.place_instance, methods=["POST"]),
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/bench/chat/completions", self.bench, methods=["POST"]),
            Route("/v1/messages", self.messages, methods=["POST"]),
            Route("/v1/cancel/{command_id}", self.cancel, methods=["POST"]),
            *download_routes(self.cluster),
        ]

    async def node_id(self, request: Request) -> JSONResponse:
        # The simulator answers as the master, the first configured node still running.
        live = self.cluster.live_nodes() or self.cluster.nodes
        if not live:
            raise ApiError(503, "No node is running")
        return JSONResponse(live[0].node_id)

    async def get_state(self, request: Request) -> JSONResponse:
        snapshot = state.render(self.cluster)
        path = request.path_params.get("path", "").strip("/")
        if not path:
            return JSONResponse(snapshot)
        try:
            return JSONResponse(state.walk(snapshot, path.split("/")))
        except KeyError as missing:
            raise ApiError(404, f"unable to find path '{missing.args[0]}' in state json") from None

    async def previews(self, request: Request) -> JSONResponse:
        check(dict(request.query_params), {"model_id": "str"}, where="query")
        if not self.cluster.live_nodes():
            return JSONResponse({"previews": []})
        try:
            card = await self.models.load_card(request.query_params["model_id"])
        except HubFetchError as error:
            raise ApiError(400, f"Failed to load model card: {error}") from None
        required = set(request.query_params.getlist("node_ids")) or None
        return JSONResponse({"previews": placement.previews(self.cluster, card, required)})

    async def placement(self, request: Request) -> JSONResponse:
        query = {"sharding": "Pipeline", "instance_meta": "MlxRing", "min_nodes": 1,
                 **_query(request)}
        check(query, {"model_id": "str"}, {"min_nodes": "int", "sharding": "str",
                                           "instance_meta": "str"},
              choices={"sharding": placement.SHARDINGS,
                       "instance_meta": placement.INSTANCE_METAS}, where="query")
        card = await self.models.card_or_500(query["model_id"])
        try:
            instance = placement.place(self.cluster, card, query["sharding"],
                                       query["instance_meta"], query["min_nodes"])
        except placement.PlacementError as error:
            raise ApiError(400, str(error)) from None
        return JSONResponse(instance)

    async def await_instance(self, request: Request) -> Response:
        if not self.cluster.wire.main:
            # 1.0.71 has no such route: the path is read as an instance id.
            raise ApiError(404, "Instance not found")
        query: dict[str, Any] = {"timeout_seconds": "0", **dict(request.query_params)}
        check(query, {"model_id": "str"}, where="query")
        timeout = _timeout_seconds(query["timeout_seconds"])
        return StreamingResponse(with_keepalive(self._await(query["model_id"], timeout)),
                                 media_type="text/event-stream", headers=STREAM_HEADERS)

    async def _await(self, model_id: str, timeout: float) -> AsyncIterator[str]:
        """One message once an instance of the model exists (ready or not), or at timeout."""
        deadline = None if timeout == 0 else time.monotonic() + timeout
        while True:
            found = next((i for i in self.cluster.instances.values()
                          if i.model_id == model_id), None)
            if found is not None:
                message = {"type": "ready", "instance": snake_instance(found.tagged)}
                yield f"data: {json.dumps(message, separators=(',', ':'))}\n\n"
                return
            if deadline is not None and time.monotonic() >= deadline:
                message = {"type": "timeout", "message": f"No instance found for model {model_id}"}
                yield f"data: {json.dumps(message, separators=(',', ':'))}\n\n"
                return
            wait = AWAIT_POLL_SECONDS if deadline is None else min(
                AWAIT_POLL_SECONDS, max(0.0, deadline - time.monotonic()))
            await asyncio.sleep(wait)

    async def create_instance(self, request: Request) -> JSONResponse:
        body = await read_json(request)
        check(body, {"instance": "dict"})
        tagged = body["instance"]
        card = await self.models.card_or_500(self._validate_instance(tagged))
        required, available = card.storage_bytes, self.cluster.total_available()
        if required > available:
            raise ApiError(400, "Insufficient memory to create instance. Required: "
                           f"{required / 2**30:.1f}GB, Available: {available / 2**30:.1f}GB")
        self.cluster.add_instance(tagged, card)
        return JSONResponse(self._command_received(card))

    def _command_received(self, card: ModelCard) -> dict[str, Any]:
        return {"message": "Command received.", "command_id": str(uuid.uuid4()),
                "model_card": self.cluster.wire.card(card)}

    def _validate_instance(self, tagged: dict[str, Any]) -> str:
        """Check the tagged instance's shape and nodes; return its model id."""
        meta = next(iter(tagged), "") if len(tagged) == 1 else ""
        body = tagged.get(meta)
        if meta not in ("MlxRingInstance", "MlxJacclInstance") or not isinstance(body, dict):
            raise ApiError(400, "instance must be one of MlxRingInstance, MlxJacclInstance")
        try:
            assignments = body["shardAssignments"]
            model_id = str(assignments["modelId"])
            node_to_runner = assignments["nodeToRunner"]
            runner_to_shard = assignments["runnerToShard"]
            str(body["instanceId"])
        except (KeyError, TypeError):
            raise ApiError(400, "instance needs instanceId and shardAssignments "
                           "{modelId, runnerToShard, nodeToRunner}") from None
        if not isinstance(node_to_runner, dict) or not node_to_runner or any(
            not isinstance(runner_to_shard.get(runner), dict) or len(runner_to_shard[runner]) != 1
            for runner in node_to_runner.values()
        ):
            raise ApiError(400, "every runner in nodeToRunner needs a shard in runnerToShard")
        for node_id in node_to_runner:
            node = self.cluster.node_by_id(node_id)
            if node is None or not node.alive:
                raise ApiError(400, f"Node {node_id} is not in the cluster")
        return model_id

    async def get_instance(self, request: Request) -> JSONResponse:
        return JSONResponse(self._instance(request).tagged)

    async def delete_instance(self, request: Request) -> JSONResponse:
        instance = self._instance(request)
        self.cluster.delete_instance(instance)
        return JSONResponse({"message": "Command received.", "command_id": str(uuid.uuid4()),
                             "instance_id": instance.instance_id})

    def _instance(self, request: Request) -> Instance:
        instance = self.cluster.instances.get(request.path_params["instance_id"])
        if instance is None:
            raise ApiError(404, "Instance not found")
        return instance

    async def place_instance(self, request: Request) -> JSONResponse:
        body = await read_json(request)
        body = {"sharding": "Pipeline", "instance_meta": "MlxRing", "min_nodes": 1, **body}
        check(body, {"model_id": "str"}, {"min_nodes": "int", "sharding": "str",
                                          "instance_meta": "str"},
              choices={"sharding": placement.SHARDINGS,
                       "instance_meta": placement.INSTANCE_METAS})
        card = await self.models.card_or_500(body["model_id"])
        master = self.cluster.live_nodes()[:1]
        try:
            instance = placement.place(self.cluster, card, body["sharding"],
                                       body["instance_meta"], body["min_nodes"])
        except placement.PlacementError as error:
            # exo places later, on the master; a failure only reaches its log.
            for node in master:
                self.cluster.log(node, "placement", f"Placement failed: {error}", "WARNING")
        else:
            self.cluster.add_instance(instance, card)
            for node in master:
                self.cluster.log(node, "placement", f"Placed {card.model_id} as "
                                 f"{next(iter(instance))}")
        return JSONResponse(self._command_received(card))

    async def chat(self, request: Request) -> Response:
        return await chat_completions(request, self.cluster, self.generations)

    async def bench(self, request: Request) -> Response:
        return await bench_chat(request, self.cluster, self.generations)

    async def messages(self, request: Request) -> Response:
        return await create_message(request, self.cluster, self.generations)

    async def cancel(self, request: Request) -> JSONResponse:
        command_id = request.path_params["command_id"]
        if not self.generations.cancel(command_id):
            raise ApiError(404, "Command not found or already completed")
        return JSONResponse({"message": "Command cancelled.", "command_id": command_id})


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, exc.detail)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationFailed)
    return JSONResponse({"detail": exc.details}, status_code=422)


async def _unhandled(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("Internal Server Error", status_code=500)


def build_app(config: SimConfig) -> Starlette:
    """The whole simulator; ``app.state`` holds its cluster, faults and running commands for
    tests to look in."""
    cluster = Cluster(config)
    faults = Faults(latency=config.latency, error_rate=config.error_rate)
    generations = Generations()
    api = ExoApi(cluster, generations)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(ticker.run(cluster))
        try:
            yield
        finally:
            task.cancel()

    app = Starlette(
        routes=api.routes() + control_routes(cluster, faults),
        middleware=[
            # exo accepts any origin, without authentication.
            Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"],
                       allow_headers=["*"]),
            Middleware(FaultMiddleware, faults=faults),
        ],
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            ValidationFailed: _validation_error,
            Unhandled: _unhandled,
        },
        lifespan=lifespan,
    )
    app.state.cluster = cluster
    app.state.faults = faults
    app.state.generations = generations
    return app
