"""What exo asks the Hugging Face Hub (``HF_ENDPOINT``): a repo's config.json and safetensors
index to make a custom card, and a model search. Plain HTTP, as exo's own downloader does; the
error texts are exo's."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from .catalogue import CardError, ModelCard, card_from_config

TIMEOUT = httpx.Timeout(15.0)
SEARCH_AUTHOR = "mlx-community"  # exo searches mlx-community first, then the whole Hub


class HubFetchError(Exception):
    """exo could not make a card; the message is the exception text exo reports."""


@dataclass(frozen=True)
class Hub:
    endpoint: str
    token: str = ""

    def _client(self) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.AsyncClient(base_url=self.endpoint.rstrip("/"), headers=headers,
                                 timeout=TIMEOUT)

    async def fetch_card(self, model_id: str) -> ModelCard:
        """The custom card exo's ``ModelCard.fetch_from_hf`` makes for ``model_id``."""
        try:
            async with self._client() as client:
                config = await self._json_file(client, model_id, "config.json")
                index = await self._json_file(client, model_id, "model.safetensors.index.json")
                metadata = index.get("metadata") if isinstance(index, dict) else None
                total = metadata.get("total_size") if isinstance(metadata, dict) else None
                if not isinstance(total, int) or total <= 0:
                    total = await self._safetensors_total(client, model_id)
                return card_from_config(model_id, config, total)
        except (CardError, HubFetchError) as error:
            raise HubFetchError(str(error)) from error
        except httpx.HTTPError as error:
            raise HubFetchError(f"Cannot connect to host {self.endpoint}: {error}") from error

    async def _json_file(self, client: httpx.AsyncClient, model_id: str, path: str) -> Any:
        url = f"{self.endpoint.rstrip('/')}/{model_id}/resolve/main/{path}"
        head = await client.head(f"/{model_id}/resolve/main/{path}")
        if head.status_code in (401, 403):
            raise HubFetchError(_auth_message(head.status_code, model_id, bool(self.token)))
        if head.status_code >= 400 or not head.headers.get("etag"):
            raise HubFetchError(f"No remote hash for {url}")
        response = await client.get(f"/{model_id}/resolve/main/{path}")
        if response.status_code == 404:
            raise HubFetchError(f"File not found: {url}")
        if response.status_code != 200:
            raise HubFetchError(f"Failed to download {path} from {url}: {response.status_code}")
        try:
            return json.loads(response.content)
        except ValueError as error:
            raise HubFetchError(f"Invalid JSON in {path}: {error}") from error

    async def _safetensors_total(self, client: httpx.AsyncClient, model_id: str) -> int:
        response = await client.get(f"/api/models/{model_id}")
        info = response.json() if response.status_code == 200 else {}
        total = (info.get("safetensors") or {}).get("total") if isinstance(info, dict) else None
        if not isinstance(total, int):
            raise HubFetchError(f"No safetensors info found for {model_id}")
        return total

    async def search(self, query: str, limit: int) -> list[dict[str, Any]]:
        """exo's ``/models/search``: mlx-community's repos by downloads, else the whole Hub."""
        async with self._client() as client:
            for author in (SEARCH_AUTHOR, None):
                params: dict[str, Any] = {"sort": "downloads", "direction": -1, "limit": limit}
                if query:
                    params["search"] = query
                if author:
                    params["author"] = author
                response = await client.get("/api/models", params=params)
                response.raise_for_status()
                found = [_result(item) for item in response.json() if isinstance(item, dict)]
                if found:
                    return found
        return []


def _result(item: dict[str, Any]) -> dict[str, Any]:
    """One HuggingFaceSearchResult as exo answers it."""
    modified = item.get("lastModified")
    return {
        "id": item.get("id") or item.get("modelId") or "",
        "author": item.get("author") or "",
        "downloads": item.get("downloads") or 0,
        "likes": item.get("likes") or 0,
        # exo writes the datetime huggingface_hub parsed, with str().
        "last_modified": str(datetime.fromisoformat(modified))
        if isinstance(modified, str) and modified else "",
        "tags": list(item.get("tags") or []),
    }


def _auth_message(status: int, model_id: str, has_token: bool) -> str:
    if status == 401 and not has_token:
        return (f"Model '{model_id}' requires authentication. Set HF_TOKEN in the app's "
                "Advanced settings, set the HF_TOKEN environment variable, or run `hf auth "
                "login`. Get a token at https://huggingface.co/settings/tokens")
    if status == 403:
        return (f"Access denied to '{model_id}'. Please accept the model terms at "
                f"https://huggingface.co/{model_id}")
    return f"Authentication failed for '{model_id}' (HTTP {status})"
