"""exo's model cards: exo places, loads and lists downloads only for models it has a card for,
its built-in ones and those added with `POST /models/add` (read from the Hub). A catalogue model
exo has no card for (Qwen2.5-Coder-32B, Mistral Large 2407, Mixtral 8x22B in the guide) is added
before anything asks exo to handle it."""

from __future__ import annotations

from collections.abc import Callable

from arthur_panel.exceptions import DomainError
from cluster_app.exo.client import ExoClient, ExoError


class ExoCardFailed(DomainError):
    """exo answered `POST /models/add` with an error: it could not read the card from the Hub."""

    status_code = 502
    code = "exo_card_failed"


def card_ids(client: ExoClient) -> set[str]:
    """The ids of every model card exo has (`GET /models`)."""
    return {str(card.get("id")) for card in client.models()}


def card_add(client: ExoClient, model_id: str) -> None:
    """Have exo add the card of `model_id`; ExoCardFailed with exo's reason when it cannot."""
    try:
        client.add_model(model_id)
    except ExoError as error:
        raise ExoCardFailed(f"exo could not add a card for {model_id}: {error.message} (exo "
                            "reads it from the Hub at its HF_ENDPOINT; check the repo id and "
                            "exo's access to the Hub).") from error


def card_ensure(client: ExoClient, model_id: str, log: Callable[[str], None]) -> bool:
    """Add the card of `model_id` to exo unless exo has it; True when it was added. Each step
    goes to `log` (a job's log)."""
    if model_id in card_ids(client):
        return False
    log(f"exo has no card for {model_id}: adding it (POST /models/add)")
    card_add(client, model_id)
    log(f"exo added its card for {model_id}")
    return True
