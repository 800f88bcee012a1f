"""JSON bodies of the Hub's read API, shaped as huggingface_hub parses them."""

from __future__ import annotations

from typing import Any

from .repos import COMMIT_DATE, Repo, RepoFile, RepoStore

JSON = dict[str, Any]
# Hub page sizes for /tree; huggingface_hub follows the Link header past them.
TREE_PAGE_SIZE = 1000
TREE_PAGE_SIZE_EXPANDED = 50


def last_commit(repo: Repo) -> JSON:
    return {"id": repo.commit, "title": "Upload simulated model", "date": COMMIT_DATE}


def file_entry(store: RepoStore, repo: Repo, file: RepoFile, *, expand: bool) -> JSON:
    """Returns a /tree or /paths-info entry for `file` (lfs.oid is the sha256)."""
    entry: JSON = {"type": "file", "oid": store.blob_id(file), "size": file.size, "path": file.path}
    if file.lfs:
        pointer_size = len(store.lfs_pointer(file))
        entry["lfs"] = {"oid": store.sha256(file), "size": file.size, "pointerSize": pointer_size}
    if expand:
        entry["lastCommit"] = last_commit(repo)
        entry["securityFileStatus"] = {
            "status": "safe",
            "avScan": {"virusFound": False, "virusNames": None},
            "pickleImportScan": None,
        }
    return entry


def folder_entry(store: RepoStore, repo: Repo, path: str, *, expand: bool) -> JSON:
    entry: JSON = {"type": "directory", "oid": store.tree_id(repo, path), "size": 0, "path": path}
    if expand:
        entry["lastCommit"] = last_commit(repo)
    return entry


def tree_paths(repo: Repo, folder: str, *, recursive: bool) -> list[str]:
    """Returns the file and folder paths listed under `folder` ("" is the root), sorted."""
    prefix = f"{folder}/" if folder else ""
    paths = [p for p in [*repo.directories(), *repo.files] if p.startswith(prefix)]
    if not recursive:
        paths = [p for p in paths if "/" not in p[len(prefix) :]]
    return sorted(paths)


def path_entry(store: RepoStore, repo: Repo, path: str, *, expand: bool) -> JSON:
    file = repo.files.get(path)
    if file is not None:
        return file_entry(store, repo, file, expand=expand)
    return folder_entry(store, repo, path, expand=expand)


def sibling(store: RepoStore, file: RepoFile, *, blobs: bool) -> JSON:
    """Returns a model-info sibling; with blobs its lfs block uses the `sha256` key, as the Hub
    does."""
    entry: JSON = {"rfilename": file.path}
    if blobs:
        entry["size"] = file.size
        entry["blobId"] = store.blob_id(file)
        if file.lfs:
            pointer_size = len(store.lfs_pointer(file))
            entry["lfs"] = {
                "sha256": store.sha256(file),
                "size": file.size,
                "pointerSize": pointer_size,
            }
    return entry


def model_info(store: RepoStore, repo: Repo, *, blobs: bool) -> JSON:
    spec = repo.spec
    org = repo.repo_id.split("/")[0]
    model_type = str(spec.config["model_type"])
    return {
        "_id": repo.commit[:24],
        "id": repo.repo_id,
        "modelId": repo.repo_id,
        "author": org,
        "sha": repo.commit,
        "lastModified": COMMIT_DATE,
        "createdAt": COMMIT_DATE,
        "private": False,
        "disabled": False,
        "gated": spec.gated,
        "downloads": 0,
        "likes": 0,
        "library_name": "mlx" if spec.weights_format == "mlx" else "transformers",
        "tags": ["safetensors", model_type, "text-generation", spec.weights_format],
        "pipeline_tag": "text-generation",
        "config": {"architectures": spec.config["architectures"], "model_type": model_type},
        "siblings": [sibling(store, f, blobs=blobs) for f in repo.files.values()],
        "spaces": [],
        "usedStorage": sum(f.size for f in repo.files.values()),
    }


def expanded_model_info(info: JSON, fields: list[str]) -> JSON:
    """Returns only the `expand[]` fields asked for, plus the ids the Hub always sends."""
    return {"_id": info["_id"], "id": info["id"], **{k: info[k] for k in fields if k in info}}


def search_entry(repo: Repo) -> JSON:
    """One model of a ``GET /api/models`` search, with the fields the Hub lists by default."""
    spec = repo.spec
    model_type = str(spec.config["model_type"])
    return {
        "_id": repo.commit[:24],
        "id": repo.repo_id,
        "modelId": repo.repo_id,
        "likes": 0,
        "trendingScore": 0,
        "private": False,
        "downloads": 0,
        "tags": ["safetensors", model_type, "text-generation", spec.weights_format],
        "pipeline_tag": "text-generation",
        "library_name": "mlx" if spec.weights_format == "mlx" else "transformers",
        "createdAt": COMMIT_DATE,
    }
