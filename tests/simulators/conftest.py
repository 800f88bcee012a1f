"""Fixtures for the simulator tests: Hugging Face Hub ones start with `hub_`, exo ones with
`exo_` (their harness is `simulators.exo.testing`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import HfApi

from simulators.exo.config import SimConfig
from simulators.exo.testing import FAST, RunningSim, running
from simulators.hub.content import HashCache
from simulators.hub.manifest import tiny_manifest
from simulators.hub.repos import RepoStore
from simulators.hub.server import HubServer
from simulators.hub.state import SimState

HUB_TOKEN = "hf_sim_valid_token"
HUB_REPO = "sim-org/tiny-4bit"
HUB_WIDE_REPO = "sim-org/wide-4bit"
HUB_GATED_REPO = "sim-gated/tiny-bf16"


@pytest.fixture
def hub_state() -> SimState:
    store = RepoStore(tiny_manifest(), Fraction(1), HashCache(None))
    return SimState(store=store, tokens=frozenset({HUB_TOKEN}))


@pytest.fixture
def hub_server(hub_state: SimState) -> Iterator[HubServer]:
    with HubServer(hub_state) as server:
        yield server


@pytest.fixture
def hub_url(hub_server: HubServer) -> str:
    return hub_server.url


@pytest.fixture
def hub_api(hub_url: str) -> HfApi:
    # token=False: never send a token the developer may have stored for the real Hub.
    return HfApi(endpoint=hub_url, token=False)


@pytest.fixture
def hub_http(hub_url: str) -> Iterator[httpx.Client]:
    # LFS files come from the CDN the Hub redirects to.
    with httpx.Client(base_url=hub_url, timeout=10, follow_redirects=True) as client:
        yield client


@pytest.fixture
def make_exo_sim(tmp_path: Path) -> Iterator[Callable[..., RunningSim]]:
    """Start exo simulators with SimConfig fields (FAST timings, logs under tmp_path)."""
    with ExitStack() as stack:
        started: list[RunningSim] = []

        def start(**fields: Any) -> RunningSim:
            log_dir = tmp_path / f"exo-logs-{len(started)}"
            config = SimConfig(**{**FAST, "log_dir": log_dir, "port": 0, **fields})
            started.append(stack.enter_context(running(config)))
            return started[-1]

        yield start


@pytest.fixture
def exo_sim(make_exo_sim: Callable[..., RunningSim]) -> RunningSim:
    return make_exo_sim()
