"""Catalogue reads: finding a model by any of its names."""

from __future__ import annotations

from django.db.models import Q

from arthur_panel.exceptions import NotFound
from models_app.models import LlmModel


def model_by_name(name: str) -> LlmModel | None:
    """The model whose slug, repo id, exo id or alias is `name` (any case)."""
    wanted = name.strip()
    found = LlmModel.objects.filter(Q(slug__iexact=wanted) | Q(repo_id__iexact=wanted)
                                    | Q(exo_model_id__iexact=wanted)).order_by("pk").first()
    if found:
        return found
    lowered = wanted.lower()
    return next((m for m in LlmModel.objects.all()
                 if lowered in (alias.lower() for alias in m.aliases)), None)


def model_named(name: str) -> LlmModel:
    """The model `model_by_name` finds, or NotFound saying where the names are."""
    found = model_by_name(name)
    if found is None:
        raise NotFound(f"No model '{name}' in the catalogue. GET /api/v1/models/ lists them.",
                       code="unknown_model")
    return found


def exo_id_for_name(name: str) -> str | None:
    """exo's id of the catalogue model with this name, or None (registered with cluster_app)."""
    found = model_by_name(name)
    return (found.exo_model_id or found.repo_id) if found else None


def model_by_slug(slug: str) -> LlmModel:
    found = LlmModel.objects.filter(slug=slug).first()
    if found is None:
        raise NotFound(f"No model '{slug}' in the catalogue. GET /api/v1/models/ lists them.")
    return found
