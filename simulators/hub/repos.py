"""The served repos: their files, commit, revisions and git/LFS identities."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from fnmatch import fnmatch
from fractions import Fraction

from . import texts
from .content import BytesSource, FileSource, HashCache, safetensors_source
from .manifest import Manifest, RepoSpec
from .tensors import plan_shards

DEFAULT_BRANCH = "main"
COMMIT_DATE = "2025-01-01T00:00:00.000Z"


@dataclass(frozen=True)
class RepoFile:
    path: str
    source: FileSource
    lfs: bool

    @property
    def size(self) -> int:
        return self.source.size


@dataclass(frozen=True)
class Repo:
    spec: RepoSpec
    files: dict[str, RepoFile]
    commit: str
    served_weight_bytes: int

    @property
    def repo_id(self) -> str:
        return self.spec.repo_id

    def directories(self) -> list[str]:
        """Returns every folder that holds a file, parents before children."""
        found = {"/".join(p.split("/")[:i]) for p in self.files for i in range(1, p.count("/") + 1)}
        return sorted(found)


def served_bytes(spec: RepoSpec, scale: Fraction) -> int:
    """Returns the tensor bytes served for `spec` at `scale` (true size times scale, floored)."""
    return max(1, math.floor(spec.weight_bytes * scale))


def build_repo(spec: RepoSpec, scale: Fraction) -> Repo:
    """Returns the repo generated from `spec` at `scale`; no file body is produced yet."""
    weight_bytes = served_bytes(spec, scale)
    shards = plan_shards(spec, weight_bytes)
    weight_total = sum(s.data_bytes for s in shards)
    sources: dict[str, FileSource] = {
        ".gitattributes": BytesSource(texts.gitattributes()),
        "README.md": BytesSource(texts.readme(spec, scale, weight_total)),
        "chat_template.jinja": BytesSource(texts.chat_template(spec)),
        "config.json": BytesSource(texts.config_json(spec)),
        "model.safetensors.index.json": BytesSource(texts.index_json(shards)),
        "special_tokens_map.json": BytesSource(texts.special_tokens_map_json(spec)),
        "tokenizer.json": BytesSource(texts.tokenizer_json(spec)),
        "tokenizer_config.json": BytesSource(texts.tokenizer_config_json(spec)),
    }
    for shard in shards:
        seed = f"{spec.repo_id}/{shard.filename}"
        sources[shard.filename] = safetensors_source(shard, seed, spec.weights_format)
    for path, text in spec.extra_files.items():
        sources[path] = BytesSource(text.encode())
    files = {
        path: RepoFile(
            path, src, any(fnmatch(path.rsplit("/", 1)[-1], p) for p in texts.LFS_PATTERNS)
        )
        for path, src in sorted(sources.items())
    }
    # The commit id only has to change when content changes, so fingerprints are enough.
    listing = "".join(f"{p}\0{f.source.fingerprint}\n" for p, f in files.items())
    commit = hashlib.sha1(f"{spec.repo_id}\n{listing}".encode()).hexdigest()
    return Repo(spec=spec, files=files, commit=commit, served_weight_bytes=weight_total)


class RepoStore:
    """All repos of a manifest at one scale, with hashes computed on first use."""

    def __init__(self, manifest: Manifest, scale: Fraction, hashes: HashCache) -> None:
        self.scale = scale
        self.hashes = hashes
        self.repos = {spec.repo_id: build_repo(spec, scale) for spec in manifest.repos}

    def get(self, repo_id: str) -> Repo | None:
        return self.repos.get(repo_id)

    def commit_for(self, repo: Repo, revision: str) -> str | None:
        """Returns the commit `revision` names (the branch or the commit id), else None."""
        return repo.commit if revision in (DEFAULT_BRANCH, repo.commit) else None

    def sha256(self, file: RepoFile) -> str:
        return self.hashes.sha256(file.source)

    def lfs_pointer(self, file: RepoFile) -> bytes:
        """Returns the git-lfs pointer text git stores in place of an LFS file."""
        return (
            "version https://git-lfs.github.com/spec/v1\n"
            f"oid sha256:{self.sha256(file)}\nsize {file.size}\n"
        ).encode()

    def blob_id(self, file: RepoFile) -> str:
        """Returns the git blob id: of the pointer for LFS files, of the content otherwise."""
        digest = hashlib.sha1()
        if file.lfs:
            pointer = self.lfs_pointer(file)
            digest.update(b"blob %d\0" % len(pointer) + pointer)
        else:
            digest.update(b"blob %d\0" % file.size)
            for piece in file.source.iter_range(0, file.size):
                digest.update(piece)
        return digest.hexdigest()

    def etag(self, file: RepoFile) -> str:
        """Returns the ETag the Hub gives: sha256 for LFS files, git blob id otherwise."""
        return self.sha256(file) if file.lfs else self.blob_id(file)

    def tree_id(self, repo: Repo, directory: str) -> str:
        children = "".join(
            f"{p}\0{f.source.fingerprint}\n"
            for p, f in repo.files.items()
            if p.startswith(directory + "/")
        )
        return hashlib.sha1(f"tree {directory}\n{children}".encode()).hexdigest()
