"""A failed job tells its user why and with which error code; a bug's traceback stays in the
server log, under an incident reference the job shows instead."""

from __future__ import annotations

import importlib
import json
import logging
import re
from unittest import mock

import pytest
from django.apps import apps

from arthur_panel.exceptions import Conflict
from cluster_app.exo.client import ExoUnavailable
from cluster_app.jobs import registry
from cluster_app.jobs import services as jobs
from cluster_app.jobs.registry import JobKind
from cluster_app.models import Job
from models_app.downloads.transfer import TransferError, VerificationError

pytestmark = pytest.mark.django_db
INCIDENT = re.compile(r"^Internal error in the worker \(incident ([0-9a-f]{8})\): the server log "
                      r"has the details\.$")
FAILURES = {
    "bug": ValueError("secret path /home/arthur/.exo and disk on fire"),
    "not_implemented": NotImplementedError("not yet"),
    "refusal": Conflict("BETA is busy: wait for it.", code="node_busy"),
    "exo_down": ExoUnavailable("exo at http://alpha:52415 is not answering."),
    "timeout": TimeoutError("not ready after 180 s"),
    "command": RuntimeError("~/start-exo.sh exited with code 2 before ALPHA joined exo."),
    "transfer": TransferError("model.safetensors: gave up after 3 retries: connection reset"),
    "verification": VerificationError("model.safetensors: sha256 differs from the listing"),
}


def fail(job, reporter):
    reporter.log("starting")
    raise FAILURES[job.params["failure"]]


@pytest.fixture(autouse=True)
def fail_kind():
    """A job kind that fails as each test says, known to the registry for the test."""
    kind = JobKind(name="test-fail", label="Fail", run=fail, needs_node=False)
    with mock.patch.dict(registry._kinds(), {kind.name: kind}):
        yield


def run_failing(failure: str) -> Job:
    job = Job.objects.create(kind="test-fail", params={"failure": failure})
    jobs.job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    return job


def test_a_bug_shows_its_user_an_incident_reference_and_nothing_of_the_code(api_client, caplog):
    with caplog.at_level(logging.INFO, logger="cluster_app.jobs.services"):
        job = run_failing("bug")
    incident = INCIDENT.match(job.error)
    assert incident, job.error
    assert job.error_code == "internal"
    answer = api_client.get(f"/api/v1/jobs/{job.pk}/").json()
    assert (answer["error"], answer["error_code"]) == (job.error, "internal")
    shown = json.dumps(answer) + "\n".join(job.log_tail)
    for leak in ("Traceback", 'File "', ".py", "raise FAILURES", "ValueError", "disk on fire",
                 "/home/arthur"):
        assert leak not in shown, leak
    assert job.log_tail == ["starting", f"failed (internal): {job.error}"]
    # The server log has it all, on the line with the same reference.
    [record] = [r for r in caplog.records if incident.group(1) in r.getMessage()]
    assert record.levelno == logging.ERROR and f"job {job.pk} (test-fail)" in record.getMessage()
    assert record.exc_info and record.exc_info[0] is ValueError
    assert "raise FAILURES" in caplog.text and "disk on fire" in caplog.text


def test_every_bug_gets_its_own_incident(caplog):
    first, second = run_failing("bug"), run_failing("not_implemented")
    assert first.error_code == second.error_code == "internal"
    assert INCIDENT.match(first.error).group(1) != INCIDENT.match(second.error).group(1)


@pytest.mark.parametrize(("failure", "code"), [
    ("refusal", "node_busy"), ("exo_down", "exo_unavailable"), ("timeout", "timeout"),
    ("command", "command_failed"), ("transfer", "transfer_failed"),
    ("verification", "verification_failed")])
def test_a_failure_written_for_users_keeps_its_message_and_gets_a_code(api_client, failure, code):
    job = run_failing(failure)
    assert (job.error, job.error_code) == (str(FAILURES[failure]), code)
    assert job.log_tail == ["starting", f"failed ({code}): {job.error}"]
    answer = api_client.get(f"/api/v1/jobs/{job.pk}/").json()
    assert (answer["error"], answer["error_code"]) == (job.error, code)


def test_the_job_page_shows_the_error_and_its_code(admin_client):
    job = run_failing("timeout")
    page = admin_client.get(f"/jobs/{job.pk}/").content.decode()
    assert '<code id="job-error-code">timeout</code>' in page
    assert "not ready after 180 s" in page


def test_the_migration_removes_tracebacks_from_log_tails(nodes):
    traceback = ('Traceback (most recent call last):\n  File "/srv/arthur/cluster_app/jobs.py", '
                 'line 190, in _run\n    result = kind.run(job, reporter)\nValueError: boom')
    failed = Job.objects.create(kind="ping", node=nodes["alpha"], state=Job.State.FAILED,
                                log_tail=["round 1/5: broker rtt 0.2 ms", traceback])
    relayed = Job.objects.create(kind="cluster.start", state=Job.State.FAILED,
                                 log_tail=["ALPHA: exo.start job #7", f"[ALPHA] {traceback}",
                                           "waiting: no Traceback here"])
    clean = Job.objects.create(kind="ping", node=nodes["alpha"], log_tail=["round 1/5"])
    migration = importlib.import_module("cluster_app.migrations.0009_job_error_code")
    migration.remove_tracebacks(apps, None)
    tails = {job.pk: job.log_tail for job in Job.objects.all()}
    assert tails == {failed.pk: ["round 1/5: broker rtt 0.2 ms"],
                     relayed.pk: ["ALPHA: exo.start job #7", "waiting: no Traceback here"],
                     clean.pk: ["round 1/5"]}
