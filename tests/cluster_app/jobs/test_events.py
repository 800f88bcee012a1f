"""The one publisher of live events: JSON-only payloads to every group named, after commit when
asked, and a broken channel layer logged, never raised."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from unittest import mock

import pytest
from channels.layers import get_channel_layer
from redis.exceptions import ConnectionError as RedisConnectionError

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


@pytest.fixture
def own_loops():
    events.use_own_loops()
    yield
    events.use_own_loops(False)


def loop_of_this_thread():
    return events._own_loops.loop


def test_a_worker_thread_publishes_on_the_loop_it_keeps(layer, own_loops):
    channel = member(layer, events.JOBS_GROUP)

    def twice() -> tuple[object, object]:
        events.publish([events.JOBS_GROUP], {"type": "job.update", "n": 1})
        first = loop_of_this_thread()
        events.publish([events.JOBS_GROUP], {"type": "job.update", "n": 2})
        return first, loop_of_this_thread()

    first, second = off_loop(twice)
    assert first is second is not None
    assert [receive(layer, channel)["n"] for _ in range(2)] == [1, 2]


def test_a_forked_child_publishes_on_a_loop_of_its_own(layer, own_loops):
    def publish_as_a_child() -> tuple[object, object]:
        events.publish([events.JOBS_GROUP], {"type": "job.update"})
        parents = loop_of_this_thread()
        events._own_loops.pid = -1  # the loop was made in another process
        events.publish([events.JOBS_GROUP], {"type": "job.update"})
        return parents, loop_of_this_thread()

    parents, own = off_loop(publish_as_a_child)
    assert own is not parents


def test_a_connection_from_before_a_redis_restart_is_tried_once_more(layer, own_loops, caplog):
    channel = member(layer, events.JOBS_GROUP)
    send = layer.group_send
    failures = [RedisConnectionError("Connection reset by peer")]

    async def after_a_restart(group: str, message: dict) -> None:
        if failures:
            raise failures.pop()
        await send(group, message)

    with mock.patch.object(layer, "group_send", after_a_restart), \
            caplog.at_level(logging.WARNING, logger="cluster_app.jobs.events"):
        publish([events.JOBS_GROUP], {"type": "job.update", "n": 3})
    assert receive(layer, channel) == {"type": "job.update", "n": 3}
    assert not failures and "could not publish" not in caplog.text


@pytest.mark.django_db
def test_on_commit_waits_for_the_commit(layer, django_capture_on_commit_callbacks):
    channel = member(layer, events.JOBS_GROUP)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        events.publish_on_commit([events.JOBS_GROUP], {"type": "job.update", "id": 3})
    assert len(callbacks) == 1
    off_loop(callbacks[0])
    assert receive(layer, channel) == {"type": "job.update", "id": 3}
