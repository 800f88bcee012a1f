"""exo's model id for the name a person or a script gives a model.

The catalogue (models_app) knows the panel's names (slugs, aliases, repo ids, exo ids, any case),
and cluster_app must not import it: models_app registers its resolver here when it starts, and
the load API, the placement previews and the load job ask this module. Without a catalogue, or
for a name it does not know, exo's own catalogue decides.
"""

from __future__ import annotations

from collections.abc import Callable

from arthur_panel.exceptions import NotFound
from cluster_app.exo.client import ExoClient

# A name -> exo model id, or None when the name is not the resolver's.
Resolver = Callable[[str], "str | None"]
_resolvers: list[Resolver] = []


def register_resolver(resolver: Resolver) -> None:
    if resolver not in _resolvers:
        _resolvers.append(resolver)


def catalogue_model_id(name: str) -> str | None:
    """exo's id for `name` through the registered resolvers (the catalogue), or None."""
    return next((found for resolver in _resolvers if (found := resolver(name))), None)


def exo_model_id(client: ExoClient, name: str) -> str:
    """exo's id for `name`: through the registered resolvers, else exo's catalogue (its full id,
    its `hugging_face_id`, or the repo's short name, any case); NotFound otherwise."""
    if found := catalogue_model_id(name):
        return found
    wanted = name.strip().lower()
    for card in client.models():
        ids = {str(card.get("id", "")), str(card.get("hugging_face_id") or "")}
        if wanted in {i.lower() for i in ids} or wanted in {i.lower().rsplit("/", 1)[-1]
                                                           for i in ids}:
            return str(card["id"])
    raise NotFound(f"Neither the catalogue nor exo knows a model '{name}'. GET /api/v1/models/ "
                   "lists the catalogue, GET /api/v1/cluster/models/ exo's own.",
                   code="unknown_model")
