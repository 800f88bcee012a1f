"""Downloads through huggingface_hub (plain HTTP, no Xet) and byte ranges through httpx."""

from __future__ import annotations

import hashlib
import itertools
import json
import struct
from fractions import Fraction
from pathlib import Path

import httpx
import pytest
from huggingface_hub import (
    HfApi,
    get_hf_file_metadata,
    hf_hub_download,
    hf_hub_url,
    snapshot_download,
)
from huggingface_hub.hf_api import RepoFile

from simulators.hub.content import HashCache
from simulators.hub.manifest import tiny_manifest
from simulators.hub.repos import RepoStore
from simulators.hub.server import HubServer
from simulators.hub.state import SimState

from .conftest import HUB_GATED_REPO, HUB_REPO, HUB_TOKEN

SHARD = "model-00001-of-00002.safetensors"


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def safetensors_header(path: str | Path) -> tuple[dict[str, dict], int]:
    """Returns the parsed header and where tensor data starts."""
    data = Path(path).read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + length]), 8 + length


def test_file_metadata_carries_commit_sha256_etag_and_size(
    hub_url: str, hub_state: SimState
) -> None:
    repo = hub_state.store.repos[HUB_REPO]

    meta = get_hf_file_metadata(hf_hub_url(HUB_REPO, SHARD, endpoint=hub_url), token=False)

    assert meta.commit_hash == repo.commit
    assert meta.etag == hub_state.store.sha256(repo.files[SHARD])
    assert meta.size == repo.files[SHARD].size
    assert meta.xet_file_data is None


def test_head_of_a_small_file_gives_its_git_blob_id_and_no_xet_headers(
    hub_http: httpx.Client, hub_state: SimState
) -> None:
    response = hub_http.head(f"/{HUB_REPO}/resolve/main/config.json")

    blob = hub_state.store.repos[HUB_REPO].files["config.json"]
    assert response.headers["etag"] == f'"{hub_state.store.blob_id(blob)}"'
    assert "x-linked-etag" not in response.headers
    assert response.headers["accept-ranges"] == "bytes"
    assert not [h for h in response.headers if h.startswith("x-xet")]
    assert "link" not in response.headers


def test_hf_hub_download_matches_the_listed_lfs_sha256(
    hub_api: HfApi, hub_url: str, tmp_path: Path
) -> None:
    listed = {e.path: e for e in hub_api.list_repo_tree(HUB_REPO) if isinstance(e, RepoFile)}

    path = hf_hub_download(HUB_REPO, SHARD, endpoint=hub_url, cache_dir=tmp_path, token=False)

    assert listed[SHARD].lfs is not None
    assert sha256_of(path) == listed[SHARD].lfs.sha256
    assert Path(path).stat().st_size == listed[SHARD].size


def test_downloaded_shards_have_valid_safetensors_headers(hub_url: str, tmp_path: Path) -> None:
    folder = snapshot_download(HUB_REPO, endpoint=hub_url, cache_dir=tmp_path, token=False)

    index = json.loads((Path(folder) / "model.safetensors.index.json").read_text())
    total = 0
    for shard in sorted(set(index["weight_map"].values())):
        header, data_start = safetensors_header(Path(folder) / shard)
        assert header.pop("__metadata__") == {"format": "mlx"}
        ends = sorted(t["data_offsets"] for t in header.values())
        assert ends[0][0] == 0
        assert all(a[1] == b[0] for a, b in itertools.pairwise(ends))
        assert ends[-1][1] == (Path(folder) / shard).stat().st_size - data_start
        assert data_start % 8 == 0
        for name, tensor in header.items():
            assert index["weight_map"][name] == shard
            width = {"U32": 4, "BF16": 2}[tensor["dtype"]]
            assert (
                tensor["data_offsets"][1] - tensor["data_offsets"][0] == tensor["shape"][0] * width
            )
        total += ends[-1][1]
    assert total == index["metadata"]["total_size"]


