from __future__ import annotations

from django.apps import AppConfig

from cluster_app.alerts.providers import register_largest_model
from cluster_app.exo.names import register_resolver
from cluster_app.health.extra_checks import register_check
from models_app.catalogue.hub import hub_check


class ModelsAppConfig(AppConfig):
    name = "models_app"
    verbose_name = "Models"

    def ready(self) -> None:
        # Here, not at import: the catalogue's resolver reads models, which need the app
        # registry ready.
        from models_app.catalogue.selectors import (  # noqa: PLC0415
            exo_id_for_name,
            largest_model,
        )

        register_resolver(exo_id_for_name)
        # The disk alert compares each node's free space with the largest model.
        register_largest_model(largest_model)
        # The doctor asks the Hub through the catalogue's one way to it.
        register_check("hub", hub_check)
