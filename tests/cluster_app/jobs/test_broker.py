"""Jobs whose message was lost before a worker claimed them, with the real Redis and kombu: a
message taken by a process SIGKILLed before it started the job (no lease covers it yet, and
kombu would hand it back only after its 12-hour visibility timeout) goes back to its queue;
a message in no queue at all is sent again; a message on its way is left alone."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from cluster_app.jobs import broker
from cluster_app.jobs import services as jobs
from cluster_app.models import Job

pytestmark = pytest.mark.django_db

QUEUE = "node.alpha"  # a ping's on ALPHA; nothing consumes it in this Redis database
# Takes one message from the queue without acknowledging it, then dies as a killed worker does.
TAKE_AND_DIE = f"""
import os, signal
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arthur_panel.settings")
import django
django.setup()
from arthur_panel.celery import app
with app.connection_for_write() as connection:
    message = connection.SimpleQueue({QUEUE!r}).get(timeout=10)
    print(message.headers["id"], flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.fixture
def clean_broker() -> Iterator[Any]:
    jobs._redis_restarted()  # known since: not a restart that sends every queued job again
    with broker.channel() as channel:
        yield channel
        keys = [channel._q_for_pri(QUEUE, p) for p in channel.priority_steps]
        channel.client.delete(*keys, channel.unacked_key, channel.unacked_index_key)


def queued_job(nodes: dict[str, Any], capture: Any, *, age: float) -> Job:
    with capture(execute=True):
        job, _ = jobs.job_create(kind="ping", node=nodes["alpha"], params={})
    Job.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(seconds=age))
    job.refresh_from_db()
    assert job.celery_task_id not in ("", jobs.IN_PROCESS)
    return job


def take_and_die() -> str:
    done = subprocess.run([sys.executable, "-c", TAKE_AND_DIE], capture_output=True, timeout=60,
                          text=True)
    assert done.returncode == -9, done.stderr[-2000:]
    return done.stdout.strip()


def age_deliveries(channel: Any, seconds: float) -> None:
    client = channel.client
    for tag, taken in client.zrange(channel.unacked_index_key, 0, -1, withscores=True):
        client.zadd(channel.unacked_index_key, {tag: taken - seconds})


def test_a_job_taken_by_a_worker_that_died_before_starting_it_goes_back_to_its_queue(
        nodes, clean_broker, django_capture_on_commit_callbacks):
    job = queued_job(nodes, django_capture_on_commit_callbacks, age=jobs.STRANDED_SECONDS + 5)
    assert jobs.jobs_recover() == 0  # in its queue
    assert take_and_die() == job.celery_task_id
    holdings = broker.held(clean_broker, [QUEUE], taken_before=time.time())
    assert job.celery_task_id not in holdings.queued and job.celery_task_id in holdings.taken
    assert jobs.jobs_recover() == 0  # just taken: its worker may be starting it
    age_deliveries(clean_broker, jobs.STRANDED_SECONDS + 5)
    assert jobs.jobs_recover() == 1
    holdings = broker.held(clean_broker, [QUEUE], taken_before=time.time())
    assert holdings.queued == {job.celery_task_id} and not holdings.taken  # the same message
    assert jobs.jobs_recover() == 0


def test_a_queued_job_whose_message_is_in_no_queue_is_sent_again(
        nodes, clean_broker, django_capture_on_commit_callbacks):
    job = queued_job(nodes, django_capture_on_commit_callbacks, age=jobs.STRANDED_SECONDS + 5)
    fresh = queued_job(nodes, django_capture_on_commit_callbacks, age=0)
    clean_broker.client.delete(QUEUE)  # lost: both messages
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.jobs_recover() == 1  # the one queued long enough for it to matter
    job.refresh_from_db()
    holdings = broker.held(clean_broker, [QUEUE], taken_before=time.time())
    assert holdings.queued == {job.celery_task_id} and fresh.celery_task_id not in holdings.queued
    # Claimed meanwhile (its message rightly gone): nothing to do.
    clean_broker.client.delete(QUEUE)
    Job.objects.filter(pk=job.pk).update(state=Job.State.RUNNING, heartbeat_at=timezone.now())
    assert jobs.jobs_recover() == 0


@pytest.mark.parametrize(("payload", "expected"), [
    ('{"headers": {"id": "abc"}}', "abc"),
    ('[{"headers": {"id": "abc"}}, "", "node.alpha"]', "abc"),
    ('{"headers": {}}', None), ("[]", None), ("not json", None), (None, None), ('"x"', None)])
def test_task_ids_are_read_from_either_form_kombu_keeps(payload, expected):
    assert broker.task_id(payload) == expected
