"""`/ws/alerts/` in-process: logins only; the counts and active alerts first, then each
change."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis
from channels.layers import get_channel_layer

from cluster_app.alerts.conditions import DEFAULTS, Facts, NodeFacts
from cluster_app.alerts.events import ALERTS_GROUP
from cluster_app.alerts.services import LOCK_KEY, alerts_evaluate
from cluster_app.jobs.feeds import frame_event
from cluster_app.models import AlertRule
from tests.cluster_app.consumer_testing import snapshot_of, socket
from tests.stack import require_private_redis, stack_redis_url
from tests.threads import run_async

pytestmark = pytest.mark.django_db(transaction=True)
QUIET = {"type": "alerts", "firing": 0, "firing_total": 0, "pending": 0, "silenced": 0,
         "alerts": []}


@pytest.fixture(autouse=True)
def _stack_leaves_alerts_alone():
    """The session's live stack evaluates alerts every half second against this same database,
    and would resolve the alerts a test here made: its evaluation lock is held meanwhile."""
    require_private_redis()
    lock = redis.Redis.from_url(stack_redis_url()).lock(LOCK_KEY, timeout=120)
    lock.acquire()
    yield
    lock.release()


@pytest.fixture
def layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    for rule in DEFAULTS:  # transactional tests flush the seed
        AlertRule.objects.get_or_create(key=rule.key, defaults={
            "name": rule.name, "severity": rule.severity, "for_seconds": rule.for_seconds})
    return get_channel_layer()


def test_anonymous_sockets_are_refused(layer):
    async def scenario() -> None:
        connected, code = await socket("/ws/alerts/", None).connect(timeout=5)
        assert (connected, code) == (False, 4401)

    run_async(scenario())


def test_the_snapshot_comes_first_then_each_change(layer, alice_token):
    async def scenario() -> None:
        communicator, first = await snapshot_of("/ws/alerts/", alice_token)
        assert first == QUIET
        await layer.group_send(ALERTS_GROUP, frame_event({**QUIET, "firing": 2}))
        assert await communicator.receive_json_from(timeout=5) == {**QUIET, "firing": 2}
        await communicator.disconnect()

    run_async(scenario())


def test_a_firing_alert_is_in_the_snapshot(layer, alice_token):
    alerts_evaluate(facts=Facts(exo_reachable=True, nodes=(
        NodeFacts("beta", "BETA", True, True, "offline", worker_online=True),)),
        now=datetime(2026, 1, 5, tzinfo=UTC))

    async def scenario() -> None:
        communicator, first = await snapshot_of("/ws/alerts/", alice_token)
        assert (first["firing"], first["firing_total"]) == (1, 1)
        assert [(a["rule"], a["subject"]) for a in first["alerts"]] == [("node_offline", "beta")]
        await communicator.disconnect()

    run_async(scenario())


def test_the_jobs_socket_carries_the_alerts_frame_after_its_snapshot(layer, alice_token):
    async def scenario() -> None:
        communicator, first = await snapshot_of("/ws/jobs/?feeds=1", alice_token)
        assert first["type"] == "snapshot"
        assert await communicator.receive_json_from(timeout=5) == QUIET
        await layer.group_send(ALERTS_GROUP, frame_event({**QUIET, "firing": 1}))
        assert await communicator.receive_json_from(timeout=5) == {**QUIET, "firing": 1}
        await communicator.disconnect()

    run_async(scenario())


def test_a_jobs_socket_without_feeds_carries_jobs_alone(layer, alice_token):
    async def scenario() -> None:
        communicator, first = await snapshot_of("/ws/jobs/", alice_token)
        assert first["type"] == "snapshot"
        await layer.group_send(ALERTS_GROUP, frame_event({**QUIET, "firing": 1}))
        assert await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()

    run_async(scenario())
