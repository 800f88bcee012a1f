"""The audit services: who acts (from the request being served), the entry in the change's
own transaction, refusals after the rollback, the panel's own work left out, pruning."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone

from arthur_panel.exceptions import Conflict
from cluster_app.audit import services
from cluster_app.audit.context import serving
from cluster_app.audit.redact import REDACTED
from cluster_app.audit.services import audit_prune, audited, record
from cluster_app.jobs.services import job_cancel, job_create
from cluster_app.jobs.tasks import jobs_prune_task
from cluster_app.models import ApiToken, AuditEntry, Job, Node

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_enqueue(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        yield

HUB_TOKEN = "hf_" + "abcdefghij12" * 3


def request_from(user, address="203.0.113.7", **headers):
    request = RequestFactory().post("/somewhere/", REMOTE_ADDR=address, **headers)
    request.user = user
    return request


def test_an_entry_says_who_from_where_and_redacts_the_parameters(alice):
    with serving(request_from(alice)):
        entry = record(action="thing.do", target=f"alpha {HUB_TOKEN}",
                       params={"hf_token": HUB_TOKEN, "count": 3})
    entry.refresh_from_db()
    assert (entry.user, entry.username, entry.address) == (alice, "alice", "203.0.113.7")
    assert entry.target == f"alpha {REDACTED}"
    assert entry.params == {"hf_token": REDACTED, "count": 3}
    assert (entry.outcome, entry.token_id) == ("ok", None)


def test_a_request_with_a_token_names_the_token(alice):
    token, secret = ApiToken.issue(user=alice, name="script")
    with serving(request_from(alice, HTTP_AUTHORIZATION=f"Bearer {secret}")):
        entry = record(action="thing.do")
    assert (entry.token_id, entry.token_hint) == (token.pk, token.hint)


def test_without_a_request_the_given_user_acts_from_nowhere(alice):
    entry = record(action="thing.do", user=alice)
    assert (entry.username, entry.address, entry.token_id) == ("alice", None, None)


def test_a_failing_audit_write_rolls_the_change_back(alice, nodes, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("the audit table is gone")

    monkeypatch.setattr(services, "record", broken)
    with serving(request_from(alice)), pytest.raises(RuntimeError):
        job_create(kind="ping", node=Node.objects.get(name="alpha"), params={"count": 1},
                   user=alice)
    assert not Job.objects.exists()


def test_a_failing_audit_write_rolls_a_control_back(alice, nodes, monkeypatch):
    job = Job.objects.create(kind="ping", node=Node.objects.get(name="alpha"))
    monkeypatch.setattr(services, "record", lambda **kwargs: 1 / 0)
    with serving(request_from(alice)), pytest.raises(ZeroDivisionError):
        job_cancel(job=job)
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED


def test_a_refusal_is_recorded_after_the_rollback(alice, nodes):
    with (serving(request_from(alice)), pytest.raises(Conflict),
          audited("thing.do", target="alpha") as entry):
        Node.objects.filter(name="alpha").update(display_name="changed")
        entry.params["seen"] = True
        raise Conflict("Not now.")
    assert Node.objects.get(name="alpha").display_name == "ALPHA"
    (entry,) = AuditEntry.objects.all()
    assert (entry.outcome, entry.message, entry.params) == ("refused", "Not now.",
                                                             {"seen": True})


def test_an_error_that_is_no_refusal_leaves_no_entry(alice):
    with serving(request_from(alice)), pytest.raises(ValueError), audited("thing.do"):
        raise ValueError("a bug")
    assert not AuditEntry.objects.exists()


def test_the_panels_own_work_is_not_recorded(nodes):
    job, created = job_create(kind="ping", node=Node.objects.get(name="alpha"),
                              params={"count": 1})
    assert created and not AuditEntry.objects.exists()


def test_old_entries_are_pruned(alice):
    old, new = record(action="old", user=alice), record(action="new", user=alice)
    AuditEntry.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=366))
    assert audit_prune(days=365) == 1
    assert list(AuditEntry.objects.values_list("pk", flat=True)) == [new.pk]


def test_the_prune_task_prunes_the_audit_log_by_its_setting(alice, settings):
    entry = record(action="old", user=alice)
    AuditEntry.objects.filter(pk=entry.pk).update(created_at=timezone.now() - timedelta(days=11))
    settings.AUDIT_RETENTION_DAYS = 12
    jobs_prune_task()
    assert AuditEntry.objects.exists()
    settings.AUDIT_RETENTION_DAYS = 10
    jobs_prune_task()
    assert not AuditEntry.objects.exists()
