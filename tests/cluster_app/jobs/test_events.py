"""The one publisher of live events: JSON-only payloads to every group named, after commit when
asked, and a broken channel layer logged, never raised."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from unittest import mock

import pytest
from channels.layers import get_channel_layer

from cluster_app.jobs import events
from tests.threads import off_loop, run_async

IN_MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def layer(settings):
    settings.CHANNEL_LAYERS = IN_MEMORY
    layer = get_channel_layer()
    yield layer
    run_async(layer.flush())


# The layer and the publisher (async_to_sync) run off the main thread's event loop, which the
# browser tests leave to Playwright (tests/threads.py).
def member(layer, group: str) -> str:
    channel = run_async(layer.new_channel())
    run_async(layer.group_add(group, channel))
    return channel


def receive(layer, channel: str) -> dict:
    return run_async(layer.receive(channel))


def publish(groups: list[str], event: dict) -> None:
    off_loop(events.publish, groups, event)


def test_each_group_named_gets_the_event(layer):
    jobs, job = member(layer, events.JOBS_GROUP), member(layer, events.job_group(7))
    publish([events.JOBS_GROUP, events.job_group(7)], {"type": "job.update", "n": 1})
    assert receive(layer, jobs) == receive(layer, job) == {"type": "job.update", "n": 1}


def test_the_payload_is_what_json_can_carry(layer):
    channel = member(layer, events.CLUSTER_GROUP)
    publish([events.CLUSTER_GROUP], {"type": "cluster.update", "pair": (1, 2), "ratio": 0.5})
    assert receive(layer, channel) == {"type": "cluster.update", "pair": [1, 2], "ratio": 0.5}


def test_what_json_cannot_carry_is_refused_before_anything_is_sent(layer):
    channel = member(layer, events.LOGS_GROUP)
    with pytest.raises(TypeError):
        publish([events.LOGS_GROUP], {"type": "logs.lines", "at": datetime.now(tz=UTC)})
    publish([events.LOGS_GROUP], {"type": "logs.lines", "lines": []})
    assert receive(layer, channel)["lines"] == []  # the refused one never arrived


def test_a_broken_layer_is_logged_not_raised(layer, caplog):
    with mock.patch.object(layer, "group_send", side_effect=ConnectionError("redis gone")), \
            caplog.at_level(logging.WARNING, logger="cluster_app.jobs.events"):
        publish([events.JOBS_GROUP], {"type": "job.update"})
    assert "could not publish job.update" in caplog.text


@pytest.mark.django_db
def test_on_commit_waits_for_the_commit(layer, django_capture_on_commit_callbacks):
    channel = member(layer, events.JOBS_GROUP)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        events.publish_on_commit([events.JOBS_GROUP], {"type": "job.update", "id": 3})
    assert len(callbacks) == 1
    off_loop(callbacks[0])
    assert receive(layer, channel) == {"type": "job.update", "id": 3}
