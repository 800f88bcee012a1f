"""The project: settings, URLs, ASGI routing, the Celery app (`arthur_panel.celery`), the
launcher, and the API base and error shape shared by the apps."""
