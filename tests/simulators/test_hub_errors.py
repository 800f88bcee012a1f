"""Errors reach huggingface_hub as its own exception types."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from .conftest import HUB_GATED_REPO, HUB_REPO, HUB_TOKEN


def test_unknown_repo_raises_repository_not_found(hub_api: HfApi) -> None:
    with pytest.raises(RepositoryNotFoundError):
        hub_api.model_info("sim-org/does-not-exist")


def test_unknown_repo_download_raises_repository_not_found(hub_url: str, tmp_path: Path) -> None:
    with pytest.raises(RepositoryNotFoundError) as caught:
        hf_hub_download(
            "sim-org/nope", "config.json", endpoint=hub_url, cache_dir=tmp_path, token=False
        )

    assert not isinstance(caught.value, GatedRepoError)


def test_unknown_repo_is_401_anonymous_and_404_with_a_valid_token(hub_http: httpx.Client) -> None:
    anonymous = hub_http.get("/api/models/sim-org/nope")
    known_user = hub_http.get(
        "/api/models/sim-org/nope", headers={"Authorization": f"Bearer {HUB_TOKEN}"}
    )

    assert (anonymous.status_code, known_user.status_code) == (401, 404)
    assert anonymous.headers["x-error-code"] == known_user.headers["x-error-code"] == "RepoNotFound"


def test_unknown_file_raises_entry_not_found(hub_url: str, tmp_path: Path) -> None:
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(HUB_REPO, "missing.bin", endpoint=hub_url, cache_dir=tmp_path, token=False)


def test_unknown_file_head_names_the_commit(hub_http: httpx.Client) -> None:
    response = hub_http.head(f"/{HUB_REPO}/resolve/main/missing.bin")

    assert response.status_code == 404
    assert response.headers["x-error-code"] == "EntryNotFound"
    assert len(response.headers["x-repo-commit"]) == 40


def test_unknown_revision_raises_revision_not_found(
    hub_api: HfApi, hub_url: str, tmp_path: Path
) -> None:
    with pytest.raises(RevisionNotFoundError):
        hub_api.model_info(HUB_REPO, revision="v9")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(
            HUB_REPO,
            "config.json",
            revision="v9",
            endpoint=hub_url,
            cache_dir=tmp_path,
            token=False,
        )
    with pytest.raises(RevisionNotFoundError):
        list(hub_api.list_repo_tree(HUB_REPO, revision="refs/pr/1"))


def test_unknown_tree_folder_raises_entry_not_found(hub_api: HfApi) -> None:
    with pytest.raises(EntryNotFoundError):
        list(hub_api.list_repo_tree(HUB_REPO, path_in_repo="no/such/folder"))


def test_gated_download_without_token_raises_gated_repo(hub_url: str, tmp_path: Path) -> None:
    with pytest.raises(GatedRepoError) as caught:
        hf_hub_download(
            HUB_GATED_REPO, "config.json", endpoint=hub_url, cache_dir=tmp_path, token=False
        )

    assert caught.value.response.status_code == 401
    assert "Please log in" in str(caught.value)


def test_gated_download_with_an_unknown_token_raises_gated_repo(hub_url: str) -> None:
    url = hf_hub_url(HUB_GATED_REPO, "config.json", endpoint=hub_url)

    with pytest.raises(GatedRepoError) as caught:
        get_hf_file_metadata(url, token="hf_not_a_real_token")

    assert caught.value.response.status_code == 403
    assert "authorized list" in str(caught.value)


def test_unknown_token_is_anonymous_on_public_repos(hub_url: str) -> None:
    url = hf_hub_url(HUB_REPO, "config.json", endpoint=hub_url)

    assert get_hf_file_metadata(url, token="hf_not_a_real_token").size


def test_unknown_route_is_plain_404(hub_http: httpx.Client) -> None:
    response = hub_http.get("/sim-org/tiny-4bit/blob/main/config.json")

    assert response.status_code == 404
    assert "x-error-code" not in response.headers
