"""The bandwidth cap slows downloads measurably; bounds are loose, against a same-run baseline."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from huggingface_hub import hf_hub_download

from .conftest import HUB_WIDE_REPO

SHARDS = ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors"]


def timed_download(hub_url: str, filename: str, cache_dir: Path) -> float:
    started = time.monotonic()
    hf_hub_download(HUB_WIDE_REPO, filename, endpoint=hub_url, cache_dir=cache_dir, token=False)
    return time.monotonic() - started


def timed_pair(hub_url: str) -> float:
    def fetch(name: str) -> None:
        url = f"{hub_url}/{HUB_WIDE_REPO}/resolve/main/{name}"
        httpx.get(url, timeout=10, follow_redirects=True).raise_for_status()

    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(fetch, SHARDS))
    return time.monotonic() - started


def test_capped_download_is_slower_than_the_baseline(
    hub_http: httpx.Client, hub_url: str, tmp_path: Path
) -> None:
    baseline = timed_download(hub_url, SHARDS[0], tmp_path / "fast")
    assert hub_http.put("/_sim/bandwidth", json={"bytes_per_second": 1_000_000}).status_code == 200

    capped = timed_download(hub_url, SHARDS[0], tmp_path / "slow")

    # ~540 kB at 1 MB/s is about half a second
    assert capped >= 0.4
    assert capped > 2 * baseline


def test_a_global_cap_is_shared_and_a_per_connection_cap_is_not(
    hub_http: httpx.Client, hub_url: str
) -> None:
    hub_http.put("/_sim/bandwidth", json={"bytes_per_second": 1_000_000, "per": "global"})
    shared = timed_pair(hub_url)
    hub_http.put("/_sim/bandwidth", json={"bytes_per_second": 1_000_000, "per": "connection"})

    separate = timed_pair(hub_url)

    # two ~540 kB files: ~1.1 s through one shared 1 MB/s, ~0.55 s with 1 MB/s each
    assert shared >= 0.95
    assert separate < shared * 0.8


def test_bandwidth_can_be_read_and_lifted(hub_http: httpx.Client) -> None:
    hub_http.put("/_sim/bandwidth", json={"bytes_per_second": 5000, "per": "connection"})
    assert hub_http.get("/_sim/bandwidth").json() == {"bytes_per_second": 5000, "per": "connection"}

    hub_http.put("/_sim/bandwidth", json={"bytes_per_second": None})

    assert hub_http.get("/_sim/bandwidth").json() == {"bytes_per_second": None, "per": "global"}


def test_bad_bandwidth_bodies_are_400(hub_http: httpx.Client) -> None:
    for body in ({"bytes_per_second": 0}, {"bytes_per_second": "fast"}, {"per": "planet"}, [1]):
        response = hub_http.put("/_sim/bandwidth", json=body)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid"
