"""exo's HTTP API over the simulated cluster, plus the /_sim controls, as one Starlette app."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import downloads, placement, state, ticker
from .catalogue import CATALOGUE, ModelCard
from .chat import chat_completions
from .cluster import Cluster, Instance, Node
from .config import SimConfig
from .control import control_routes
from .errors import ApiError, ValidationFailed, check, error_response, read_json
from .faults import FaultMiddleware, Faults
from .generation import Generations
from .messages import create_message


def _card(model_id: str) -> ModelCard:
    card = CATALOGUE.get(model_id)
    if card is None:
        raise ApiError(404, f"Model {model_id} not found")
    return card


def _query(request: Request) -> dict[str, Any]:
    """Query parameters, with min_nodes as a number when it reads as one."""
    query: dict[str, Any] = dict(request.query_params)
    if str(query.get("min_nodes", "")).isdigit():
        query["min_nodes"] = int(query["min_nodes"])
    return query


def _command_received(card: ModelCard) -> dict[str, Any]:
    return {"message": "Command received.", "command_id": str(uuid.uuid4()),
            "model_card": card.camel()}


class ExoApi:
    """The routes exo serves; every handler reads or changes the one Cluster."""

    def __init__(self, cluster: Cluster, generations: Generations) -> None:
        self.cluster = cluster
        self.generations = generations

    def routes(self) -> list[Route]:
        return [
            Route("/node_id", self.node_id, methods=["GET"]),
            Route("/state", self.get_state, methods=["GET"]),
            Route("/state/{path:path}", self.get_state, methods=["GET"]),
            Route("/models", self.models, methods=["GET"]),
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/instance/previews", self.previews, methods=["GET"]),
            Route("/instance/placement", self.placement, methods=["GET"]),
            Route("/instance", self.create_instance, methods=["POST"]),
            Route("/instance/{instance_id}", self.get_instance, methods=["GET"]),
            Route("/instance/{instance_id}", self.delete_instance, methods=["DELETE"]),
            Route("/place_instance", self.place_instance, methods=["POST"]),
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/messages", self.messages, methods=["POST"]),
            Route("/v1/cancel/{command_id}", self.cancel, methods=["POST"]),
            Route("/download/start", self.download_start, methods=["POST"]),
            Route("/download/cancel", self.download_cancel, methods=["POST"]),
            Route("/download/{node_id}/{model_id:path}", self.download_delete,
                  methods=["DELETE"]),
        ]

    async def node_id(self, request: Request) -> JSONResponse:
        # The simulator answers as the master, the first configured node still running.
        live = self.cluster.live_nodes() or self.cluster.nodes
        if not live:
            raise ApiError(503, "No node is running")
        return JSONResponse(live[0].node_id)

    async def get_state(self, request: Request) -> JSONResponse:
        snapshot = state.render(self.cluster, time.monotonic())
        path = request.path_params.get("path", "").strip("/")
        if not path:
            return JSONResponse(snapshot)
        try:
            return JSONResponse(state.walk(snapshot, path.split("/")))
        except KeyError as missing:
            raise ApiError(404, f"unable to find path '{missing.args[0]}' in state json") from None

    async def models(self, request: Request) -> JSONResponse:
        cards = list(CATALOGUE.values())
        if request.query_params.get("status") == "downloaded":
            done = {
                model_id
                for node in self.cluster.nodes
                for model_id, download in self.cluster.downloads[node.name].items()
                if download.status == "completed"
            }
            cards = [card for card in cards if card.model_id in done]
        return JSONResponse({"object": "list", "data": [card.listing() for card in cards]})

    async def previews(self, request: Request) -> JSONResponse:
        check(dict(request.query_params), {"model_id": "str"}, where="query")
        card = _card(request.query_params["model_id"])
        required = set(request.query_params.getlist("node_ids")) or None
        return JSONResponse({"previews": placement.previews(self.cluster, card, required)})

    async def placement(self, request: Request) -> JSONResponse:
        query = {"sharding": "Pipeline", "instance_meta": "MlxRing", "min_nodes": 1,
                 **_query(request)}
        check(query, {"model_id": "str"}, {"min_nodes": "int", "sharding": "str",
                                           "instance_meta": "str"},
              choices={"sharding": placement.SHARDINGS,
                       "instance_meta": placement.INSTANCE_METAS}, where="query")
        card = _card(query["model_id"])
        try:
            instance = placement.place(self.cluster, card, query["sharding"],
                                       query["instance_meta"], query["min_nodes"])
        except placement.PlacementError as error:
            raise ApiError(400, str(error)) from None
        return JSONResponse(instance)

    async def create_instance(self, request: Request) -> JSONResponse:
        body = await read_json(request)
        check(body, {"instance": "dict"})
        tagged = body["instance"]
        card = _card(self._validate_instance(tagged))
        required, available = card.storage_bytes, self.cluster.total_available()
        if required > available:
            raise ApiError(400, "Insufficient memory to create instance. Required: "
                           f"{required / 2**30:.1f}GB, Available: {available / 2**30:.1f}GB")
        self.cluster.add_instance(tagged)
        return JSONResponse(_command_received(card))

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
            runner not in runner_to_shard for runner in node_to_runner.values()
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
        card = _card(body["model_id"])
        master = self.cluster.live_nodes()[:1]
        try:
            instance = placement.place(self.cluster, card, body["sharding"],
                                       body["instance_meta"], body["min_nodes"])
        except placement.PlacementError as error:
            # exo places later, on the master; a failure only reaches its log.
            for node in master:
                self.cluster.log(node, "placement", f"Placement failed: {error}", "WARNING")
        else:
            self.cluster.add_instance(instance)
            for node in master:
                self.cluster.log(node, "placement", f"Placed {card.model_id} as "
                                 f"{next(iter(instance))}")
        return JSONResponse(_command_received(card))

    async def chat(self, request: Request) -> Response:
        return await chat_completions(request, self.cluster, self.generations)

    async def messages(self, request: Request) -> Response:
        return await create_message(request, self.cluster, self.generations)

    async def cancel(self, request: Request) -> JSONResponse:
        command_id = request.path_params["command_id"]
        if not self.generations.cancel(command_id):
            raise ApiError(404, "Command not found or already completed")
        return JSONResponse({"message": "Command cancelled.", "command_id": command_id})

    async def download_start(self, request: Request) -> JSONResponse:
        body = await read_json(request)
        check(body, {"targetNodeId": "str", "shardMetadata": "dict"})
        shard = next(iter(body["shardMetadata"].values()), None)
        card_body = shard.get("modelCard") if isinstance(shard, dict) else None
        model_id = card_body.get("modelId") if isinstance(card_body, dict) else None
        if not isinstance(model_id, str):
            raise ApiError(400, "shardMetadata must be a tagged shard with a modelCard")
        node = self._node(body["targetNodeId"])
        _card(model_id)
        downloads.start(self.cluster, node, model_id)
        return JSONResponse({"commandId": str(uuid.uuid4())})

    async def download_cancel(self, request: Request) -> JSONResponse:
        body = await read_json(request)
        check(body, {"targetNodeId": "str", "modelId": "str"})
        node = self._node(body["targetNodeId"])
        downloads.cancel(self.cluster, node, _card(body["modelId"]).model_id)
        return JSONResponse({"commandId": str(uuid.uuid4())})

    async def download_delete(self, request: Request) -> JSONResponse:
        node = self._node(request.path_params["node_id"])
        downloads.delete(self.cluster, node, _card(request.path_params["model_id"]).model_id)
        return JSONResponse({"commandId": str(uuid.uuid4())})

    def _node(self, node_id: str) -> Node:
        node = self.cluster.node_by_id(node_id)
        if node is None:
            raise ApiError(404, f"Node {node_id} not found")
        return node


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, exc.detail)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationFailed)
    return JSONResponse({"detail": exc.details}, status_code=422)


def build_app(config: SimConfig) -> Starlette:
    """The whole simulator; ``app.state.cluster`` and ``app.state.faults`` let tests look in."""
    cluster = Cluster(config)
    faults = Faults(latency=config.latency, error_rate=config.error_rate)
    api = ExoApi(cluster, Generations())

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
        },
        lifespan=lifespan,
    )
    app.state.cluster = cluster
    app.state.faults = faults
    return app