def test_snapshot_download_with_allow_patterns_fetches_only_those(
    hub_url: str, hub_state: SimState, tmp_path: Path
) -> None:
    folder = snapshot_download(
        HUB_REPO, endpoint=hub_url, cache_dir=tmp_path, token=False, allow_patterns=["*.json"]
    )

    names = sorted(p.name for p in Path(folder).iterdir())
    assert names == [
        "config.json",
        "model.safetensors.index.json",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    assert not [k for k in hub_state.counters.files if k.endswith(".safetensors")]


def test_a_completed_file_is_not_fetched_again(
    hub_url: str, hub_state: SimState, tmp_path: Path
) -> None:
    snapshot_download(HUB_REPO, endpoint=hub_url, cache_dir=tmp_path, token=False)
    stats = hub_state.counters.file(HUB_REPO, SHARD)
    assert stats.completed == 1

    snapshot_download(HUB_REPO, endpoint=hub_url, cache_dir=tmp_path, token=False)

    assert stats.get == 1
    assert stats.completed == 1


def test_gated_repo_downloads_with_a_valid_token(
    hub_url: str, hub_state: SimState, tmp_path: Path
) -> None:
    path = hf_hub_download(
        HUB_GATED_REPO, "model.safetensors", endpoint=hub_url, cache_dir=tmp_path, token=HUB_TOKEN
    )

    header, _ = safetensors_header(path)
    assert header["__metadata__"] == {"format": "pt"}
    repo = hub_state.store.repos[HUB_GATED_REPO]
    assert sha256_of(path) == hub_state.store.sha256(repo.files["model.safetensors"])


def test_content_is_identical_across_servers(hub_url: str, tmp_path: Path) -> None:
    first = hf_hub_download(
        HUB_REPO, SHARD, endpoint=hub_url, cache_dir=tmp_path / "a", token=False
    )
    other = SimState(store=RepoStore(tiny_manifest(), Fraction(1), HashCache(None)))
    with HubServer(other) as second_server:
        second = hf_hub_download(
            HUB_REPO, SHARD, endpoint=second_server.url, cache_dir=tmp_path / "b", token=False
        )

    assert Path(first).read_bytes() == Path(second).read_bytes()


@pytest.mark.parametrize(
    ("range_header", "start", "end"),
    [("bytes=0-99", 0, 100), ("bytes=1000-", 1000, None), ("bytes=-64", -64, None)],
)
def test_range_requests_return_206_with_content_range(
    hub_http: httpx.Client, hub_state: SimState, range_header: str, start: int, end: int | None
) -> None:
    file = hub_state.store.repos[HUB_REPO].files[SHARD]
    whole = hub_http.get(f"/{HUB_REPO}/resolve/main/{SHARD}").content

    response = hub_http.get(f"/{HUB_REPO}/resolve/main/{SHARD}", headers={"Range": range_header})

    expected = whole[start:end]
    assert response.status_code == 206
    assert response.content == expected
    first = start % file.size
    assert (
        response.headers["content-range"]
        == f"bytes {first}-{first + len(expected) - 1}/{file.size}"
    )
    assert response.headers["content-length"] == str(len(expected))


def test_range_past_the_end_is_416(hub_http: httpx.Client, hub_state: SimState) -> None:
    size = hub_state.store.repos[HUB_REPO].files[SHARD].size

    response = hub_http.get(
        f"/{HUB_REPO}/resolve/main/{SHARD}", headers={"Range": f"bytes={size}-"}
    )

    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{size}"


def test_unparsable_range_is_ignored(hub_http: httpx.Client, hub_state: SimState) -> None:
    response = hub_http.get(f"/{HUB_REPO}/resolve/main/{SHARD}", headers={"Range": "lines=1-2"})

    assert response.status_code == 200
    assert len(response.content) == hub_state.store.repos[HUB_REPO].files[SHARD].size
