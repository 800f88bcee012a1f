"""Alerts through the real stack (beat, workers, web server) on an exo simulator of this
module's own: dropping BETA fires "node offline" to a webhook (a real HTTP receiver), shows in
the bell's socket, and sends "resolved" when BETA returns; turning BETA's RDMA off fires the
TCP-fallback alert."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from websockets.sync.client import ClientConnection, connect

from cluster_app.alerts.conditions import DEFAULTS
from cluster_app.models import AlertChannel, AlertRule, Node
from tests import stack as live
from tests.cluster_app.alerts.receiver import Receiver, running_receiver
from tests.stack import wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
REDIS_DB = 8  # apart from the session stack's and the other modules' own
NODE_OFFLINE_SECONDS = 3
SIM_NODE_TIMEOUT = 2  # the simulator lists a dropped node this long (tests/stack.py)
POLL_SECONDS = 0.5


@pytest.fixture(scope="module")
def alerts_dir(tmp_path_factory: Any) -> Path:
    return tmp_path_factory.mktemp("alerts")


@pytest.fixture(scope="module")
def alerts_exo(alerts_dir: Path) -> Iterator[str]:
    with live.running_simulator("exo", alerts_dir / "sim") as url:
        yield url


@pytest.fixture(scope="module")
def alerts_stack(django_db_setup: None, alerts_exo: str,
                 alerts_dir: Path) -> Iterator[live.Stack]:
    if "REDIS_URL" not in os.environ:
        pytest.fail("The live stack needs the private Redis: run the suite with `make test`.")
    database = live.database_url(settings.DATABASES["default"])
    with live.separate_stack(database, alerts_exo, "http://127.0.0.1:9", alerts_dir / "stack",
                             redis_db=REDIS_DB, var_dir=alerts_dir / "var", extra_env={
                                 "NODE_OFFLINE_SECONDS": str(NODE_OFFLINE_SECONDS),
                                 "ALERT_EVALUATE_SECONDS": str(POLL_SECONDS),
                                 "ALERT_RETRY_SECONDS": "0.5"}) as running:
        yield running


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


def notices(receiver: Receiver, rule: str, subject: str) -> list[str]:
    return [body["event"] for body in receiver.bodies()
            if body["alert"]["rule"] == rule and body["alert"]["subject"] == subject]


def bell(ws: ClientConnection, done: Any, timeout: float = 30.0) -> dict[str, Any]:
    """The bell's frames until one satisfies `done`."""
    while True:
        frame = json.loads(ws.recv(timeout=timeout))
        assert frame["type"] == "alerts"
        if done(frame):
            return frame


def sim(exo: str, path: str, body: dict[str, Any] | None = None) -> None:
    httpx.post(f"{exo}/_sim/{path}", json=body, timeout=10).raise_for_status()


def online(client: httpx.Client, name: str) -> bool:
    return client.get(f"/api/v1/nodes/{name}/").json()["status"] == "online"


def test_dropping_beta_fires_node_offline_and_its_return_resolves_it(
        alerts_stack, alerts_exo, receiver, alice_token):
    headers = {"Authorization": f"Bearer {alice_token}"}
    with live.api(alerts_stack, alice_token) as client:
        wait_until(lambda: online(client, "alpha") and online(client, "beta"), timeout=30)
        with connect(f"{alerts_stack.ws_url}/ws/alerts/", additional_headers=headers) as ws:
            first = json.loads(ws.recv(timeout=10))
            assert first["type"] == "alerts"
            assert not [a for a in first["alerts"] if a["rule"] == "node_offline"]

            sim(alerts_exo, "nodes/BETA/drop")
            # NODE_OFFLINE_SECONDS after the poll stops seeing BETA, plus one poll and one
            # evaluation; the deadline is generous for a loaded machine.
            wait_until(lambda: notices(receiver, "node_offline", "beta") == ["firing"],
                       timeout=SIM_NODE_TIMEOUT + NODE_OFFLINE_SECONDS + 20)
            frame = bell(ws, lambda f: any(a["rule"] == "node_offline" and a["state"] == "firing"
                                           for a in f["alerts"]))
            assert frame["firing"] >= 1
            (firing,) = [a for a in frame["alerts"] if a["rule"] == "node_offline"]
            assert (firing["subject"], firing["severity"]) == ("beta", "critical")
            (body,) = [b for b in receiver.bodies() if b["alert"]["rule"] == "node_offline"]
            assert body["alert"]["labels"] == {"node": "beta"}
            assert body["alert"]["summary"].startswith("BETA is offline")
            listed = client.get("/api/v1/alerts/").json()
            assert [a["subject"] for a in listed["alerts"] if a["rule"] == "node_offline"] == [
                "beta"]

            sim(alerts_exo, "nodes/BETA/revive")
            wait_until(lambda: notices(receiver, "node_offline", "beta") == [
                "firing", "resolved"], timeout=30)
            bell(ws, lambda f: not any(a["rule"] == "node_offline" for a in f["alerts"]))
            assert notices(receiver, "node_offline", "alpha") == []


def test_turning_rdma_off_fires_the_tcp_fallback_alert(alerts_stack, alerts_exo, receiver,
                                                       alice_token):
    with live.api(alerts_stack, alice_token) as client:
        wait_until(lambda: online(client, "alpha") and online(client, "beta"), timeout=30)
        # Both linked by RDMA (and TCP) now: nothing to say, however many evaluations ran.
        assert not [a for a in client.get("/api/v1/alerts/").json()["alerts"]
                    if a["rule"] == "rdma_tcp_only"]
        sim(alerts_exo, "nodes/BETA/rdma", {"enabled": False})
        try:
            wait_until(lambda: notices(receiver, "rdma_tcp_only", "alpha-beta") == ["firing"],
                       timeout=30)
            (body,) = [b for b in receiver.bodies() if b["alert"]["rule"] == "rdma_tcp_only"]
            assert "TCP" in body["alert"]["hint"]
        finally:
            sim(alerts_exo, "nodes/BETA/rdma", {"enabled": True})
        wait_until(lambda: notices(receiver, "rdma_tcp_only", "alpha-beta") == [
            "firing", "resolved"], timeout=30)
