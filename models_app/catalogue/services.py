"""Catalogue services: add a model from the Hub or from exo's catalogue, edit or delete one, and
give exo the card of a catalogue model it does not know. Each change is audited."""

from __future__ import annotations

import logging
import re
from typing import Any

from arthur_panel.exceptions import Conflict
from cluster_app.audit.services import audited
from cluster_app.exo.cards import card_ensure
from cluster_app.exo.client import ExoClient
from models_app.catalogue.hub import RepoMetadata, check_repo_id, repo_metadata
from models_app.models import LlmModel

MIB = 1024**2
logger = logging.getLogger(__name__)


def slug_for(repo_id: str) -> str:
    """`mlx-community/Qwen2.5-Coder-32B-Instruct-4bit` -> `qwen2.5-coder-32b-instruct-4bit`,
    made unique in the catalogue."""
    base = re.sub(r"[^a-z0-9.]+", "-", repo_id.rsplit("/", 1)[-1].lower()).strip("-.") or "model"
    slug, n = base[:70], 2
    while LlmModel.objects.filter(slug=slug).exists():
        slug, n = f"{base[:70]}-{n}", n + 1
    return slug


def _existing(repo_id: str) -> LlmModel | None:
    return LlmModel.objects.filter(repo_id__iexact=repo_id).first() or LlmModel.objects.filter(
        exo_model_id__iexact=repo_id).first()


def fields_from_metadata(meta: RepoMetadata) -> dict[str, Any]:
    config = meta.config
    heads = config.get("num_attention_heads")
    hidden = config.get("hidden_size")
    latent = None
    if config.get("kv_lora_rank"):  # DeepSeek's MLA caches a compressed latent, not full K/V
        latent = int(config["kv_lora_rank"]) + int(config.get("qk_rope_head_dim", 0))
    return {
        "parameter_count": meta.parameter_count,
        "quantization_bits": meta.quantization_bits,
        "size_bytes": meta.weights_bytes or sum(f.size for f in meta.needed_files),
        "n_layers": config.get("num_hidden_layers"),
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "num_key_value_heads": config.get("num_key_value_heads") or heads,
        "head_dim": config.get("head_dim") or (hidden // heads if hidden and heads else None),
        "kv_latent_dim": latent,
        "context_length": config.get("max_position_embeddings"),
        "gated": meta.gated,
    }


def model_add_from_hub(*, repo_id: str) -> LlmModel:
    with audited("catalogue.add", target=repo_id) as entry:
        repo_id = check_repo_id(repo_id)
        if found := _existing(repo_id):
            raise Conflict(f"{repo_id} is already in the catalogue as '{found.slug}'.",
                           code="already_in_catalogue")
        meta = repo_metadata(repo_id)
        model = LlmModel(
            slug=slug_for(meta.repo_id), display_name=meta.repo_id.rsplit("/", 1)[-1],
            repo_id=meta.repo_id, exo_model_id=meta.repo_id, source=LlmModel.Source.HUB,
            tier=LlmModel.Tier.OPTIONAL, tier_reason="Added from the Hub; the cluster guide "
            "does not rate it.", **fields_from_metadata(meta),
        )
        model.full_clean()
        model.save()
        entry.target = model.slug
    return model


def model_update(*, model: LlmModel, changes: dict[str, Any]) -> LlmModel:
    """Set `changes` (fields already validated) on `model` and save it."""
    with audited("catalogue.edit", target=model.slug, params=changes):
        for name, value in changes.items():
            setattr(model, name, value)
        model.save()
    return model


def model_delete(*, model: LlmModel) -> None:
    with audited("catalogue.delete", target=model.slug, params={"repo_id": model.repo_id}):
        model.delete()


def models_import_from_exo(*, client: ExoClient) -> list[LlmModel]:
    """Add every model of exo's own catalogue that is not in ours; returns the new ones."""
    created = []
    with audited("catalogue.import", target="exo") as entry:
        for card in client.models():
            repo_id = str(card.get("hugging_face_id") or card.get("id") or "")
            if (not repo_id or "/" not in repo_id or _existing(repo_id)
                    or _existing(str(card["id"]))):
                continue
            quantization = str(card.get("quantization") or "")
            bits = re.search(r"(\d+)\s*bit", quantization)
            model = LlmModel(
                slug=slug_for(repo_id), display_name=str(card.get("name") or repo_id),
                repo_id=repo_id, exo_model_id=str(card["id"]), source=LlmModel.Source.EXO,
                size_bytes=int(card.get("storage_size_megabytes") or 0) * MIB,
                context_length=card.get("context_length") or None,
                quantization_bits=int(bits.group(1)) if bits else None,
                tensor_parallel=LlmModel.TensorParallel.OPTIONAL if card.get("supports_tensor")
                else LlmModel.TensorParallel.NO,
                tier_reason="Imported from exo's catalogue; the cluster guide does not rate "
                "it.",
                notes=str(card.get("description") or ""),
            )
            model.full_clean()
            model.save()
            created.append(model)
        entry.params["added"] = [model.slug for model in created]
    return created


def model_exo_card_add(*, model: LlmModel, client: ExoClient) -> bool:
    """Have exo add the model's card (`POST /models/add`) unless exo has it; True when added.
    ExoCardFailed with exo's reason when exo cannot read it from the Hub."""
    with audited("catalogue.exo_card", target=model.slug) as entry:
        added = card_ensure(client, model.exo_id, logger.info)
        entry.params["added"] = added
    return added
