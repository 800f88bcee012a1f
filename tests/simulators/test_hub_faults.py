"""Injected faults: each kind seen from the client side, plus the control routes."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError

from simulators.hub.state import SimState

from .conftest import HUB_REPO, HUB_WIDE_REPO

SHARD = "model-00002-of-00003.safetensors"


def add_fault(http: httpx.Client, **fault: object) -> dict:
    response = http.post("/_sim/faults", json=fault)
    assert response.status_code == 201, response.text
    return response.json()["faults"][0]


def test_drop_once_is_retried_by_huggingface_hub(
    hub_http: httpx.Client, hub_url: str, hub_state: SimState, tmp_path: Path
) -> None:
    add_fault(hub_http, kind="drop", path=SHARD, after_bytes=100_000)
    file = hub_state.store.repos[HUB_WIDE_REPO].files[SHARD]

    path = hf_hub_download(HUB_WIDE_REPO, SHARD, endpoint=hub_url, cache_dir=tmp_path, token=False)

    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == hub_state.store.sha256(file)
    stats = hub_state.counters.file(HUB_WIDE_REPO, SHARD)
    assert (stats.get, stats.completed) == (2, 1)
    # huggingface_hub reads 10 MB pieces, so the 100 kB it got before the drop were never
    # written and the retry starts again from byte 0.
    assert stats.bytes == 100_000 + file.size


def test_drop_every_time_cuts_each_response_short(hub_http: httpx.Client) -> None:
    add_fault(hub_http, kind="drop", path=SHARD, after_bytes=4096, times=None)

    for _ in range(2):
        received = bytearray()
        url = f"/{HUB_WIDE_REPO}/resolve/main/{SHARD}"
        with pytest.raises(httpx.RemoteProtocolError), hub_http.stream("GET", url) as response:
            for chunk in response.iter_bytes():
                received += chunk
        assert len(received) == 4096


def test_errors_n_times_then_recover(
    hub_http: httpx.Client, hub_url: str, hub_state: SimState, tmp_path: Path
) -> None:
    add_fault(hub_http, kind="error", path="config.json", status=503, times=2, methods=["HEAD"])

    # huggingface_hub retries a failed HEAD (after a second) when nothing is cached.
    path = hf_hub_download(
        HUB_REPO, "config.json", endpoint=hub_url, cache_dir=tmp_path, token=False
    )

    assert Path(path).exists()
    assert hub_state.counters.file(HUB_REPO, "config.json").head == 1
    assert hub_state.counters.routes["resolve_head"] == 3
    assert hub_http.get("/_sim/faults").json()["faults"][0]["active"] is False


def test_error_on_get_raises_http_error(
    hub_http: httpx.Client, hub_url: str, tmp_path: Path
) -> None:
    add_fault(hub_http, kind="error", path="*.jinja", status=500, methods=["GET"])

    with pytest.raises(HfHubHTTPError) as caught:
        hf_hub_download(
            HUB_REPO, "chat_template.jinja", endpoint=hub_url, cache_dir=tmp_path, token=False
        )

    assert caught.value.response.status_code == 500


def test_api_error_fault_hits_model_info_once(hub_http: httpx.Client, hub_api: HfApi) -> None:
    add_fault(hub_http, kind="error", scope="api", repo="sim-org/*", status=502)

    with pytest.raises(HfHubHTTPError) as caught:
        hub_api.model_info(HUB_REPO)

    assert caught.value.response.status_code == 502
    assert hub_api.model_info(HUB_REPO).id == HUB_REPO


def test_stall_sends_nothing_for_a_while(hub_http: httpx.Client, hub_url: str) -> None:
    add_fault(hub_http, kind="stall", path=SHARD, after_bytes=1000, seconds=1.0, times=2)
    url = f"{hub_url}/{HUB_WIDE_REPO}/resolve/main/{SHARD}"

    received = bytearray()
    timeout = httpx.Timeout(5, read=0.3)
    with pytest.raises(httpx.ReadTimeout), httpx.stream(
        "GET", url, timeout=timeout, follow_redirects=True
    ) as response:
        for chunk in response.iter_bytes():
            received += chunk
    started = time.monotonic()
    patient = httpx.get(url, timeout=5, follow_redirects=True)
    elapsed = time.monotonic() - started

    assert len(received) == 1000
    assert patient.status_code == 200
    assert elapsed >= 0.9


def test_corrupt_bytes_keep_headers_but_break_the_sha256(
    hub_http: httpx.Client, hub_url: str, hub_state: SimState, tmp_path: Path
) -> None:
    file = hub_state.store.repos[HUB_WIDE_REPO].files[SHARD]
    clean = hub_http.get(f"/{HUB_WIDE_REPO}/resolve/main/{SHARD}")
    add_fault(hub_http, kind="corrupt", path=SHARD, offset=200_000, length=8)

    path = hf_hub_download(HUB_WIDE_REPO, SHARD, endpoint=hub_url, cache_dir=tmp_path, token=False)

    data = Path(path).read_bytes()
    assert len(data) == file.size
    assert hashlib.sha256(data).hexdigest() != hub_state.store.sha256(file)
    differing = [i for i, (a, b) in enumerate(zip(data, clean.content, strict=True)) if a != b]
    assert differing == list(range(200_000, 200_008))
    head = hub_http.head(f"/{HUB_WIDE_REPO}/resolve/main/{SHARD}", follow_redirects=False)
    assert head.headers["x-linked-etag"] == f'"{hub_state.store.sha256(file)}"'


def test_faults_match_by_path_pattern_only(hub_http: httpx.Client, hub_state: SimState) -> None:
    add_fault(hub_http, kind="error", path="*.safetensors")

    assert hub_http.get(f"/{HUB_REPO}/resolve/main/config.json").status_code == 200
    assert (
        hub_http.get(f"/{HUB_REPO}/resolve/main/model-00001-of-00002.safetensors").status_code
        == 503
    )


def test_faults_can_be_listed_removed_and_cleared(hub_http: httpx.Client) -> None:
    first = add_fault(hub_http, kind="drop", after_bytes=10)
    add_fault(hub_http, kind="stall")

    assert hub_http.delete(f"/_sim/faults/{first['id']}").status_code == 200
    assert [f["kind"] for f in hub_http.get("/_sim/faults").json()["faults"]] == ["stall"]
    assert hub_http.delete("/_sim/faults").json() == {"cleared": 1}
    assert hub_http.get("/_sim/faults").json() == {"faults": []}


def test_removing_an_unknown_fault_is_404(hub_http: httpx.Client) -> None:
    response = hub_http.delete("/_sim/faults/99")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "malformed_json"),
        (b'{"kind": "explode"}', "invalid_fault"),
        (b'{"kind": "drop", "after_bytes": -1}', "invalid_fault"),
        (b'{"kind": "error", "status": 404}', "invalid_fault"),
        (b'{"kind": "drop", "methods": ["HEAD"]}', "invalid_fault"),
        (b'{"kind": "drop", "scope": "api"}', "invalid_fault"),
        (b'{"kind": "drop", "colour": "red"}', "invalid_fault"),
        (b'[{"kind": "drop"}, {"kind": "nope"}]', "invalid_fault"),
    ],
)
def test_bad_fault_bodies_are_400_and_add_nothing(
    hub_http: httpx.Client, body: bytes, code: str
) -> None:
    response = hub_http.post(
        "/_sim/faults", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert hub_http.get("/_sim/faults").json() == {"faults": []}


def test_counters_can_be_read_and_reset(hub_http: httpx.Client) -> None:
    hub_http.get(f"/{HUB_REPO}/resolve/main/config.json")
    counted = hub_http.get("/_sim/counters").json()

    hub_http.delete("/_sim/counters")

    assert counted["files"][f"{HUB_REPO}/config.json"]["get"] == 1
    assert counted["requests"]["resolve_get"] == 1
    assert hub_http.get("/_sim/counters").json() == {"requests": {}, "files": {}}


def test_a_dropped_download_resumes_with_a_range_request(
    hub_http: httpx.Client, hub_state: SimState
) -> None:
    add_fault(hub_http, kind="drop", path=SHARD, after_bytes=70_000)
    url = f"/{HUB_WIDE_REPO}/resolve/main/{SHARD}"
    received = bytearray()
    with pytest.raises(httpx.RemoteProtocolError), hub_http.stream("GET", url) as response:
        for chunk in response.iter_bytes():
            received += chunk

    rest = hub_http.get(url, headers={"Range": f"bytes={len(received)}-"})

    file = hub_state.store.repos[HUB_WIDE_REPO].files[SHARD]
    assert rest.status_code == 206
    assert hub_state.counters.file(HUB_WIDE_REPO, SHARD).ranged_get == 1
    assert hashlib.sha256(bytes(received) + rest.content).hexdigest() == hub_state.store.sha256(
        file
    )
