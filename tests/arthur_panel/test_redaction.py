"""Secrets masked in what the panel writes: its log lines, its jobs' log lines, messages and
errors, and the log ring's lines."""

from __future__ import annotations

import logging
import sys
from unittest import mock

import pytest
from django.conf import settings as django_settings

from arthur_panel.masking import MASK, redact
from arthur_panel.redaction import RedactingFormatter, redact_secrets
from cluster_app.jobs import registry
from cluster_app.jobs import services as jobs
from cluster_app.jobs.failures import WorkFailed
from cluster_app.jobs.registry import JobKind
from cluster_app.models import ApiToken, Job

HF = "hf_sEcReTtOkEnOfThirtyFourCharacters1"
REDIS_PASSWORD = "r3d1s/pass+word"


@pytest.fixture
def secrets(settings, monkeypatch):
    settings.HF_TOKEN = HF
    settings.REDIS_URL = "redis://:r3d1s%2Fpass%2Bword@alpha.local:6379/0"
    monkeypatch.setitem(django_settings.DATABASES["default"], "PASSWORD", "db-password-42")


def test_each_configured_secret_is_masked(secrets, settings):
    text = (f"token {HF}, redis {REDIS_PASSWORD} (r3d1s%2Fpass%2Bword in its URL), "
            f"database db-password-42, key {settings.SECRET_KEY}")
    assert redact_secrets(text) == (f"token {MASK}, redis {MASK} ({MASK} in its URL), "
                                    f"database {MASK}, key {MASK}")


@pytest.mark.django_db
def test_api_keys_are_masked_but_not_their_hints(alice):
    token, secret = ApiToken.issue(user=alice)
    assert redact(f"Authorization: Bearer {secret}.", []) == f"Authorization: Bearer {MASK}."
    assert redact(f"key {token.hint}…", []) == f"key {token.hint}…"


def test_short_values_and_ordinary_words_are_left_alone():
    assert redact("the arthur_panel package, user arthur", ["arthur", ""]) == (
        "the arthur_panel package, user arthur")
    assert redact("hf_short and hf_" + "x" * 29, []) == "hf_short and hf_" + "x" * 29


def test_log_lines_and_their_tracebacks_are_masked(secrets):
    formatter = RedactingFormatter("%(levelname)s %(message)s")
    try:
        raise RuntimeError(f"could not reach redis://:{REDIS_PASSWORD}@alpha.local")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "sent %s", (HF,),
                                   exc_info=sys.exc_info())
    line = formatter.format(record)
    assert HF not in line and REDIS_PASSWORD not in line
    assert line.startswith(f"ERROR sent {MASK}") and f"redis://:{MASK}@alpha.local" in line


def leaky(job, reporter):
    reporter.log(f"$ exo --token {HF}")
    reporter.progress(1, 2, message=f"fetching with {HF}")
    raise WorkFailed(f"the hub refused {HF}")


@pytest.mark.django_db
def test_a_jobs_log_message_and_error_are_masked(secrets):
    kind = JobKind(name="test-leaky", label="Leaky", run=leaky, needs_node=False)
    with mock.patch.dict(registry._kinds(), {kind.name: kind}):
        job = Job.objects.create(kind=kind.name)
        jobs.job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and job.error == f"the hub refused {MASK}"
    assert f"$ exo --token {MASK}" in job.log_tail and HF not in repr(job.log_tail)
    assert HF not in job.message
