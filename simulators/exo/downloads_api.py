"""exo's download routes. exo only forwards them as commands to the target node's download
coordinator and answers ``{"commandId"}`` at once, known node or not."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .cluster import Cluster
from .downloads import Shard
from .errors import ValidationFailed, check, read_json

SHARD_TAGS = {"PipelineShardMetadata": "Pipeline", "TensorShardMetadata": "Tensor"}


def _command() -> JSONResponse:
    return JSONResponse({"commandId": str(uuid.uuid4())})


def _shard(tagged: dict[str, Any]) -> tuple[str, Shard | None]:
    """(model id, the layers asked for) from a tagged shard, or FastAPI's 422."""
    tag = next(iter(tagged), "") if len(tagged) == 1 else ""
    body = tagged.get(tag)
    card = body.get("modelCard") if isinstance(body, dict) else None
    model_id = card.get("modelId") if isinstance(card, dict) else None
    if tag not in SHARD_TAGS or not isinstance(body, dict) or not isinstance(model_id, str):
        raise ValidationFailed([{
            "type": "union_tag_invalid", "loc": ["body", "shardMetadata"],
            "msg": "Input should be a tagged PipelineShardMetadata or TensorShardMetadata "
                   "with a modelCard", "input": tagged}])
    try:
        shard = Shard(SHARD_TAGS[tag], int(body["deviceRank"]), int(body["worldSize"]),
                      int(body["startLayer"]), int(body["endLayer"]))
    except (KeyError, TypeError, ValueError):
        return model_id, None
    return model_id, shard


def download_routes(cluster: Cluster) -> list[Route]:
    async def start(request: Request) -> JSONResponse:
        body = await read_json(request)
        check(body, {"targetNodeId": "str", "shardMetadata": "dict"})
        model_id, shard = _shard(body["shardMetadata"])
        node = cluster.node_by_id(body["targetNodeId"])
        card = cluster.card(model_id)
        if node is not None and node.alive and card is not None:
            cluster.downloads.start(node, card, shard or Shard.whole(card))
        return _command()

    async def cancel(request: Request) -> JSONResponse:
        body = await read_json(request)
        check(body, {"targetNodeId": "str", "modelId": "str"})
        node = cluster.node_by_id(body["targetNodeId"])
        if node is not None and node.alive:
            cluster.downloads.cancel(node, body["modelId"])
        return _command()

    async def delete(request: Request) -> JSONResponse:
        node = cluster.node_by_id(request.path_params["node_id"])
        card = cluster.card(request.path_params["model_id"])
        if node is not None and node.alive and card is not None:
            cluster.downloads.delete(node, card)
        return _command()

    return [
        Route("/download/start", start, methods=["POST"]),
        Route("/download/cancel", cancel, methods=["POST"]),
        Route("/download/{node_id}/{model_id:path}", delete, methods=["DELETE"]),
    ]
