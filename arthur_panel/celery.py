from __future__ import annotations

import os

from celery import Celery
from celery.signals import celeryd_after_setup

from arthur_panel.discovery import concept_packages

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arthur_panel.settings")

app = Celery("arthur_panel")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each concept package keeps its tasks in its own `tasks` module.
app.autodiscover_tasks(concept_packages)


def node_queue(node_name: str) -> str:
    """The queue whose tasks run on the worker of `node_name`."""
    return f"node.{node_name}"


@celeryd_after_setup.connect
def _consume_node_queues(sender: str, instance, **kwargs) -> None:  # type: ignore[no-untyped-def]
    # Each worker takes `default` plus the queues of the nodes it runs on (WORKER_NODES).
    from django.conf import settings

    for name in settings.WORKER_NODES:
        instance.app.amqp.queues.select_add(node_queue(name))
