"""The small text files of a generated repo: config, tokenizer files, chat template, README."""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction

from .manifest import RepoSpec
from .tensors import Shard

# Files git-lfs stores in mlx-community repos; the same patterns decide the `lfs` listing field.
LFS_PATTERNS = ("*.safetensors", "tokenizer.json")


@dataclass(frozen=True)
class Family:
    bos: str
    eos: str
    template: str


_LLAMA3 = Family(
    "<|begin_of_text|>",
    "<|eot_id|>",
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>"
    "\n\n{{ m['content'] | trim }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}"
    "<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}",
)
_CHATML = Family(
    "<|endoftext|>",
    "<|im_end|>",
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
)
_MISTRAL = Family(
    "<s>",
    "</s>",
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }}"
    " [/INST]{% else %}{{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}",
)
_DEEPSEEK = Family(
    "<｜begin▁of▁sentence｜>",
    "<｜end▁of▁sentence｜>",
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}<｜User｜>{{ m['content'] }}"
    "{% elif m['role'] == 'assistant' %}<｜Assistant｜>{{ m['content'] }}{{ eos_token }}"
    "{% else %}{{ m['content'] }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<｜Assistant｜>{% endif %}",
)
FAMILIES = {"llama": _LLAMA3, "qwen2": _CHATML, "deepseek_v3": _DEEPSEEK}


def family_of(spec: RepoSpec) -> Family:
    """Returns the tokenizer family for the repo's model_type (Mistral-style when unknown)."""
    return FAMILIES.get(str(spec.config["model_type"]), _MISTRAL)


def _json(data: object) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def config_json(spec: RepoSpec) -> bytes:
    config = dict(spec.config)
    if spec.quantization:
        # mlx_lm writes both keys; transformers-style readers look for the second.
        config["quantization_config"] = spec.quantization
    return _json(config)


def tokenizer_json(spec: RepoSpec) -> bytes:
    fam = family_of(spec)
    specials = [fam.bos, fam.eos]
    vocab = {tok: i for i, tok in enumerate(specials)}
    vocab.update({f"<0x{b:02X}>": len(specials) + b for b in range(256)})
    return _json(
        {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [
                {
                    "id": i,
                    "content": tok,
                    "special": True,
                    "single_word": False,
                    "lstrip": False,
                    "rstrip": False,
                    "normalized": False,
                }
                for i, tok in enumerate(specials)
            ],
            "normalizer": None,
            "pre_tokenizer": None,
            "post_processor": None,
            "decoder": {"type": "ByteFallback"},
            "model": {
                "type": "BPE",
                "vocab": vocab,
                "merges": [],
                "byte_fallback": True,
                "unk_token": None,
                "dropout": None,
            },
        }
    )


def tokenizer_config_json(spec: RepoSpec) -> bytes:
    fam = family_of(spec)
    return _json(
        {
            "added_tokens_decoder": {
                str(i): {
                    "content": tok,
                    "special": True,
                    "lstrip": False,
                    "rstrip": False,
                    "normalized": False,
                    "single_word": False,
                }
                for i, tok in enumerate([fam.bos, fam.eos])
            },
            "bos_token": fam.bos,
            "eos_token": fam.eos,
            "clean_up_tokenization_spaces": False,
            "model_max_length": spec.config["max_position_embeddings"],
            "tokenizer_class": "PreTrainedTokenizerFast",
        }
    )


def special_tokens_map_json(spec: RepoSpec) -> bytes:
    fam = family_of(spec)
    token = {"lstrip": False, "normalized": False, "rstrip": False, "single_word": False}
    return _json(
        {"bos_token": {**token, "content": fam.bos}, "eos_token": {**token, "content": fam.eos}}
    )


def chat_template(spec: RepoSpec) -> bytes:
    return (family_of(spec).template + "\n").encode()


def index_json(shards: list[Shard]) -> bytes:
    weight_map = {t.name: s.filename for s in shards for t in s.tensors}
    total = sum(s.data_bytes for s in shards)
    return _json({"metadata": {"total_size": total}, "weight_map": weight_map})


def gitattributes() -> bytes:
    lines = [f"{p} filter=lfs diff=lfs merge=lfs -text" for p in ("*.bin", "*.pt", *LFS_PATTERNS)]
    return ("\n".join(lines) + "\n").encode()


def readme(spec: RepoSpec, scale: Fraction, served_bytes: int) -> bytes:
    tags = ["mlx", "safetensors", str(spec.config["model_type"]), "simulated"]
    front = "\n".join(
        ["---", "library_name: mlx", "pipeline_tag: text-generation", "tags:"]
        + [f"- {t}" for t in tags]
        + ["---"]
    )
    body = f"""
# {spec.repo_id}

Simulated repository served by the ARTHUR Panel Hugging Face Hub simulator. The weights are
deterministic pseudo-random bytes with valid safetensors headers; they are not a model.

| | |
|---|---|
| Scale | {scale} |
| True weight bytes | {spec.weight_bytes} |
| Served weight bytes | {served_bytes} |
| Safetensors shards | {spec.shards} |
| Gated | {spec.gated or "no"} |
"""
    return (front + "\n" + body).encode()
