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


def model_by_slug(slug: str) -> LlmModel:
    found = LlmModel.objects.filter(slug=slug).first()
    if found is None:
        raise NotFound(f"No model '{slug}' in the catalogue. GET /api/v1/models/ lists them.")
    return found
