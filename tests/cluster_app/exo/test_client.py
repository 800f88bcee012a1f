"""The exo client over loopback against the exo simulator, and against nothing at all."""

from __future__ import annotations

import httpx
import pytest

from arthur_panel.exceptions import DomainError
from arthur_panel.launcher import free_port
from cluster_app.exo.client import ExoClient, ExoError, ExoUnavailable

LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"


@pytest.fixture
def client(exo_url):
    with ExoClient(exo_url) as client:
        yield client


def test_reads_state_and_models(client):
    state = client.state()
    assert {"nodeIdentities", "nodeMemory", "topology", "instances", "runners"} <= set(state)
    ids = {card["id"] for card in client.models()}
    assert {LLAMA_1B, "mlx-community/DeepSeek-V3.1-4bit"} <= ids


def test_previews_and_placement(client):
    previews = client.previews(LLAMA_1B)
    assert {(p["sharding"], p["instance_meta"]) for p in previews} >= {("Pipeline", "MlxRing")}
    placed = client.placement(model_id=LLAMA_1B, sharding="Pipeline", instance_meta="MlxRing",
                              min_nodes=1)
    assert list(placed) == ["MlxRingInstance"]


def test_placement_error_carries_exos_own_message(client):
    with pytest.raises(ExoError) as refused:
        client.placement(model_id=LLAMA_1B, sharding="Pipeline", instance_meta="MlxRing",
                         min_nodes=3)
    assert refused.value.exo_status == 400
    assert refused.value.message == "No cycles found with sufficient memory"


def test_unknown_instance_is_exos_404(client):
    with pytest.raises(ExoError) as missing:
        client.delete_instance("no-such-instance")
    assert missing.value.exo_status == 404


def test_connection_errors_are_retried_with_backoff_then_reported():
    sleeps: list[float] = []
    url = f"http://127.0.0.1:{free_port()}"
    with (ExoClient(url, retries=2, backoff=0.1, sleep=sleeps.append) as client,
          pytest.raises(ExoUnavailable, match="is not answering")):
        client.state()
    assert sleeps == [0.1, 0.2]


def test_an_answered_error_is_not_retried(exo_url):
    sleeps: list[float] = []
    httpx.post(f"{exo_url}/_sim/faults", json={"error_rate": 1.0})
    try:
        with (ExoClient(exo_url, retries=3, sleep=sleeps.append) as client,
              pytest.raises(ExoError) as failed):
            client.state()
    finally:
        httpx.delete(f"{exo_url}/_sim/faults")
    assert failed.value.exo_status == 500 and sleeps == []


def test_a_slow_exo_times_out_with_a_clear_message(exo_url):
    httpx.post(f"{exo_url}/_sim/faults", json={"latency": 1.0})
    try:
        with (ExoClient(exo_url, timeout=0.2) as client,
              pytest.raises(ExoUnavailable, match="timed out")):
            client.state()
    finally:
        httpx.delete(f"{exo_url}/_sim/faults")


def recording_client(seen: list[str]) -> ExoClient:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(200, json={"message": "Command received."})

    return ExoClient("http://exo.test", transport=httpx.MockTransport(answer))


@pytest.mark.parametrize(("instance_id", "sent"), [
    ("3f9a2c1b-5d4e-4f6a-8b7c-9d0e1f2a3b4c", "/instance/3f9a2c1b-5d4e-4f6a-8b7c-9d0e1f2a3b4c"),
    ("../_sim/faults", "/instance/..%2F_sim%2Ffaults"),
    ("..%2F_sim", "/instance/..%252F_sim"),
    ("a/b?c#d", "/instance/a%2Fb%3Fc%23d")])
def test_an_id_stays_inside_its_own_path_segment(instance_id, sent):
    seen: list[str] = []
    with recording_client(seen) as client:
        client.delete_instance(instance_id)
    assert seen == [sent]


@pytest.mark.parametrize("instance_id", ["..", ".", ""])
def test_a_dot_segment_is_never_sent(instance_id):
    seen: list[str] = []
    with recording_client(seen) as client, pytest.raises(DomainError) as refused:
        client.delete_instance(instance_id)
    assert refused.value.code == "invalid_id" and seen == []


def test_a_traversal_that_reached_exo_would_name_no_route(exo_url):
    # The simulator has control routes (/_sim/faults): a quoted id cannot reach them.
    httpx.post(f"{exo_url}/_sim/faults", json={"latency": 0.01})
    try:
        with ExoClient(exo_url) as client, pytest.raises(ExoError) as missing:
            client.delete_instance("../_sim/faults")
        assert missing.value.exo_status == 404
        assert httpx.get(f"{exo_url}/_sim/faults").json()["latency"] == 0.01
    finally:
        httpx.delete(f"{exo_url}/_sim/faults")
