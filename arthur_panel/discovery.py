"""Finding the panel's concept packages (`cluster_app.jobs`, `models_app.downloads`, ...) and a
module of the same name in each: how job kinds and Celery tasks are found without a list kept
by hand."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from types import ModuleType

# The apps whose concept packages are searched (third-party apps have none of ours).
PANEL_APPS = ("cluster_app", "models_app")


def concept_packages() -> list[str]:
    """Every package one level inside a panel app, e.g. `cluster_app.exo`."""
    found = []
    for app in PANEL_APPS:
        package = importlib.import_module(app)
        found += [f"{app}.{info.name}" for info in pkgutil.iter_modules(package.__path__)
                  if info.ispkg and info.name not in ("migrations", "management", "templatetags")]
    return found


def concept_modules(name: str) -> list[ModuleType]:
    """The module `name` of every concept package that has one, imported."""
    return [importlib.import_module(f"{package}.{name}") for package in concept_packages()
            if importlib.util.find_spec(f"{package}.{name}") is not None]
