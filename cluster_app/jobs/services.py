"""Job services: create, control, execute and recover jobs.

Every state change is a conditional update (`filter(state=old).update(state=new)`), so two
processes racing on one job cannot both win.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable
from rest_framework import status

from arthur_panel.celery import Lane, lane_queue
from arthur_panel.celery import app as celery_app
from arthur_panel.exceptions import Conflict, DomainError
from arthur_panel.redaction import redact_secrets
from arthur_panel.redis_client import redis_client, unless_under_way
from cluster_app.audit.services import audited
from cluster_app.jobs import broker
from cluster_app.jobs.failures import WorkFailed
from cluster_app.jobs.registry import JobKind, get_kind
from cluster_app.jobs.reporter import JobReporter, JobStopped, publish_job
from cluster_app.jobs.workers import waiting_message, worker_online, workers_seen
from cluster_app.metrics.families import JOB_DURATION
from cluster_app.models import Job, Node

logger = logging.getLogger(__name__)
State = Job.State
# Sent by name: the tasks module imports this one, not the other way round.
RUN_TASK = "cluster_app.tasks.job_run_task"
# Failures whose message is written for the user, by class, with their error code; any other
# exception is a bug, shown only as an incident reference. Built-ins that mean a bug are out.
USER_FACING = ((TimeoutError, "timeout"), (RuntimeError, "command_failed"))
BUGS = (NotImplementedError, RecursionError)
INTERNAL_ERROR = ("Internal error in the worker (incident {incident}): the server log has the "
                  "details.")
# A job Redis (the broker) did not take when it was made stays queued, saying so, and the
# recovery beat sends it once Redis is back: one made this long ago and still not sent (sooner
# would only race the send that follows its commit).
NOT_SENT = ("Not sent to a worker yet: Redis, the broker, is not answering; it is sent as soon "
            "as Redis is back")
UNSENT_GRACE_SECONDS = 2.0
# A worker starts what it takes at once: a queued job's message a worker took this long ago,
# or that no queue has held for as long, was lost with that worker.
STRANDED_SECONDS = 30.0
# The task id of a job its own process runs (manage.py download_model): no worker is to get it.
IN_PROCESS = "in-process"
# Redis's run id at the last recovery: another one means it started afresh since.
REDIS_RUN_KEY = "arthur:redis-run-id"


class TooManyJobs(DomainError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    code = "too_many_jobs"


def _queue(job: Job) -> str:
    kind = get_kind(job.kind)
    return lane_queue(kind.lane if kind else Lane.BULK, job.node.name if job.node else None)


def _enqueue(job: Job) -> None:
    queue = _queue(job)

    def send() -> None:
        try:
            result = celery_app.send_task(RUN_TASK, args=[job.pk], queue=queue)
        except BrokerUnavailable as exc:
            logger.warning("job %s not sent to %s: %s", job.pk, queue, exc)
            Job.objects.filter(pk=job.pk, state=State.QUEUED).update(message=NOT_SENT)
            return
        Job.objects.filter(pk=job.pk).update(celery_task_id=result.id)

    transaction.on_commit(send)


def _announce(job_id: int) -> None:
    transaction.on_commit(lambda: publish_job(Job.objects.select_related("node").get(pk=job_id)))


def _kind(name: str) -> JobKind:
    kind = get_kind(name)
    if kind is None:
        raise DomainError(f"Unknown job kind '{name}'.", code="unknown_kind")
    return kind


def job_create(*, kind: str, node: Node | None, params: dict[str, Any], user: Any = None,
               dedupe_key: str = "", enqueue: bool = True) -> tuple[Job, bool]:
    """Create and queue a job; returns (job, created). With a `dedupe_key`, an active job of
    the same kind and key is returned instead of a second one."""
    job_kind = _kind(kind)
    if job_kind.needs_node and node is None:
        raise DomainError(f"A {job_kind.label} job needs a target node.", code="node_required")
    if dedupe_key and (active := Job.objects.filter(kind=kind, dedupe_key=dedupe_key,
                                                    state__in=Job.ACTIVE).first()):
        return active, False
    job = Job(kind=kind, node=node, params=params, created_by=user, dedupe_key=dedupe_key,
              celery_task_id="" if enqueue else IN_PROCESS)
    if node is not None:
        job.message = _waiting_note(node, job_kind.lane)
    job.full_clean(validate_constraints=False)
    try:
        with audited(kind, target=node.name if node else "cluster", params=params,
                     user=user) as entry:
            if user is not None:  # the system's own jobs are not capped
                _check_caps(user, job_kind)
            job.save()
            entry.params["job"] = job.pk
            # Announce before enqueueing: a fast worker must not publish "running" first.
            _announce(job.pk)
            if enqueue:
                _enqueue(job)
    except IntegrityError:
        # Another request created the same active job first (the partial unique index).
        return Job.objects.get(kind=kind, dedupe_key=dedupe_key, state__in=Job.ACTIVE), False
    return job, True


def _waiting_note(node: Node, lane: Lane) -> str:
    """What a new job for `node` says while no worker of `lane` answers there: "" when one does,
    or when Redis, which keeps the workers' beats, cannot tell (the send then says so)."""
    try:
        online = worker_online(node.name, lane)
    except redis.RedisError:
        return ""
    return "" if online else waiting_message(node.display_name)


