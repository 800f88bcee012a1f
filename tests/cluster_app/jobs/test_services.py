"""Job services in-process: transitions, claims, the reporter and execution."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
import redis
from django.utils import timezone
from kombu.exceptions import OperationalError

from arthur_panel.celery import app as celery_app
from arthur_panel.exceptions import Conflict, DomainError
from arthur_panel.redis_client import redis_client
from cluster_app.jobs import services as jobs
from cluster_app.jobs.reporter import JobReporter, JobStopped
from cluster_app.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(nodes, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job, created = jobs.job_create(kind="ping", node=nodes["alpha"],
                                       params={"count": 2, "interval": 0}, user=alice)
    assert created
    assert callbacks, "enqueueing waits for the commit"
    return job


def test_create_refuses_unknown_kind_and_missing_node(nodes):
    with pytest.raises(DomainError, match="Unknown job kind"):
        jobs.job_create(kind="nope", node=nodes["alpha"], params={})
    with pytest.raises(DomainError, match="needs a target node"):
        jobs.job_create(kind="ping", node=None, params={})


def test_a_second_job_with_the_same_key_returns_the_active_one(nodes):
    first, created = jobs.job_create(kind="ping", node=nodes["alpha"], params={}, dedupe_key="k")
    again, created_again = jobs.job_create(kind="ping", node=nodes["alpha"], params={},
                                           dedupe_key="k")
    assert created and not created_again and again.pk == first.pk
    jobs.job_cancel(job=first)
    third, created_third = jobs.job_create(kind="ping", node=nodes["alpha"], params={},
                                           dedupe_key="k")
    assert created_third and third.pk != first.pk  # the key is free once the first has ended


def test_cancel_of_a_queued_job_is_immediate(queued):
    job = jobs.job_cancel(job=queued)
    assert job.state == Job.State.CANCELLED and job.finished_at is not None


def test_cancel_of_a_running_job_asks_the_work_to_stop(queued):
    Job.objects.filter(pk=queued.pk).update(state=Job.State.RUNNING)
    job = jobs.job_cancel(job=queued)
    assert job.state == Job.State.RUNNING and job.control == Job.Control.CANCEL


def test_cancel_of_a_finished_job_is_a_conflict(queued):
    Job.objects.filter(pk=queued.pk).update(state=Job.State.SUCCEEDED)
    queued.refresh_from_db()
    with pytest.raises(Conflict, match="already succeeded"):
        jobs.job_cancel(job=queued)


def test_resume_needs_a_paused_job(queued):
    with pytest.raises(Conflict, match="only a paused job"):
        jobs.job_resume(job=queued)
    paused = jobs.job_pause(job=queued)
    assert paused.state == Job.State.PAUSED
    assert jobs.job_resume(job=paused).state == Job.State.QUEUED


def test_a_resumed_job_has_no_task_id_until_it_is_sent_again(queued):
    paused = jobs.job_pause(job=queued)
    Job.objects.filter(pk=paused.pk).update(celery_task_id="t1")
    assert jobs.job_resume(job=paused).celery_task_id == ""


@pytest.fixture
def broker(monkeypatch):
    """Celery's broker as a switch: `down` refuses every message, as Redis killed does;
    `restarted` says it started afresh since the last recovery."""
    state = SimpleNamespace(down=False, restarted=False, sent=[])

    def send_task(name, args, queue):
        if state.down:
            raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        state.sent.append((args[0], queue))
        return SimpleNamespace(id="task")

    def workers_seen():
        if state.down:
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379.")
        return {"alpha": {"default": SimpleNamespace(online=True)}}

    monkeypatch.setattr(celery_app, "send_task", send_task)
    monkeypatch.setattr(jobs, "_redis_restarted", lambda: state.restarted)
    monkeypatch.setattr(jobs, "workers_seen", workers_seen)
    monkeypatch.setattr("cluster_app.jobs.workers.workers_seen", workers_seen)
    return state


def test_a_job_made_while_redis_is_away_waits_queued_and_is_sent_once_it_is_back(
        nodes, alice, broker, django_capture_on_commit_callbacks):
    broker.down = True
    with django_capture_on_commit_callbacks(execute=True):
        job, created = jobs.job_create(kind="ping", node=nodes["alpha"], params={}, user=alice)
    job.refresh_from_db()
    assert created and job.state == Job.State.QUEUED and job.celery_task_id == ""
    assert job.message == jobs.NOT_SENT

    broker.down = False
    assert jobs.jobs_recover() == 0  # as fresh as a job whose send is on its way
    Job.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(seconds=5))
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.jobs_recover() == 1
    job.refresh_from_db()
    assert broker.sent == [(job.pk, "node.alpha")]
    assert job.celery_task_id == "task" and job.message == ""
    assert jobs.jobs_recover() == 0  # sent once


def test_after_redis_started_afresh_every_queued_job_is_sent_again(
        nodes, broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sent, _ = jobs.job_create(kind="ping", node=nodes["alpha"], params={})
        own, _ = jobs.job_create(kind="ping", node=nodes["alpha"], params={}, enqueue=False)
    Job.objects.filter(pk=own.pk).update(updated_at=timezone.now() - timedelta(seconds=5))
    assert broker.sent == [(sent.pk, "node.alpha")]
    assert jobs.jobs_recover() == 0  # its message is in Redis; the other runs in its process
    broker.restarted = True  # its message may have gone with Redis
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.jobs_recover() == 1
    assert broker.sent == [(sent.pk, "node.alpha")] * 2


def test_redis_started_afresh_is_told_by_its_run_id():
    client = redis_client()
    client.set(jobs.REDIS_RUN_KEY, "the run before")
    assert jobs._redis_restarted() is True
    assert jobs._redis_restarted() is False
    client.delete(jobs.REDIS_RUN_KEY)  # no persistence: nothing kept from before
    assert jobs._redis_restarted() is True


def test_claim_takes_a_job_once(queued):
    assert jobs._claim(queued.pk, "t1") is True
    assert jobs._claim(queued.pk, "t2") is False  # a duplicate delivery loses


def test_claim_takes_over_a_running_job_whose_worker_went_silent(queued, settings):
    old = timezone.now() - timedelta(seconds=settings.JOB_LEASE_SECONDS + 5)
    Job.objects.filter(pk=queued.pk).update(state=Job.State.RUNNING, heartbeat_at=old, attempts=1)
    assert jobs._claim(queued.pk, "t2") is True
    assert Job.objects.get(pk=queued.pk).attempts == 2


def test_recover_requeues_only_silent_running_jobs(queued, settings,
                                                   django_capture_on_commit_callbacks):
    old = timezone.now() - timedelta(seconds=settings.JOB_LEASE_SECONDS + 5)
    Job.objects.filter(pk=queued.pk).update(state=Job.State.RUNNING, heartbeat_at=old)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert jobs.jobs_recover() == 1
    assert len(callbacks) == 1
    Job.objects.filter(pk=queued.pk).update(heartbeat_at=timezone.now())
    assert jobs.jobs_recover() == 0


def test_prune_deletes_only_old_finished_jobs(queued):
    Job.objects.filter(pk=queued.pk).update(state=Job.State.SUCCEEDED,
                                            finished_at=timezone.now() - timedelta(days=40))
    assert jobs.jobs_prune(days=30) == 1
    assert not Job.objects.exists()


def test_execute_runs_the_kind_and_records_success(queued):
    jobs.job_execute(job_id=queued.pk, task_id="t1")
    job = Job.objects.get(pk=queued.pk)
    assert job.state == Job.State.SUCCEEDED, job.error
    assert job.done == 2 and job.progress == 1.0 and job.attempts == 1
    assert len(job.result["rtt_ms"]) == 2 and job.celery_task_id == "t1"
    assert any("round 2/2" in line for line in job.log_tail)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_reporter_saves_at_most_once_a_second(nodes):
    job = Job.objects.create(kind="ping", node=nodes["alpha"], state=Job.State.RUNNING)
    clock = FakeClock()
    reporter = JobReporter(job, clock=clock)
    reporter.progress(10, 100)
    clock.now = 0.5
    reporter.progress(20)
    assert Job.objects.get(pk=job.pk).done == 10  # not saved again within the second
    clock.now = 1.0
    reporter.progress(30)
    saved = Job.objects.get(pk=job.pk)
    assert saved.done == 30 and saved.progress == 0.3
    assert saved.speed == pytest.approx(20.0) and saved.eta_seconds == pytest.approx(3.5)


def test_reporter_raises_when_cancel_was_asked(nodes):
    job = Job.objects.create(kind="ping", node=nodes["alpha"], state=Job.State.RUNNING)
    clock = FakeClock()
    reporter = JobReporter(job, clock=clock)
    reporter.progress(1, 10)
    Job.objects.filter(pk=job.pk).update(control=Job.Control.CANCEL)
    clock.now = 1.0
    with pytest.raises(JobStopped) as stopped:
        reporter.progress(2)
    assert stopped.value.control == "cancel"
