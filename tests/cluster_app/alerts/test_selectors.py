"""The facts the rules read: the catalogue's largest model through the provider models_app
registers, the newest job per subject, and JACCL lines from the log ring."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from cluster_app.alerts.providers import largest_model
from cluster_app.alerts.selectors import current_facts
from cluster_app.logs.ring import ring_push
from cluster_app.models import Job
from models_app.models import LlmModel

pytestmark = pytest.mark.django_db


def test_the_catalogue_tells_the_largest_model(guide_models):
    biggest = LlmModel.objects.order_by("-size_bytes").first()
    assert largest_model() == (biggest.display_name, biggest.size_bytes)
    assert current_facts().largest_model == largest_model()


def test_an_empty_catalogue_has_no_largest_model():
    LlmModel.objects.all().delete()
    assert largest_model() is None


def test_a_later_success_clears_a_failed_download(nodes):
    now = timezone.now()
    for state, ago in (("failed", 60), ("succeeded", 30)):
        Job.objects.create(kind="model.download", node=nodes["beta"], state=state,
                           params={"model": "llama-3.2-1b"}, error="disk full",
                           finished_at=now - timedelta(seconds=ago))
    Job.objects.create(kind="instance.load", state="failed", params={"model": "qwen"},
                       error="no placement", finished_at=now - timedelta(seconds=10))
    jobs = {job.subject: job for job in current_facts(now=now).jobs}
    assert jobs["llama-3.2-1b@beta"].failed is False
    assert jobs["qwen"].failed is True and jobs["qwen"].error == "no placement"
    assert 9 <= jobs["qwen"].age_seconds <= 11


def test_jaccl_lines_come_from_the_ring(nodes):
    stamp = time.time()
    ring_push("beta", [
        {"node": "beta", "file": "exo.log", "seq": 0, "ts": stamp, "text": "[jaccl] errno=60",
         "classes": ["jaccl", "error"], "hint": "Reboot both Macs", "source": None},
        {"node": "beta", "file": "exo.log", "seq": 0, "ts": stamp, "text": "hello",
         "classes": [], "hint": None, "source": None}], keep=100, positions={})
    lines = [line for line in current_facts().log_lines if line.node == "beta"]
    assert [(line.text, line.classes, line.hint) for line in lines][-1:] == [
        ("[jaccl] errno=60", ("jaccl", "error"), "Reboot both Macs")]
