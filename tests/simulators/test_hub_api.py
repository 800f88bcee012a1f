"""Model info, tree listing and paths-info, read through the real huggingface_hub client."""

from __future__ import annotations

import httpx
from huggingface_hub import HfApi
from huggingface_hub.hf_api import RepoFile, RepoFolder

from simulators.hub.state import SimState

from .conftest import HUB_GATED_REPO, HUB_REPO

SHARDS = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]


def test_model_info_lists_siblings_and_commit(hub_api: HfApi, hub_state: SimState) -> None:
    info = hub_api.model_info(HUB_REPO)

    assert info.id == HUB_REPO
    assert info.sha == hub_state.store.repos[HUB_REPO].commit
    assert info.gated is False
    names = [s.rfilename for s in info.siblings or []]
    assert set(SHARDS) <= set(names)
    assert {"config.json", "tokenizer.json", "chat_template.jinja", "README.md"} <= set(names)
    assert all(s.size is None for s in info.siblings or [])


def test_model_info_with_files_metadata_gives_sizes_and_lfs(
    hub_api: HfApi, hub_state: SimState
) -> None:
    info = hub_api.model_info(HUB_REPO, files_metadata=True)

    siblings = {s.rfilename: s for s in info.siblings or []}
    shard = siblings[SHARDS[0]]
    repo_file = hub_state.store.repos[HUB_REPO].files[SHARDS[0]]
    assert shard.size == repo_file.size
    assert shard.lfs is not None
    assert shard.lfs.sha256 == hub_state.store.sha256(repo_file)
    assert shard.lfs.size == repo_file.size
    assert shard.lfs.pointer_size > 100
    assert siblings["config.json"].lfs is None
    assert siblings["config.json"].blob_id and len(siblings["config.json"].blob_id) == 40


def test_model_info_at_the_commit_revision_matches_main(hub_api: HfApi) -> None:
    main = hub_api.model_info(HUB_REPO)

    pinned = hub_api.model_info(HUB_REPO, revision=main.sha)

    assert pinned.sha == main.sha


def test_model_info_expand_returns_only_the_fields_asked(hub_api: HfApi) -> None:
    info = hub_api.model_info(HUB_REPO, expand=["gated", "sha"])

    assert info.sha is not None
    assert info.siblings is None


def test_gated_repo_info_is_public_and_says_gated(hub_api: HfApi) -> None:
    assert hub_api.model_info(HUB_GATED_REPO).gated == "manual"


def test_tree_lists_top_level_files_and_folders(hub_api: HfApi) -> None:
    entries = list(hub_api.list_repo_tree(HUB_GATED_REPO))

    folders = [e.path for e in entries if isinstance(e, RepoFolder)]
    files = [e.path for e in entries if isinstance(e, RepoFile)]
    assert folders == ["original"]
    assert "original/params.json" not in files
    assert "model.safetensors" in files


def test_tree_recursive_includes_nested_files(hub_api: HfApi) -> None:
    paths = [e.path for e in hub_api.list_repo_tree(HUB_GATED_REPO, recursive=True)]

    assert "original/params.json" in paths


def test_tree_of_a_folder_lists_its_content(hub_api: HfApi) -> None:
    paths = [e.path for e in hub_api.list_repo_tree(HUB_GATED_REPO, path_in_repo="original")]

    assert paths == ["original/params.json"]


def test_tree_entries_carry_lfs_sha256_and_no_xet_hash(hub_api: HfApi, hub_state: SimState) -> None:
    entries = {e.path: e for e in hub_api.list_repo_tree(HUB_REPO) if isinstance(e, RepoFile)}

    shard = entries[SHARDS[1]]
    assert shard.lfs is not None
    assert shard.lfs.sha256 == hub_state.store.sha256(
        hub_state.store.repos[HUB_REPO].files[SHARDS[1]]
    )
    assert all(e.xet_hash is None for e in entries.values())


def test_tree_expand_adds_last_commit_and_security(hub_api: HfApi) -> None:
    entry = next(
        e for e in hub_api.list_repo_tree(HUB_REPO, expand=True) if isinstance(e, RepoFile)
    )

    assert entry.last_commit is not None and entry.last_commit.oid
    assert entry.security is not None and entry.security.safe


def test_tree_pages_are_followed_through_the_link_header(
    hub_api: HfApi, hub_state: SimState, hub_http: httpx.Client
) -> None:
    hub_state.tree_page_size = 3
    first = hub_http.get(f"/api/models/{HUB_REPO}/tree/main")

    paths = [e.path for e in hub_api.list_repo_tree(HUB_REPO)]

    assert len(first.json()) == 3
    assert 'rel="next"' in first.headers["link"]
    assert len(paths) == len(hub_state.store.repos[HUB_REPO].files)
    assert hub_state.counters.routes["tree"] == 1 + -(-len(paths) // 3)


def test_paths_info_returns_known_paths_and_skips_unknown(hub_api: HfApi) -> None:
    entries = hub_api.get_paths_info(HUB_GATED_REPO, ["config.json", "original", "missing.txt"])

    assert [(type(e).__name__, e.path) for e in entries] == [
        ("RepoFile", "config.json"),
        ("RepoFolder", "original"),
    ]


def test_paths_info_accepts_a_json_body(hub_http: httpx.Client) -> None:
    response = hub_http.post(
        f"/api/models/{HUB_REPO}/paths-info/main", json={"paths": ["config.json"], "expand": True}
    )

    assert response.status_code == 200
    assert response.json()[0]["lastCommit"]["id"]


def test_paths_info_rejects_malformed_json(hub_http: httpx.Client) -> None:
    response = hub_http.post(
        f"/api/models/{HUB_REPO}/paths-info/main",
        content=b"{nope",
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 400


def test_api_rejects_wrong_method(hub_http: httpx.Client) -> None:
    assert hub_http.post(f"/api/models/{HUB_REPO}").status_code == 405


def test_search_finds_repos_by_text_and_author(hub_api: HfApi) -> None:
    found = [m.id for m in hub_api.list_models(search="tiny", sort="downloads", limit=10)]
    assert found == [HUB_REPO, HUB_GATED_REPO]
    by_org = [m.id for m in hub_api.list_models(search="4bit", author="sim-org")]
    assert by_org == [HUB_REPO, "sim-org/wide-4bit"]
    assert list(hub_api.list_models(search="nothing-like-this")) == []
    assert [m.id for m in hub_api.list_models(limit=1)] == [HUB_REPO]


def test_search_rejects_a_bad_limit(hub_http: httpx.Client) -> None:
    assert hub_http.get("/api/models", params={"limit": "many"}).status_code == 400
