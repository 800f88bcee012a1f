"""Jobs created and claimed from many threads at once, each thread on its own database
connection: the per-user caps (the user's row locked while counting), the dedupe key's unique
index and the claim's conditional update hold when the requests really race. On PostgreSQL (the
suite's second pass) the threads' transactions run side by side; SQLite runs one writer at a
time, so there the same tests only show that nothing deadlocks or fails."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TypeVar

import pytest
from django.db import connection
from django.utils import timezone

from cluster_app.jobs.services import TooManyJobs, job_create, job_execute
from cluster_app.models import Job
from tests import stack as live

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.sqlite_too]
THREADS = 8
T = TypeVar("T")


def race(work: Callable[[int], T]) -> list[T | Exception]:
    """`work(i)` in THREADS threads released together; each one's result or exception."""
    start = threading.Barrier(THREADS)

    def one(index: int) -> T:
        try:
            start.wait()
            return work(index)
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(one, index) for index in range(THREADS)]
        return [future.exception() or future.result() for future in futures]  # type: ignore[misc]


@pytest.mark.parametrize(("overall", "allowed"), [(20, 2), (1, 1)])
def test_racing_creates_never_pass_the_users_caps(nodes, alice, settings, overall, allowed):
    """A user may have 2 pings at once (the kind's cap) and, here, `overall` jobs of any kind."""
    settings.JOB_MAX_ACTIVE_PER_USER = overall
    outcomes = race(lambda _: job_create(kind="ping", node=nodes["alpha"], params={},
                                         user=alice, enqueue=False))
    created = [o for o in outcomes if isinstance(o, tuple)]
    refused = [o for o in outcomes if isinstance(o, TooManyJobs)]
    assert (len(created), len(refused)) == (allowed, THREADS - allowed), outcomes
    assert Job.objects.filter(created_by=alice).count() == allowed


def test_racing_creates_with_one_dedupe_key_make_one_job(nodes):
    outcomes = race(lambda _: job_create(kind="ping", node=nodes["beta"], params={},
                                         dedupe_key="one", enqueue=False))
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert len({job.pk for job, _ in outcomes}) == 1  # type: ignore[union-attr]
    assert [created for _, created in outcomes].count(True) == 1  # type: ignore[union-attr]
    assert Job.objects.count() == 1


def claimed_by(job: Job) -> set[int]:
    """Run `job` from THREADS threads at once; the threads whose run reported progress."""
    ran: set[int] = set()

    def run(index: int) -> None:
        job_execute(job_id=job.pk, task_id=f"task-{index}", listener=lambda _: ran.add(index))

    outcomes = race(run)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    return ran


def test_a_queued_job_is_claimed_by_exactly_one_of_racing_workers(nodes):
    job, _ = job_create(kind="ping", node=nodes["alpha"], params={"count": 1}, enqueue=False)
    assert len(claimed_by(job)) == 1
    job.refresh_from_db()
    assert (job.state, job.attempts) == (Job.State.SUCCEEDED, 1)


def test_a_job_whose_worker_went_silent_is_taken_over_once(nodes, settings):
    job, _ = job_create(kind="ping", node=nodes["alpha"], params={"count": 1}, enqueue=False)
    silent = timezone.now() - timedelta(seconds=settings.JOB_LEASE_SECONDS * 2)
    # A live stack on this database would hand the silent job to its own worker first.
    with live.other_stacks_quiet():
        Job.objects.filter(pk=job.pk).update(state=Job.State.RUNNING, attempts=1,
                                             heartbeat_at=silent)
        assert len(claimed_by(job)) == 1
    job.refresh_from_db()
    assert (job.state, job.attempts) == (Job.State.SUCCEEDED, 2)
