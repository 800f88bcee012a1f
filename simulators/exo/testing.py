"""Run the simulator inside a test process: a real server on a free loopback port, in a thread,
plus a small httpx helper. Used by this repository's tests; imports nothing of the panel."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from .app import build_app
from .cluster import Cluster
from .config import SimConfig
from .generation import Generations

# Fast enough for a test suite to run in seconds, slow enough to watch runner phases go by;
# a Hub that refuses connections unless a test names one.
FAST: dict[str, Any] = {"load_time": 0.15, "speed": 50.0, "tick": 0.02, "node_timeout": 0.6,
                        "download_speed": 40e9 / 50, "retry_backoff": 0.05,
                        "hf_endpoint": "http://127.0.0.1:9"}


@dataclass
class RunningSim:
    url: str
    cluster: Cluster
    client: httpx.Client
    generations: Generations

    def state(self, path: str = "") -> Any:
        response = self.client.get(f"/state{path}")
        assert response.status_code == 200, response.text
        return response.json()

    def node_id(self, name: str) -> str:
        """The current id of the node the simulator calls ``name`` (ALPHA, BETA)."""
        nodes = self.client.get("/_sim").json()["nodes"]
        matches = [node["node_id"] for node in nodes if node["name"] == name]
        assert matches, f"{name} not in {nodes}"
        return str(matches[-1])

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Poll until the predicate returns something truthy, and return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.02)
        raise AssertionError("condition not met in time")

    def placement(self, model_id: str, sharding: str = "Pipeline", meta: str = "MlxRing",
                  min_nodes: int = 1) -> dict[str, Any]:
        response = self.client.get("/instance/placement", params={
            "model_id": model_id, "sharding": sharding, "instance_meta": meta,
            "min_nodes": min_nodes})
        assert response.status_code == 200, response.text
        placed: dict[str, Any] = response.json()
        return placed

    def load(self, model_id: str, sharding: str = "Pipeline", meta: str = "MlxRing",
             min_nodes: int = 1, wait: bool = True) -> dict[str, Any]:
        """Place and create an instance; by default wait until every runner is Ready."""
        instance = self.placement(model_id, sharding, meta, min_nodes)
        response = self.client.post("/instance", json={"instance": instance})
        assert response.status_code == 200, response.text
        if wait:
            self.wait_for(lambda: self.ready(instance))
        return instance

    def ready(self, instance: dict[str, Any]) -> bool:
        body = next(iter(instance.values()))
        runners = self.state()["runners"]
        return all(
            next(iter(runners.get(runner_id, {"missing": {}}))) == "RunnerReady"
            for runner_id in body["shardAssignments"]["nodeToRunner"].values()
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running(config: SimConfig, wait_for_shutdown: bool = False) -> Iterator[RunningSim]:
    """Serve ``config`` (its port, or a free one if 0) until the block ends.

    uvicorn takes about 0.2 s to stop; by default the block does not wait for it, which keeps
    a suite that starts a simulator per test fast.
    """
    if config.port == 0:
        config.port = free_port()
    app = build_app(config)
    server = uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("exo simulator did not start")
        time.sleep(0.01)
    url = f"http://{config.host}:{config.port}"
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            yield RunningSim(url=url, cluster=app.state.cluster, client=client,
                             generations=app.state.generations)
    finally:
        server.should_exit = True
        if wait_for_shutdown:
            thread.join(timeout=5)
