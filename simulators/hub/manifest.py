"""The manifest: which repos the simulator serves, described by their true (full-size) shape.

Format (JSON)::

    {
      "repos": [
        {
          "id": "mlx-community/Llama-3.2-1B-Instruct-4bit",   # "org/name", required
          "gated": false,              # false | "auto" | "manual"; gated repos need a token
          "weight_bytes": 729808896,   # true total of safetensors tensor data, required
          "shards": 1,                 # number of safetensors files, required
          "weights_format": "mlx",     # safetensors __metadata__.format, default "mlx"
          "config": {                  # becomes config.json; these keys are required:
            "architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 32,
            "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 131072,
            "quantization": {"bits": 4, "group_size": 64}   # optional; absent = bf16 weights
            # any other key (intermediate_size, n_routed_experts, rope_theta...) is copied as is
          },
          "extra_files": {"original/params.json": "{...}"}  # optional text files, path -> content
        }
      ]
    }

The server divides sizes by its scale; the manifest always keeps the true sizes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

DEMO_MANIFEST_PATH = Path(__file__).with_name("demo_manifest.json")

REQUIRED_CONFIG_KEYS = (
    "architectures",
    "model_type",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "vocab_size",
    "max_position_embeddings",
)
GATED_VALUES: tuple[object, ...] = (False, "auto", "manual")


class ManifestError(ValueError):
    """The manifest (or a scale) cannot be used; the message says which entry and why."""


@dataclass(frozen=True)
class RepoSpec:
    repo_id: str
    gated: bool | str
    weight_bytes: int
    shards: int
    config: dict[str, Any]
    weights_format: str = "mlx"
    extra_files: dict[str, str] = field(default_factory=dict)

    @property
    def quantization(self) -> dict[str, int] | None:
        """Returns {"bits", "group_size"} for quantized repos, None for bf16 ones."""
        quant = self.config.get("quantization")
        return dict(quant) if quant else None


@dataclass(frozen=True)
class Manifest:
    repos: tuple[RepoSpec, ...]

    def get(self, repo_id: str) -> RepoSpec | None:
        """Returns the spec of `repo_id`, or None when the manifest has no such repo."""
        return next((r for r in self.repos if r.repo_id == repo_id), None)


def parse_scale(text: str) -> Fraction:
    """Returns the scale given as "1/20000", "0.5" or "1"; it must be in (0, 1]."""
    try:
        scale = Fraction(text.strip())
    except (ValueError, ZeroDivisionError) as exc:
        raise ManifestError(f"scale {text!r} is not a number or a fraction like 1/20000") from exc
    if not 0 < scale <= 1:
        raise ManifestError(f"scale {text!r} must be greater than 0 and at most 1")
    return scale


def load_manifest(path: Path) -> Manifest:
    """Returns the manifest read from the JSON file at `path`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc}") from exc
    return parse_manifest(data)


def parse_manifest(data: object) -> Manifest:
    """Returns the manifest described by already-decoded JSON `data`, validated."""
    if not isinstance(data, dict) or not isinstance(data.get("repos"), list):
        raise ManifestError('manifest must be an object with a "repos" list')
    repos = tuple(_parse_repo(i, entry) for i, entry in enumerate(data["repos"]))
    ids = [r.repo_id for r in repos]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ManifestError(f"duplicate repo ids: {', '.join(duplicates)}")
    return Manifest(repos=repos)


def _parse_repo(index: int, entry: object) -> RepoSpec:
    where = f"repos[{index}]"
    if not isinstance(entry, dict):
        raise ManifestError(f"{where} must be an object")
    repo_id = entry.get("id")
    if not isinstance(repo_id, str) or repo_id.count("/") != 1 or "" in repo_id.split("/"):
        raise ManifestError(f'{where}.id must look like "org/name"')
    where = repo_id
    gated = entry.get("gated", False)
    if gated not in GATED_VALUES or gated is True:
        raise ManifestError(f'{where}: gated must be false, "auto" or "manual"')
    weight_bytes = _positive_int(entry.get("weight_bytes"), f"{where}: weight_bytes")
    shards = _positive_int(entry.get("shards"), f"{where}: shards")
    config = entry.get("config")
    if not isinstance(config, dict):
        raise ManifestError(f"{where}: config must be an object")
    missing = [k for k in REQUIRED_CONFIG_KEYS if k not in config]
    if missing:
        raise ManifestError(f"{where}: config lacks {', '.join(missing)}")
    for key in REQUIRED_CONFIG_KEYS[2:]:
        _positive_int(config[key], f"{where}: config.{key}")
    quant = config.get("quantization")
    if quant is not None:
        if not isinstance(quant, dict):
            raise ManifestError(f"{where}: config.quantization must be an object")
        _positive_int(quant.get("bits"), f"{where}: quantization.bits")
        _positive_int(quant.get("group_size"), f"{where}: quantization.group_size")
    extra = entry.get("extra_files", {})
    if not isinstance(extra, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in extra.items()
    ):
        raise ManifestError(f"{where}: extra_files must map paths to text")
    weights_format = entry.get("weights_format", "mlx")
    if not isinstance(weights_format, str):
        raise ManifestError(f"{where}: weights_format must be a string")
    return RepoSpec(
        repo_id=repo_id,
        gated=gated,
        weight_bytes=weight_bytes,
        shards=shards,
        config=config,
        weights_format=weights_format,
        extra_files=dict(extra),
    )


def _positive_int(value: object, what: str) -> int:
    # bool is an int subclass; `true` in a manifest is a mistake, not 1
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ManifestError(f"{what} must be a positive integer")
    return value


def tiny_manifest() -> Manifest:
    """Returns a small manifest for tests: two public repos and one gated repo, served at
    scale 1."""
    llama_like: dict[str, Any] = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 256,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 512,
        "vocab_size": 1024,
        "max_position_embeddings": 2048,
    }
    quantized = {**llama_like, "quantization": {"bits": 4, "group_size": 64}}
    return Manifest(
        repos=(
            RepoSpec("sim-org/tiny-4bit", False, 96 * 1024, 2, quantized),
            RepoSpec("sim-org/wide-4bit", False, 1536 * 1024, 3, quantized),
            RepoSpec(
                "sim-gated/tiny-bf16",
                "manual",
                64 * 1024,
                1,
                llama_like,
                weights_format="pt",
                extra_files={"original/params.json": '{"dim": 256, "n_layers": 2}\n'},
            ),
        )
    )