def _check_caps(user: Any, kind: JobKind) -> None:
    """TooManyJobs unless `user` may have one more active job of `kind`. Runs in the creating
    transaction with the user's row locked, so concurrent creates count one after another."""
    list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk"))
    active = Job.objects.filter(created_by=user, state__in=Job.ACTIVE)
    limit = kind.max_active_per_user
    if limit is not None and (count := active.filter(kind=kind.name).count()) >= limit:
        raise TooManyJobs(f"You already have {count} {kind.label.lower()} "
                          f"job{'s' if count != 1 else ''} queued or running; wait for one to "
                          "finish or cancel it.")
    limit = settings.JOB_MAX_ACTIVE_PER_USER
    if (count := active.count()) >= limit:
        raise TooManyJobs(f"You already have {count} jobs queued or running, the most one user "
                          f"may have (JOB_MAX_ACTIVE_PER_USER); wait for one to finish or cancel "
                          "it.")


def _transition(job: Job, old: tuple[str, ...], **changes: Any) -> bool:
    updated = Job.objects.filter(pk=job.pk, state__in=old).update(**changes,
                                                                  updated_at=timezone.now())
    return updated == 1


def _control(job: Job, verb: str) -> Any:
    """The audited transaction of a control: `<kind>.<verb>` on the job (`download.pause`)."""
    return audited(f"{job.kind}.{verb}", target=job.node.name if job.node else "cluster",
                   params={"job": job.pk})


def job_cancel(*, job: Job) -> Job:
    """Cancel now if the job is not running; otherwise ask the work to stop."""
    with _control(job, "cancel"):
        now = timezone.now()
        if not (_transition(job, (State.QUEUED, State.PAUSED), state=State.CANCELLED,
                            finished_at=now, message="Cancelled before it ran")
                or _transition(job, (State.RUNNING,), control=Job.Control.CANCEL)):
            raise Conflict(f"Job {job.pk} has already {job.state}; nothing to cancel.",
                           code="job_finished")
        _announce(job.pk)
    job.refresh_from_db()
    return job


def job_pause(*, job: Job) -> Job:
    with _control(job, "pause"):
        if not _kind(job.kind).pausable:
            raise Conflict(f"A {job.kind} job cannot be paused.", code="not_pausable")
        if not (_transition(job, (State.QUEUED,), state=State.PAUSED, message="Paused")
                or _transition(job, (State.RUNNING,), control=Job.Control.PAUSE)):
            raise Conflict(f"Job {job.pk} is {job.state}; only a queued or running job can be "
                           "paused.", code="not_running")
        _announce(job.pk)
    job.refresh_from_db()
    return job


def job_resume(*, job: Job) -> Job:
    with _control(job, "resume"):
        # No task id until it is sent again: one that is never sent is then sent by recovery.
        if not _transition(job, (State.PAUSED,), state=State.QUEUED, control="",
                           message="Resuming", celery_task_id=""):
            raise Conflict(f"Job {job.pk} is {job.state}; only a paused job can be resumed.",
                           code="not_paused")
        job.refresh_from_db()
        _enqueue(job)
        _announce(job.pk)
    return job


def job_keep(job: Job, **fields: Any) -> None:
    """Add `fields` to the job's result now, before the work they describe goes on: a re-run
    after its worker died reads them there (the instance a load placed, the exo a start ran).
    The result the work returns replaces them."""
    job.result = {**(job.result or {}), **fields}
    Job.objects.filter(pk=job.pk).update(result=job.result)


