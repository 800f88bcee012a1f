"""`GET /metrics` on the live stack, read by Prometheus's own parser, after a chat stream (on
two web processes), a download, jobs, a runner failure and a JACCL error in the logs: every
family is there, and the counters moved by what was done, whichever process did it."""

from __future__ import annotations

import shutil
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cluster_app.logs.follow import LogFollower
from models_app.catalogue.services import model_add_from_hub
from tests.arthur_panel.test_monitoring_docs import SUFFIXES, dashboard_metric_names
from tests.stack import api, free_port, start, stop, wait_for_port, wait_until, web_command

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"
REPO = "sim-org/wide-4bit"
FAMILIES = {
    "arthur_node_up", "arthur_node_memory_used_bytes", "arthur_node_memory_total_bytes",
    "arthur_node_swap_used_bytes", "arthur_node_gpu_utilisation_ratio",
    "arthur_node_temperature_celsius", "arthur_node_power_watts", "arthur_node_disk_free_bytes",
    "arthur_exo_up", "arthur_exo_process_up", "arthur_exo_process_uptime_seconds",
    "arthur_link_up", "arthur_instances", "arthur_runner_failures",
    "arthur_proxy_requests", "arthur_proxy_first_token_seconds",
    "arthur_proxy_request_duration_seconds", "arthur_proxy_tokens",
    "arthur_proxy_tokens_per_second", "arthur_jobs", "arthur_job_duration_seconds",
    "arthur_download_bytes", "arthur_download_failures", "arthur_log_lines",
    "arthur_health_check_status",
}


class Scrape:
    """One /metrics answer: sample name -> {labels: value}."""

    def __init__(self, text: str) -> None:
        families = list(text_string_to_metric_families(text))
        self.families = {f.name for f in families}
        # Every sample name each family may have (one with no sample yet has its TYPE line).
        self.names = {f.name + suffix for f in families for suffix in SUFFIXES[f.type]}
        self.samples: dict[str, dict[tuple, float]] = defaultdict(dict)
        for family in families:
            for sample in family.samples:
                self.samples[sample.name][tuple(sorted(sample.labels.items()))] = sample.value

    def total(self, name: str, **labels: str) -> float:
        return sum(value for key, value in self.samples[name].items()
                   if set(labels.items()) <= set(key))


def scrape(stack, token) -> Scrape:
    with api(stack, token) as client:
        response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return Scrape(response.text)


def chat(base_url: str, token: str) -> None:
    with httpx.stream("POST", f"{base_url}/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {token}"},
                      json={"model": "llama-3.2-1b", "stream": True, "max_tokens": 8,
                            "messages": [{"role": "user", "content": "Hello"}]}) as response:
        assert response.status_code == 200
        assert b"".join(response.iter_raw()).rstrip().endswith(b"data: [DONE]")


def run_job(stack, token, path: str, body: dict) -> dict:
    with api(stack, token) as client:
        response = client.post(path, json=body)
        assert response.status_code in (200, 201), response.text
        created = response.json()
        job = created["jobs"][0] if "jobs" in created else created
        return wait_until(lambda: (lambda j: j if j["state"] in ("succeeded", "failed") else None)(
            client.get(f"/api/v1/jobs/{job['id']}/").json()), timeout=60)


@pytest.fixture
def second_web(live_stack, tmp_path):
    """Another web process of the same machine, as a second uvicorn behind a proxy would be."""
    port = free_port()
    process = start(web_command(), {**live_stack.env, "HOST": "127.0.0.1", "PORT": str(port)},
                    tmp_path / "web2.log")
    try:
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def fail_a_runner(exo_url: str, stack, token) -> None:
    """Fail one of Llama's runners, with exo's re-creation held back long enough for the
    poll (every 0.5 s) to see it."""
    sim = httpx.Client(base_url=f"{exo_url}/_sim", timeout=10)
    backoff = sim.get("/settings").json()["retry_backoff"]
    sim.post("/settings", json={"retry_backoff": 5})
    try:
        with api(stack, token) as client:
            (instance,) = [i for i in client.get("/api/v1/cluster/").json()["instances"]
                           if i["model_id"] == LLAMA_1B]
        assert sim.post(f"/runners/{instance['runners'][0]['runner_id']}/fail").status_code == 200
        wait_until(lambda: scrape(stack, token).total("arthur_runner_failures_total",
                                                      model=LLAMA_1B) >= 1)
    finally:
        sim.post("/settings", json={"retry_backoff": backoff})
        sim.close()


