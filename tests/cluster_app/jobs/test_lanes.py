"""Two lanes of workers: control work is sent to queues long user jobs never fill."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from celery.app.amqp import Queues
from django.conf import settings
from django.utils import timezone

from arthur_panel.celery import Lane, _consume_node_queues, lane_queue
from arthur_panel.celery import app as celery_app
from cluster_app.jobs import services
from cluster_app.jobs.registry import get_kind
from cluster_app.models import Job

CONTROL_KINDS = ["health.run", "exo.start", "exo.stop", "cluster.start", "cluster.stop",
                 "cluster.restart", "instance.load", "instance.unload"]
BULK_KINDS = ["ping", "model.download", "model.delete", "linkbench.run", "model.bench"]


@pytest.fixture
def sent(monkeypatch):
    queues: list[tuple[int, str]] = []

    def send_task(name, args, queue):
        queues.append((args[0], queue))
        return SimpleNamespace(id="task")

    monkeypatch.setattr(celery_app, "send_task", send_task)
    return queues


def test_each_kind_says_its_lane():
    lanes = {name: get_kind(name).lane for name in CONTROL_KINDS + BULK_KINDS}
    assert lanes == {**dict.fromkeys(CONTROL_KINDS, Lane.CONTROL),
                     **dict.fromkeys(BULK_KINDS, Lane.BULK)}


def test_lane_queues():
    assert [lane_queue(Lane.BULK), lane_queue(Lane.BULK, "alpha"), lane_queue(Lane.CONTROL),
            lane_queue(Lane.CONTROL, "alpha")] == ["default", "node.alpha", "control",
                                                   "node.alpha.control"]


@pytest.mark.django_db
@pytest.mark.parametrize(("kind", "node", "queue"), [
    ("ping", "beta", "node.beta"), ("model.download", "alpha", "node.alpha"),
    ("exo.start", "beta", "node.beta.control"), ("health.run", None, "control"),
    ("cluster.stop", None, "control"), ("instance.unload", None, "control"),
    ("model.bench", None, "default")])
def test_a_job_is_sent_to_its_lanes_queue(nodes, sent, django_capture_on_commit_callbacks,
                                          kind, node, queue):
    with django_capture_on_commit_callbacks(execute=True):
        job, _ = services.job_create(kind=kind, node=nodes.get(node), params={})
    assert sent == [(job.pk, queue)]


@pytest.mark.django_db
def test_recovery_hands_a_control_job_back_to_the_control_lane(nodes, sent,
                                                             django_capture_on_commit_callbacks):
    old = timezone.now() - timedelta(seconds=settings.JOB_LEASE_SECONDS + 5)
    job = Job.objects.create(kind="exo.stop", node=nodes["alpha"], state=Job.State.RUNNING,
                             heartbeat_at=old)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.jobs_recover() == 1
    assert sent == [(job.pk, "node.alpha.control")]


def test_beats_work_is_routed_to_the_control_queue():
    routed = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {task: settings.CELERY_TASK_ROUTES[task]["queue"] for task in routed} == {
        task: "control" for task in routed}


def worker_on(*queues: str) -> SimpleNamespace:
    selected = Queues()
    selected.select(list(queues))
    return SimpleNamespace(app=SimpleNamespace(amqp=SimpleNamespace(queues=selected)))


@pytest.mark.parametrize(("queues", "consumed"), [
    (["default"], {"default", "node.alpha", "node.beta"}),
    (["control"], {"control", "node.alpha.control", "node.beta.control"}),
    (["node.delta"], {"node.delta"}),
    (["node.beta", "node.beta.control"], {"node.beta", "node.beta.control"})])
def test_a_worker_takes_its_lanes_node_queues(settings, queues, consumed):
    settings.WORKER_NODES = ["alpha", "beta"]
    worker = worker_on(*queues)
    _consume_node_queues("celery@test", worker)
    assert set(worker.app.amqp.queues.consume_from) == consumed
