from __future__ import annotations

import gc
import os
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from celery import Celery
from celery.signals import celeryd_after_setup, worker_process_init, worker_ready
from django.conf import settings

from arthur_panel.discovery import concept_packages

if TYPE_CHECKING:
    from celery.worker import WorkController

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arthur_panel.settings")

app = Celery("arthur_panel")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each concept package keeps its tasks in its own `tasks` module.
app.autodiscover_tasks(concept_packages)


class Lane(StrEnum):
    """A lane of workers, named by its queue. Control work (the poll, health, starting and
    stopping exo, loading models, job recovery) runs on workers of its own, so long user jobs
    (pings, downloads, benchmarks) filling every bulk slot cannot hold it up."""

    BULK = "default"
    CONTROL = "control"


def lane_queue(lane: Lane, node_name: str | None = None) -> str:
    """The queue of `lane`; with `node_name`, the one only that node's workers consume:
    `node.<name>` for bulk work, `node.<name>.control` for control work."""
    if node_name is None:
        return lane.value
    return f"node.{node_name}" if lane is Lane.BULK else f"node.{node_name}.{lane.value}"


@celeryd_after_setup.connect
def _consume_node_queues(sender: str, instance: WorkController, **kwargs: Any) -> None:
    # A worker of a lane (`default` with no -Q, or `-Q control`) also takes that lane's queues
    # of the nodes it runs on (WORKER_NODES).
    queues = instance.app.amqp.queues
    lanes = [lane for lane in Lane if lane.value in queues.consume_from]
    for lane in lanes:
        for name in settings.WORKER_NODES:
            queues.select_add(lane_queue(lane, name))


@worker_ready.connect
@worker_process_init.connect
def freeze_startup_objects(**kwargs: Any) -> None:
    """Everything loaded by now (Django, the apps, the tasks) lives as long as the worker: out
    of the collector's way, the full collections a poll of a large cluster sets off walk only
    what the work made (at 32 nodes: a poll's worst run 100 ms -> 40 ms)."""
    gc.freeze()


@worker_ready.connect
@worker_process_init.connect
def publish_on_own_loops(**kwargs: Any) -> None:
    """Each worker thread publishes live events on an event loop it keeps (events.py)."""
    from cluster_app.jobs.events import use_own_loops  # noqa: PLC0415 (apps load after this)

    use_own_loops()
