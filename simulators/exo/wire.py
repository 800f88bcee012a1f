"""exo's JSON for one version: release 1.0.71 or the main branch.

What differs between them, as exo's pydantic models write it: main's model cards carry
``backends`` and ``reasoningDialect``, its ``RunnerReady`` a ``prefillServerPort`` and its
``RunnerFailed`` a ``diagnostics`` list, its ``/state`` four more maps, its listings a
``reasoning_dialect``; main drops null fields from chat answers (exo PR 2092) where 1.0.71
writes them; 1.0.71 names nodes by libp2p peer id, main by 32 hex characters.
"""

from __future__ import annotations

import random
from typing import Any

from .catalogue import TEXT_GENERATION, ModelCard

VERSIONS = ("1.0.71", "main")
MAIN = "main"
_SAMPLING_KEYS = ("temperature", "topP", "topK", "minP", "repetitionPenalty", "presencePenalty",
                  "frequencyPenalty", "thinking", "nonThinking")
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
# An ed25519 public key wrapped as libp2p does: identity multihash of its protobuf.
_PEER_ID_PREFIX = bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])


def base58(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    digits = ""
    while number:
        number, rest = divmod(number, 58)
        digits = _BASE58[rest] + digits
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + digits


def exclude_none(value: Any) -> Any:
    """A document without its null fields, as pydantic's ``exclude_none`` writes it."""
    if isinstance(value, dict):
        return {k: exclude_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [exclude_none(v) for v in value]
    return value


class Wire:
    def __init__(self, version: str) -> None:
        if version not in VERSIONS:
            raise ValueError(f"exo version must be one of {', '.join(VERSIONS)}, got {version!r}")
        self.version = version

    @property
    def main(self) -> bool:
        return self.version == MAIN

    def new_node_id(self, rng: random.Random) -> str:
        if self.main:
            # 16 random bytes in hex, leading zeros stripped, as exo's get_node_zid does.
            return f"{rng.getrandbits(128):032x}".lstrip("0")
        return base58(_PEER_ID_PREFIX + rng.getrandbits(256).to_bytes(32, "big"))

    def card(self, card: ModelCard) -> dict[str, Any]:
        """The nested camelCase card exo puts in shards, downloads and API answers."""
        sampling: dict[str, Any] = dict.fromkeys(_SAMPLING_KEYS)
        sampling.update({"temperature": card.sampling.get("temperature"),
                         "topP": card.sampling.get("top_p")})
        body: dict[str, Any] = {
            "modelId": card.model_id,
            "storageSize": {"inBytes": card.storage_bytes},
            "nLayers": card.n_layers,
            "hiddenSize": card.hidden_size,
            "supportsTensor": card.supports_tensor,
            "numKeyValueHeads": card.num_key_value_heads,
            "tasks": [TEXT_GENERATION],
            "components": None,
            "family": card.family,
            "quantization": card.quantization,
            "baseModel": card.base_model,
            "capabilities": list(card.capabilities),
        }
        if self.main:
            body["backends"] = list(card.backends)
            body["reasoningDialect"] = card.reasoning_dialect
        body.update({
            "contextLength": card.context_length,
            "usesCfg": False,
            "trustRemoteCode": card.trust_remote_code,
            "isCustom": card.is_custom,
            "vision": None,
            "samplingDefaults": sampling,
        })
        return body

    def listing(self, card: ModelCard, created: int) -> dict[str, Any]:
        """One entry of ``GET /models``, snake_case at this level."""
        entry: dict[str, Any] = {
            "id": card.model_id,
            "object": "model",
            "created": created,
            "owned_by": "exo",
            "hugging_face_id": card.model_id,
            "name": card.short_name,
            "description": "",
            "context_length": card.context_length,
            "tags": [],
            "storage_size_megabytes": card.storage_megabytes,
            "supports_tensor": card.supports_tensor,
            "tasks": [TEXT_GENERATION],
            "is_custom": card.is_custom,
            "family": card.family,
            "quantization": card.quantization,
            "base_model": card.base_model,
            "capabilities": list(card.capabilities),
        }
        if self.main:
            entry["reasoning_dialect"] = card.reasoning_dialect
        return entry

    def added(self, card: ModelCard, created: int) -> dict[str, Any]:
        """``POST /models/add``'s answer: exo fills only some fields, the rest keep defaults."""
        entry = self.listing(card, created)
        entry.update(context_length=0, family="", quantization="", base_model="",
                     capabilities=[], is_custom=True)
        if self.main:
            entry["reasoning_dialect"] = "none"
        return entry

    def shard(self, card: ModelCard, sharding: str, rank: int, world: int, start: int, end: int
              ) -> dict[str, Any]:
        tag = "TensorShardMetadata" if sharding == "Tensor" else "PipelineShardMetadata"
        return {tag: {
            "modelCard": self.card(card),
            "deviceRank": rank,
            "worldSize": world,
            "immediateException": False,
            "shouldTimeout": None,
            "startLayer": start,
            "endLayer": end,
            "nLayers": card.n_layers,
        }}

    def runner_ready(self) -> dict[str, Any]:
        return {"RunnerReady": {"prefillServerPort": None} if self.main else {}}

    def runner_failed(self, message: str, diagnostics: list[dict[str, Any]]) -> dict[str, Any]:
        body: dict[str, Any] = {"errorMessage": message}
        if self.main:
            body["diagnostics"] = diagnostics
        return {"RunnerFailed": body}

    def chat(self, document: dict[str, Any]) -> dict[str, Any]:
        """A chat answer built with every field: main drops the nulls, 1.0.71 keeps them."""
        return exclude_none(document) if self.main else document
