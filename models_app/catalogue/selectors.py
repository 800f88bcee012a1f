"""Catalogue reads: finding a model by any of its names, and which models exo has a card for."""

from __future__ import annotations

from django.db.models import Q

from arthur_panel.exceptions import DomainError, NotFound
from cluster_app.exo.cards import card_ids
from cluster_app.exo.client import ExoClient, ExoError, ExoUnavailable
from models_app.models import LlmModel

# A page asks exo for its cards while it renders: a down exo must not hold it up.
CARD_CHECK_TIMEOUT = 2.0


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


def catalogue_models(*, q: str = "", tier: str = "", role: str = "") -> list[LlmModel]:
    """The catalogue filtered as the Models page and `GET /api/v1/models/` both filter it: `q` in
    the slug, name, repo id or notes (any case), the tier, a role; all of them when empty."""
    models = LlmModel.objects.all()
    if q := q.strip():
        models = models.filter(Q(slug__icontains=q) | Q(display_name__icontains=q)
                               | Q(repo_id__icontains=q) | Q(notes__icontains=q))
    if tier:
        if tier not in LlmModel.Tier.values:
            raise DomainError(f"tier must be one of {', '.join(LlmModel.Tier.values)}.",
                              code="invalid_tier")
        models = models.filter(tier=tier)
    # Roles are a JSON list: filtered here, the same on SQLite and PostgreSQL.
    return [m for m in models if not role or role in m.roles]


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


def largest_model() -> tuple[str, int] | None:
    """The catalogue's largest model, (display name, bytes), or None (registered with
    cluster_app's alert rules)."""
    found = LlmModel.objects.order_by("-size_bytes").values_list("display_name", "size_bytes")
    return found.first()


def model_by_slug(slug: str) -> LlmModel:
    found = LlmModel.objects.filter(slug=slug).first()
    if found is None:
        raise NotFound(f"No model '{slug}' in the catalogue. GET /api/v1/models/ lists them.")
    return found


def exo_card_ids() -> set[str] | None:
    """The ids of the model cards exo has, or None when exo does not answer."""
    try:
        with ExoClient(retries=0, timeout=CARD_CHECK_TIMEOUT) as client:
            return card_ids(client)
    except (ExoUnavailable, ExoError):
        return None
