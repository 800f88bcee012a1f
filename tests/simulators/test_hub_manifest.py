"""Manifest parsing, the demo manifest's true sizes, scaling and deterministic content."""

from __future__ import annotations

import copy
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from simulators.hub.content import BLOCK_SIZE, HashCache, PseudoRandomSource
from simulators.hub.manifest import (
    DEMO_MANIFEST_PATH,
    ManifestError,
    load_manifest,
    parse_manifest,
    parse_scale,
    tiny_manifest,
)
from simulators.hub.repos import RepoStore, build_repo, served_bytes

GUIDE_MODELS = {
    "mlx-community/DeepSeek-V3-4bit",
    "mlx-community/DeepSeek-V3-8bit",
    # exo's cards for the guide's DeepSeek V3, which the catalogue downloads.
    "mlx-community/DeepSeek-V3.1-4bit",
    "mlx-community/DeepSeek-V3.1-8bit",
    "mlx-community/Llama-3.2-1B-Instruct-4bit",
    "mlx-community/Meta-Llama-3.1-70B-Instruct-4bit",
    "mlx-community/Meta-Llama-3.1-8B-Instruct-4bit",
    "mlx-community/Qwen2.5-Coder-32B-Instruct-4bit",
    "mlx-community/Mistral-Large-Instruct-2407-4bit",
    "mlx-community/Mixtral-8x22B-Instruct-v0.1-4bit",
}
VALID_REPO: dict[str, Any] = {
    "id": "org/model",
    "weight_bytes": 100_000,
    "shards": 2,
    "config": {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 256,
        "max_position_embeddings": 512,
    },
}


def with_change(path: str, value: object) -> dict[str, Any]:
    repo = copy.deepcopy(VALID_REPO)
    *parents, key = path.split(".")
    target = repo
    for parent in parents:
        target = target[parent]
    if value is KeyError:
        del target[key]
    else:
        target[key] = value
    return {"repos": [repo]}


def test_demo_manifest_has_every_guide_model_and_a_gated_repo() -> None:
    manifest = load_manifest(DEMO_MANIFEST_PATH)

    ids = {r.repo_id for r in manifest.repos}
    assert ids >= GUIDE_MODELS
    assert [r.repo_id for r in manifest.repos if r.gated] == ["meta-llama/Llama-3.2-1B-Instruct"]


def test_demo_manifest_keeps_true_sizes_and_shapes() -> None:
    manifest = load_manifest(DEMO_MANIFEST_PATH)

    deepseek = manifest.get("mlx-community/DeepSeek-V3-4bit")
    llama70 = manifest.get("mlx-community/Meta-Llama-3.1-70B-Instruct-4bit")
    assert deepseek is not None and llama70 is not None
    assert deepseek.weight_bytes == 405_874_409_472
    assert (deepseek.config["num_hidden_layers"], deepseek.config["hidden_size"]) == (61, 7168)
    assert deepseek.config["architectures"] == ["DeepseekV3ForCausalLM"]
    assert (llama70.config["num_hidden_layers"], llama70.config["num_key_value_heads"]) == (80, 8)
    assert manifest.get("mlx-community/DeepSeek-V3-8bit").weight_bytes == 712 * 2**30  # type: ignore[union-attr]
    # exo's DeepSeek V3.1 cards' sizes.
    assert manifest.get("mlx-community/DeepSeek-V3.1-4bit").weight_bytes == 405_874_409_472  # type: ignore[union-attr]
    assert manifest.get("mlx-community/DeepSeek-V3.1-8bit").weight_bytes == 765_577_920_512  # type: ignore[union-attr]


