"""What the alert rules learn from other apps. The catalogue (models_app) knows the models'
sizes and cluster_app must not import it: models_app registers its provider here when it
starts. Without one, the disk rule has nothing to compare with and stays quiet."""

from __future__ import annotations

from collections.abc import Callable

# () -> the largest catalogue model's (name, bytes), or None when the catalogue is empty.
LargestModel = Callable[[], "tuple[str, int] | None"]
_largest: list[LargestModel] = []


def register_largest_model(provider: LargestModel) -> None:
    if provider not in _largest:
        _largest.append(provider)


def largest_model() -> tuple[str, int] | None:
    """The largest model any registered provider knows, or None."""
    found = [model for provider in _largest if (model := provider())]
    return max(found, key=lambda model: model[1]) if found else None
