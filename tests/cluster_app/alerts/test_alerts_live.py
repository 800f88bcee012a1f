"""Alerts through the real stack (beat, workers, web server) and the session's exo simulator:
dropping BETA fires "node offline" to a webhook (a real HTTP receiver), shows in the bell (the
alerts frames on a page's jobs socket), and sends "resolved" when BETA returns; turning BETA's
RDMA off fires the TCP-fallback alert. Each test leaves the simulator as it found it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from cluster_app.alerts.conditions import DEFAULTS
from cluster_app.models import AlertChannel, AlertDelivery, AlertRule, Node
from tests import stack as live
from tests.cluster_app.alerts.receiver import Receiver, running_receiver
from tests.stack import NODE_OFFLINE_SECONDS, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
SIM_NODE_TIMEOUT = 2  # the simulator lists a dropped node this long (tests/stack.py)


@pytest.fixture
def receiver(nodes: dict[str, Node]) -> Iterator[Receiver]:
    """The seeded rules (transactional tests flush the seed) and a webhook channel."""
    for rule in DEFAULTS:
        AlertRule.objects.get_or_create(key=rule.key, defaults={
            "name": rule.name, "severity": rule.severity, "threshold": rule.threshold,
            "for_seconds": rule.for_seconds})
    with running_receiver() as running:
        AlertChannel.objects.create(name="test hook", kind="webhook", url=f"{running.url}/hook")
        yield running


def notices(receiver: Receiver, rule: str, subject: str, since: int = 0) -> list[str]:
    """The events of the notices about `rule` and `subject`, from the `since`-th request on
    (a stack that has just started may have said a node was offline before its first poll)."""
    return [body["event"] for body in receiver.bodies()[since:]
            if body["alert"]["rule"] == rule and body["alert"]["subject"] == subject]


def settled_deliveries(receiver: Receiver) -> int:
    """How many notices the receiver has had once none is on its way."""
    wait_until(lambda: not AlertDelivery.objects.filter(
        status__in=[AlertDelivery.Status.PENDING, AlertDelivery.Status.RETRYING]).exists())
    return len(receiver.requests)


def bell(ws: ClientConnection, done: Any, timeout: float = 30.0) -> dict[str, Any]:
    """The bell's frames on a page's jobs socket until one satisfies `done` (job events are
    skipped)."""
    while True:
        frame = json.loads(ws.recv(timeout=timeout))
        if frame["type"] == "alerts" and done(frame):
            return frame


def sim(exo_url: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.post(f"{exo_url}/_sim/{path}", json=body, timeout=10)


def online(client: httpx.Client, name: str) -> bool:
    return client.get(f"/api/v1/nodes/{name}/").json()["status"] == "online"


def test_dropping_beta_fires_node_offline_and_its_return_resolves_it(
        live_stack, exo_url, receiver, alice_token):
    headers = {"Authorization": f"Bearer {alice_token}"}
    with live.api(live_stack, alice_token) as client:
        wait_until(lambda: online(client, "alpha") and online(client, "beta"), timeout=30)
        # The socket every page opens: jobs, with the bell's frames.
        with connect(f"{live_stack.ws_url}/ws/jobs/?feeds=1", additional_headers=headers) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
            bell(ws, lambda f: not any(a["rule"] == "node_offline" for a in f["alerts"]))
            since = settled_deliveries(receiver)
            try:
                sim(exo_url, "nodes/BETA/drop").raise_for_status()
                # NODE_OFFLINE_SECONDS after the poll stops seeing BETA, plus one poll and one
                # evaluation; the deadline is generous for a loaded machine.
                wait_until(lambda: notices(receiver, "node_offline", "beta", since) == [
                    "firing"], timeout=SIM_NODE_TIMEOUT + NODE_OFFLINE_SECONDS + 50)
                frame = bell(ws, lambda f: any(a["rule"] == "node_offline"
                                               and a["state"] == "firing" for a in f["alerts"]))
                assert frame["firing"] >= 1
                (firing,) = [a for a in frame["alerts"] if a["rule"] == "node_offline"]
                assert (firing["subject"], firing["severity"]) == ("beta", "critical")
                (body,) = [b for b in receiver.bodies()[since:]
                           if b["alert"]["rule"] == "node_offline"]
                assert body["alert"]["labels"] == {"node": "beta"}
                assert body["alert"]["summary"].startswith("BETA is offline")
                listed = client.get("/api/v1/alerts/").json()
                assert [a["subject"] for a in listed["alerts"]
                        if a["rule"] == "node_offline"] == ["beta"]
            finally:
                sim(exo_url, "nodes/BETA/revive")  # 409 when it never went down
            wait_until(lambda: notices(receiver, "node_offline", "beta", since) == [
                "firing", "resolved"], timeout=60)
            bell(ws, lambda f: not any(a["rule"] == "node_offline" for a in f["alerts"]))
        assert notices(receiver, "node_offline", "alpha", since) == []
        wait_until(lambda: online(client, "beta"), timeout=30)


def test_turning_rdma_off_fires_the_tcp_fallback_alert(live_stack, exo_url, receiver,
                                                       alice_token):
    with live.api(live_stack, alice_token) as client:
        wait_until(lambda: online(client, "alpha") and online(client, "beta"), timeout=30)
        # Both linked by RDMA (and TCP) now: nothing to say, however many evaluations ran.
        assert not [a for a in client.get("/api/v1/alerts/").json()["alerts"]
                    if a["rule"] == "rdma_tcp_only"]
        since = settled_deliveries(receiver)
        # The firing notice's first try fails: the worker retries it.
        receiver.fail_once = b"rdma_tcp_only"
        try:
            sim(exo_url, "nodes/BETA/rdma", {"enabled": False}).raise_for_status()
            wait_until(lambda: notices(receiver, "rdma_tcp_only", "alpha-beta", since) == [
                "firing"], timeout=60)
            (body,) = [b for b in receiver.bodies()[since:]
                       if b["alert"]["rule"] == "rdma_tcp_only"]
            assert "TCP" in body["alert"]["hint"]
            # The receiver has the body a moment before the worker has its answer.
            delivery = wait_until(lambda: AlertDelivery.objects.filter(
                alert__rule__key="rdma_tcp_only", event="firing", status="sent").first())
            assert (delivery.attempts, delivery.last_error) == (2, "")
        finally:
            sim(exo_url, "nodes/BETA/rdma", {"enabled": True})
        wait_until(lambda: notices(receiver, "rdma_tcp_only", "alpha-beta", since) == [
            "firing", "resolved"], timeout=60)
        wait_until(lambda: online(client, "beta"), timeout=30)
