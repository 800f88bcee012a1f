"""exo's model-card routes: ``/models`` and ``/v1/models``, ``POST /models/add``,
``DELETE /models/custom/{model_id}``, ``GET /models/search``; and how exo loads a card it does not
know (from the Hub, as a custom card) when a placement or instance asks for one."""

from __future__ import annotations

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .catalogue import ModelCard
from .cluster import Cluster
from .errors import ApiError, Unhandled, ValidationFailed, check, read_json
from .hub import Hub, HubFetchError

SEARCH_LIMIT = 20


class ModelsApi:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    @property
    def hub(self) -> Hub:
        return Hub(self.cluster.config.hf_endpoint, self.cluster.config.hf_token)

    def routes(self) -> list[Route]:
        return [
            Route("/models", self.models, methods=["GET"]),
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/models/add", self.add, methods=["POST"]),
            Route("/models/custom/{model_id:path}", self.delete_custom, methods=["DELETE"]),
            Route("/models/search", self.search, methods=["GET"]),
        ]

    async def load_card(self, model_id: str) -> ModelCard:
        """exo's ``ModelCard.load``: a known card, else one fetched from the Hub and kept as a
        custom card; raises HubFetchError when the Hub has none."""
        card = self.cluster.card(model_id)
        if card is None:
            card = await self.hub.fetch_card(model_id)
            self.cluster.add_card(card)
        return card

    async def card_or_500(self, model_id: str) -> ModelCard:
        """Where exo loads a card without catching the failure: a plain 500."""
        try:
            return await self.load_card(model_id)
        except HubFetchError as error:
            raise Unhandled(str(error)) from error

    async def models(self, request: Request) -> JSONResponse:
        cards = list(self.cluster.cards.values())
        if request.query_params.get("status") == "downloaded":
            done = {
                model_id
                for node in self.cluster.nodes
                for model_id, entry in self.cluster.downloads.of(node).items()
                if entry.status == "completed"
            }
            cards = [card for card in cards if card.model_id in done]
        wire, created = self.cluster.wire, self.cluster.created
        return JSONResponse({"object": "list",
                             "data": [wire.listing(card, created) for card in cards]})

    async def add(self, request: Request) -> JSONResponse:
        body = await read_json(request)
        check(body, {"model_id": "str"})
        try:
            card = await self.hub.fetch_card(body["model_id"])
        except HubFetchError as error:
            raise ApiError(400, f"Failed to fetch model: {error}") from None
        # A custom card replaces a built-in one of the same id, as in exo's card cache.
        self.cluster.add_card(card)
        self.cluster.shared_cards.add(card.model_id)
        return JSONResponse(self.cluster.wire.added(card, self.cluster.created))

    async def delete_custom(self, request: Request) -> JSONResponse:
        model_id = request.path_params["model_id"]
        card = self.cluster.card(model_id)
        if card is None or not card.is_custom:
            raise ApiError(404, "Custom model card not found")
        self.cluster.remove_card(model_id)
        return JSONResponse({"message": "Model card deleted", "model_id": model_id})

    async def search(self, request: Request) -> JSONResponse:
        query = request.query_params.get("query", "")
        limit_text = request.query_params.get("limit", str(SEARCH_LIMIT))
        try:
            limit = int(limit_text)
        except ValueError:
            raise ValidationFailed([{
                "type": "int_parsing", "loc": ["query", "limit"], "input": limit_text,
                "msg": "Input should be a valid integer, unable to parse string as an integer",
            }]) from None
        try:
            found = await self.hub.search(query, limit)
        except (httpx.HTTPError, ValueError) as error:
            # exo lets huggingface_hub's errors through: a plain 500.
            raise Unhandled(str(error)) from error
        return JSONResponse(found)