def follow_a_jaccl_error(tmp_path: Path) -> None:
    """This test's own process follows a log file, as `manage.py follow_logs` does."""
    log = tmp_path / "exo.log"
    log.write_text("[ 12:00:01 | ERROR | jaccl ] [jaccl] recv failed errno=60\n"
                   "[ 12:00:02 | INFO | exo ] all good\n")
    follower = LogFollower(publish=lambda groups, event: None)
    follower.configure({"alpha": [str(log)]})
    wait_until(lambda: follower.step())
    follower.close()


def test_a_scrape_has_every_family_and_counts_from_every_process(
        live_stack, alice_token, loaded_llama, second_web, hub, exo_url, tmp_path):
    shutil.rmtree(live_stack.models_dir, ignore_errors=True)
    model = model_add_from_hub(repo_id=REPO)
    before = scrape(live_stack, alice_token)

    for base_url in (live_stack.base_url, live_stack.base_url, second_web):
        chat(base_url, alice_token)
    download = run_job(live_stack, alice_token, f"/api/v1/models/{model.slug}/download/",
                       {"node": "alpha"})
    ping = run_job(live_stack, alice_token, "/api/v1/jobs/",
                   {"kind": "ping", "node": "alpha", "params": {"count": 1}})
    health = run_job(live_stack, alice_token, "/api/v1/health/", {})
    assert [download["state"], ping["state"], health["state"]] == ["succeeded"] * 3
    follow_a_jaccl_error(tmp_path)
    fail_a_runner(exo_url, live_stack, alice_token)
    after = scrape(live_stack, alice_token)

    assert FAMILIES - after.families == set()
    llama = {"model": LLAMA_1B}
    ok = {**llama, "status": "ok", "api": "chat", "route": "direct", "key": "tests"}
    assert after.total("arthur_proxy_requests_total", **ok) - before.total(
        "arthur_proxy_requests_total", **ok) == 3
    for name in ("arthur_proxy_first_token_seconds_count", "arthur_proxy_tokens_per_second_count"):
        assert after.total(name, **llama) - before.total(name, **llama) == 3
    out = {**llama, "direction": "out"}
    assert after.total("arthur_proxy_tokens_total", **out) > before.total(
        "arthur_proxy_tokens_total", **out)
    # Counted by the bulk worker, not the web process that answers the scrape.
    assert after.total("arthur_download_bytes_total", node="alpha") - before.total(
        "arthur_download_bytes_total", node="alpha") >= download["total"] > 0
    # Counted by the workers: each job once (beat may run the health checks meanwhile too).
    for kind, least in (("model.download", 1), ("ping", 1), ("health.run", 1)):
        labels = {"kind": kind, "state": "succeeded"}
        moved = after.total("arthur_job_duration_seconds_count", **labels) - before.total(
            "arthur_job_duration_seconds_count", **labels)
        assert moved == least or (kind == "health.run" and moved > least), (kind, moved)
    assert after.total("arthur_jobs", kind="ping", state="succeeded") >= 1
    # Counted by this test's process, following a log as `manage.py follow_logs` does.
    for kind in ("jaccl_error", "other"):
        labels = {"node": "alpha", "class": kind}
        assert after.total("arthur_log_lines_total", **labels) - before.total(
            "arthur_log_lines_total", **labels) == 1, kind
    assert after.total("arthur_runner_failures_total", **llama) - before.total(
        "arthur_runner_failures_total", **llama) >= 1
    assert after.total("arthur_exo_up") == 1
    assert after.total("arthur_node_memory_used_bytes", node="alpha") > 0
    assert after.total("arthur_link_up", a="alpha", b="beta", kind="rdma") == 1
    assert after.total("arthur_instances", model=LLAMA_1B) == 1
    assert after.total("arthur_health_check_status", check="exo_api", scope="cluster",
                       status="pass") == 1

    # The dashboard in docs/ asks for nothing this scrape lacks.
    assert dashboard_metric_names() - after.names == set()

