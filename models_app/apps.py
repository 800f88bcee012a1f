from __future__ import annotations

from django.apps import AppConfig


class ModelsAppConfig(AppConfig):
    name = "models_app"
    verbose_name = "Models"

    def ready(self) -> None:
        # Download job kinds register themselves on import.
        from models_app import downloads  # noqa: F401