def test_demo_at_default_scale_serves_tens_of_megabytes_at_most() -> None:
    scale = parse_scale("1/20000")
    store = RepoStore(load_manifest(DEMO_MANIFEST_PATH), scale, HashCache(None))

    largest = max(sum(f.size for f in r.files.values()) for r in store.repos.values())
    assert 10_000_000 < largest < 60_000_000
    for repo in store.repos.values():
        # odd byte counts round down to the 2-byte dtype
        assert 0 <= served_bytes(repo.spec, scale) - repo.served_weight_bytes <= 1
        index = json.loads(
            b"".join(repo.files["model.safetensors.index.json"].source.iter_range(0, 10**7))
        )
        assert index["metadata"]["total_size"] == repo.served_weight_bytes
        readme = b"".join(repo.files["README.md"].source.iter_range(0, 10**6)).decode()
        assert "1/20000" in readme and str(repo.spec.weight_bytes) in readme


def test_same_manifest_gives_same_commit_and_bytes() -> None:
    first = RepoStore(tiny_manifest(), Fraction(1), HashCache(None))
    second = RepoStore(tiny_manifest(), Fraction(1), HashCache(None))

    for repo_id, repo in first.repos.items():
        assert repo.commit == second.repos[repo_id].commit
        for path, file in repo.files.items():
            assert first.sha256(file) == second.sha256(second.repos[repo_id].files[path])


def test_another_scale_changes_the_content_and_commit() -> None:
    spec = tiny_manifest().repos[0]

    assert build_repo(spec, Fraction(1)).commit != build_repo(spec, Fraction(1, 2)).commit


def test_any_range_of_pseudo_random_data_matches_the_whole() -> None:
    source = PseudoRandomSource(2 * BLOCK_SIZE + 123, "seed")
    whole = b"".join(source.iter_range(0, source.size))

    assert (
        b"".join(source.iter_range(BLOCK_SIZE - 5, BLOCK_SIZE + 7))
        == whole[BLOCK_SIZE - 5 : BLOCK_SIZE + 7]
    )
    assert b"".join(source.iter_range(source.size - 3, source.size)) == whole[-3:]
    assert len(whole) == source.size
    assert all(len(piece) <= BLOCK_SIZE for piece in source.iter_range(0, source.size))


class _Unreadable:
    size = 10

    def __init__(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint

    def iter_range(self, start: int, end: int) -> Any:
        raise AssertionError("the cached hash should have been used")


def test_hash_cache_persists_across_instances(tmp_path: Path) -> None:
    source = PseudoRandomSource(1000, "x")
    value = HashCache(tmp_path).sha256(source)

    assert HashCache(tmp_path).sha256(_Unreadable(source.fingerprint)) == value


def test_hash_cache_survives_a_damaged_file(tmp_path: Path) -> None:
    (tmp_path / "sha256.json").write_text("{broken")

    assert len(HashCache(tmp_path).sha256(PseudoRandomSource(10, "y"))) == 64


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "repos"),
        (with_change("id", "no-slash"), "org/name"),
        (with_change("gated", True), "gated"),
        (with_change("weight_bytes", 0), "weight_bytes"),
        (with_change("shards", True), "shards"),
        (with_change("config.vocab_size", KeyError), "vocab_size"),
        (with_change("config.hidden_size", "big"), "hidden_size"),
        (with_change("config.quantization", {"bits": 4}), "group_size"),
        (with_change("extra_files", {"a.txt": 1}), "extra_files"),
        (with_change("shards", 500), "too many"),
        ({"repos": [VALID_REPO, VALID_REPO]}, "duplicate"),
    ],
)
def test_bad_manifests_are_rejected_with_a_reason(data: object, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        manifest = parse_manifest(data)
        RepoStore(manifest, Fraction(1), HashCache(None))


def test_unreadable_manifest_file_is_a_manifest_error(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text("{")

    with pytest.raises(ManifestError, match="cannot read"):
        load_manifest(tmp_path / "m.json")


@pytest.mark.parametrize(
    ("text", "value"), [("1/20000", Fraction(1, 20000)), ("0.5", Fraction(1, 2)), ("1", 1)]
)
def test_scales_parse_as_fractions(text: str, value: Fraction) -> None:
    assert parse_scale(text) == value


@pytest.mark.parametrize("text", ["0", "2", "-1/2", "fast", "1/0"])
def test_bad_scales_are_rejected(text: str) -> None:
    with pytest.raises(ManifestError):
        parse_scale(text)