def _claim(job_id: int, task_id: str) -> bool:
    """Take the job for this worker: a queued one, or a running one whose worker went quiet
    (the broker redelivered it after that worker died)."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.JOB_LEASE_SECONDS)
    claim = dict(state=State.RUNNING, started_at=now, heartbeat_at=now, celery_task_id=task_id,
                 attempts=F("attempts") + 1, updated_at=now)
    if Job.objects.filter(pk=job_id, state=State.QUEUED).update(**claim):
        return True
    return bool(Job.objects.filter(pk=job_id, state=State.RUNNING, heartbeat_at__lt=stale)
                .update(**claim))


def _finish(job: Job, reporter: JobReporter, state: str, **fields: Any) -> None:
    reporter.flush()
    Job.objects.filter(pk=job.pk, state=State.RUNNING).update(
        state=state, control="", finished_at=timezone.now() if state != State.PAUSED else None,
        updated_at=timezone.now(), **fields,
    )
    job.refresh_from_db()
    # A run's end, once: not a pause, nor a job that had already ended otherwise.
    if state != State.PAUSED and job.state == state and job.started_at and job.finished_at:
        JOB_DURATION.labels(job.kind, state).observe(
            (job.finished_at - job.started_at).total_seconds())
    publish_job(job)


def job_execute(*, job_id: int, task_id: str = "",
                listener: Callable[[Job], None] | None = None) -> None:
    """Run one job in this process, from claim to its final state."""
    if not _claim(job_id, task_id):
        logger.info("job %s was not claimable (finished, paused or taken)", job_id)
        return
    job = Job.objects.select_related("node").get(pk=job_id)
    reporter = JobReporter(job, listener=listener)
    reporter.flush()
    kind = get_kind(job.kind)
    with _heartbeat(job_id):
        _run(job, kind, reporter)


@contextmanager
def _heartbeat(job_id: int) -> Iterator[None]:
    """Renew the job's lease while it runs, even through long waits without progress (a
    stalled transfer, a backoff), so only a dead worker loses it."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.JOB_LEASE_SECONDS / 4):
                Job.objects.filter(pk=job_id, state=State.RUNNING).update(
                    heartbeat_at=timezone.now())
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"job-{job_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _run(job: Job, kind: JobKind | None, reporter: JobReporter) -> None:
    try:
        if kind is None:
            raise DomainError(f"No worker code for job kind '{job.kind}'.", code="unknown_kind")
        result = kind.run(job, reporter)
    except JobStopped as stop:
        if stop.control == Job.Control.PAUSE:
            _finish(job, reporter, State.PAUSED, message="Paused")
        else:
            _finish(job, reporter, State.CANCELLED, message="Cancelled")
    except Exception as exc:
        if code := _error_code(exc):
            error = redact_secrets(str(exc)) or type(exc).__name__
            logger.warning("job %s (%s) failed [%s]: %s", job.pk, job.kind, code, error,
                           exc_info=not isinstance(exc, DomainError))
        else:
            # A bug: its user sees only an incident reference; the exception's text, paths and
            # source lines stay in this log, on the line with that reference.
            code, incident = "internal", secrets.token_hex(4)
            logger.exception("job %s (%s) failed: internal error, incident %s", job.pk, job.kind,
                             incident)
            error = INTERNAL_ERROR.format(incident=incident)
        reporter.log(f"failed ({code}): {error}")
        _finish(job, reporter, State.FAILED, error=error, error_code=code, message="Failed")
    else:
        if job.total:
            job.progress = 1.0
        _finish(job, reporter, State.SUCCEEDED, result=result, eta_seconds=None,
                progress=1.0, message=job.message or "Done")


def _error_code(exc: Exception) -> str:
    """The error code of a failure whose message is written for the user; "" for a bug."""
    if isinstance(exc, (DomainError, WorkFailed)):
        return exc.code
    if isinstance(exc, BUGS):
        return ""
    return next((code for cls, code in USER_FACING if isinstance(exc, cls)), "")


def run_unless_under_way(kind: str, lock_key: str, timeout: float,
                         work: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    """Beat's own run of `work`, unless a job of `kind` or another beat's run (the Redis lock
    `lock_key`, held at most `timeout` seconds) is already under way; None then."""
    if Job.objects.filter(kind=kind, state__in=Job.ACTIVE).exists():
        return None
    return unless_under_way(lock_key, timeout, work)


def jobs_recover() -> int:
    """Hand jobs whose worker went silent to a live worker, send the queued jobs whose message
    may not be in Redis, put back in its queue a queued job a dead worker took, and say on the
    queued jobs of a node whose worker is gone that they wait for it; returns how many jobs
    were handed on, sent or put back."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.JOB_LEASE_SECONDS)
    count = 0
    silent = Job.objects.select_related("node").filter(state=State.RUNNING, heartbeat_at__lt=stale)
    for job in silent:
        with transaction.atomic():
            logger.warning("job %s: worker silent since %s, re-queueing", job.pk, job.heartbeat_at)
            _enqueue(job)
        count += 1
    sent = set()
    for job in _unsent(now):
        with transaction.atomic():
            logger.warning("job %s: its message may not be in Redis, sending it", job.pk)
            if Job.objects.filter(pk=job.pk, message=NOT_SENT).update(message=""):
                _announce(job.pk)
            _enqueue(job)
        sent.add(job.pk)
    count += len(sent) + _recover_lost(now, sent)
    _note_waiting()
    return count


def _recover_lost(now: datetime, sent: set[int]) -> int:
    """Queued jobs whose message a worker took and died before starting (it goes back to its
    queue), or that no queue holds (a new one is sent); returns how many."""
    waiting = {job.pk: job for job in Job.objects.select_related("node").filter(
        state=State.QUEUED, updated_at__lt=now - timedelta(seconds=STRANDED_SECONDS)).exclude(
        celery_task_id__in=("", IN_PROCESS)).exclude(pk__in=sent)}
    if not waiting:
        return 0
    with broker.channel() as channel:
        holdings = broker.held(channel, {_queue(job) for job in waiting.values()},
                               taken_before=time.time() - STRANDED_SECONDS)
        # Claimed meanwhile: its message is rightly gone.
        still = set(Job.objects.filter(pk__in=waiting, state=State.QUEUED)
                    .values_list("pk", flat=True))
        count = 0
        for job in (waiting[pk] for pk in sorted(still)):
            if (tag := holdings.stranded.get(job.celery_task_id)) is not None:
                logger.warning("job %s: the worker that took it died before starting it; "
                               "putting it back in its queue", job.pk)
                broker.restore(channel, tag)
            elif job.celery_task_id not in holdings.queued | holdings.taken:
                logger.warning("job %s: its message is in no queue, sending it again", job.pk)
                with transaction.atomic():
                    _enqueue(job)
            else:
                continue
            count += 1
    return count


def _unsent(now: datetime) -> QuerySet[Job]:
    """Queued jobs whose message may not be in Redis: those it did not take when they were
    made and, when it has started afresh since the last look, every one (a message on its way
    to a worker as it died may be gone, and all of them without persistence). A second
    message is harmless: the claim is conditional."""
    queued = (Job.objects.select_related("node").filter(state=State.QUEUED)
              .exclude(celery_task_id=IN_PROCESS))
    if _redis_restarted():
        return queued
    return queued.filter(celery_task_id="",
                         updated_at__lt=now - timedelta(seconds=UNSENT_GRACE_SECONDS))


def _redis_restarted() -> bool:
    """Whether Redis has a new run id since the last call (or none was kept: a first start, or
    one without persistence)."""
    client = redis_client()
    run_id = str(client.info("server")["run_id"])
    return client.set(REDIS_RUN_KEY, run_id, get=True) != run_id.encode()


def _note_waiting() -> None:
    seen = workers_seen()
    waiting = Job.objects.select_related("node").filter(state=State.QUEUED, node__isnull=False)
    for job in waiting.only("pk", "kind", "message", "node__name", "node__display_name"):
        assert job.node is not None
        kind = get_kind(job.kind)
        message = waiting_message(job.node.display_name)
        if (kind and job.message != message
                and not worker_online(job.node.name, kind.lane, seen)
                and _transition(job, (State.QUEUED,), message=message)):
            publish_job(Job.objects.select_related("node").get(pk=job.pk))


def jobs_prune(*, days: int) -> int:
    """Delete finished jobs older than `days`; returns how many."""
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = Job.objects.filter(state__in=Job.FINISHED, finished_at__lt=cutoff).delete()
    return deleted
