"""The cluster guide's models, with its numbers and reasons: the catalogue every panel starts with.

Sizes are bytes; the guide's "GB" are GiB (its 512 GB Mac has 512 GiB). exo has no card for
DeepSeek V3 itself: the guide's DeepSeek V3 is exo's DeepSeek V3.1 card (4-bit: 405,874,409,472
bytes, the guide's 378 GB). exo has no card at all for Qwen2.5-Coder-32B, Mistral Large 2407 or
Mixtral 8x22B: it knows them once added with its `POST /models/add`.
"""

from __future__ import annotations

GIB = 1024**3

GUIDE_MODELS: list[dict[str, object]] = [
    {
        "slug": "deepseek-v3-4bit", "display_name": "DeepSeek V3 4-bit",
        "repo_id": "mlx-community/DeepSeek-V3.1-4bit",
        "exo_model_id": "mlx-community/DeepSeek-V3.1-4bit",
        "aliases": ["deepseek-v3", "deepseek"], "parameter_count": 671_000_000_000,
        "quantization_bits": 4, "size_bytes": 405_874_409_472, "n_layers": 61, "hidden_size": 7168,
        "num_attention_heads": 128, "num_key_value_heads": 128, "head_dim": 128,
        "kv_latent_dim": 576, "context_length": 65536,
        "tier": "essential", "roles": ["coding", "research", "content"],
        "tier_reason": "Primary LLM: the best coding model available; 49% of cluster memory leaves "
                       "a 390 GB buffer; tensor parallel over JACCL/RDMA across ALPHA and BETA; "
                       "strong reasoning and writing.",
        "tensor_parallel": "required", "expected_tokens_per_second": 161.5,
        "first_token_seconds": "2-3", "download_minutes": "30-60",
        "notes": "Claude Code backend for autonomous coding; research and documentation; content "
                 "writing; code review and architecture planning. Context up to 64k tokens.",
    },
    {
        "slug": "llama-3.2-1b", "display_name": "Llama 3.2 1B 4-bit",
        "repo_id": "mlx-community/Llama-3.2-1B-Instruct-4bit",
        "exo_model_id": "mlx-community/Llama-3.2-1B-Instruct-4bit", "aliases": ["llama-1b"],
        "parameter_count": 1_240_000_000, "quantization_bits": 4, "size_bytes": int(1.24 * GIB),
        "n_layers": 16, "hidden_size": 2048, "num_attention_heads": 32, "num_key_value_heads": 8,
        "head_dim": 64, "context_length": 131072,
        "tier": "essential", "roles": ["testing"],
        "tier_reason": "Cluster health check: verify exo and JACCL before large downloads; "
                       "validate API endpoints and cluster communication; downloads in under 2 "
                       "minutes.",
        "tensor_parallel": "no", "expected_tokens_per_second": 5000, "first_token_seconds": "<0.1",
        "download_minutes": "<2",
        "notes": "Quick sanity checks before production inference; testing new exo features.",
    },
    {
        "slug": "llama-3.1-70b", "display_name": "Llama 3.1 70B 4-bit",
        "repo_id": "mlx-community/Meta-Llama-3.1-70B-Instruct-4bit",
        "exo_model_id": "mlx-community/Meta-Llama-3.1-70B-Instruct-4bit", "aliases": ["llama-70b"],
        "parameter_count": 70_600_000_000, "quantization_bits": 4, "size_bytes": 38 * GIB,
        "n_layers": 80, "hidden_size": 8192, "num_attention_heads": 64, "num_key_value_heads": 8,
        "head_dim": 128, "context_length": 131072,
        "tier": "optional", "roles": ["fast fallback"],
        "tier_reason": "Fast fallback: about 10x faster than DeepSeek V3 when speed matters more "
                       "than quality; 5% of memory, so it runs alongside DeepSeek V3 (416 GB).",
        "tensor_parallel": "optional", "expected_tokens_per_second": 1500,
        "first_token_seconds": "<1", "download_minutes": "5-10",
        "notes": "Quick code formatting and linting, fast documentation lookups, batch processing.",
    },
    {
        "slug": "llama-3.1-8b", "display_name": "Llama 3.1 8B 4-bit",
        "repo_id": "mlx-community/Meta-Llama-3.1-8B-Instruct-4bit",
        "exo_model_id": "mlx-community/Meta-Llama-3.1-8B-Instruct-4bit", "aliases": ["llama-8b"],
        "parameter_count": 8_030_000_000, "quantization_bits": 4, "size_bytes": int(4.5 * GIB),
        "n_layers": 32, "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8,
        "head_dim": 128, "context_length": 131072,
        "tier": "optional", "roles": ["instant"],
        "tier_reason": "Instant inference: sub-second answers for simple tasks; minimal memory; "
                       "available when DeepSeek V3 is busy or loading.",
        "tensor_parallel": "no", "expected_tokens_per_second": 3000, "first_token_seconds": "<0.5",
        "download_minutes": "<1",
        "notes": "Code autocomplete, simple Q&A, quick reformatting, cluster availability testing.",
    },
    {
        "slug": "deepseek-v3-8bit", "display_name": "DeepSeek V3 8-bit",
        "repo_id": "mlx-community/DeepSeek-V3.1-8bit",
        "exo_model_id": "mlx-community/DeepSeek-V3.1-8bit",
        "aliases": [], "parameter_count": 671_000_000_000, "quantization_bits": 8,
        "size_bytes": 712 * GIB, "n_layers": 61, "hidden_size": 7168, "num_attention_heads": 128,
        "num_key_value_heads": 128, "head_dim": 128, "kv_latent_dim": 576, "context_length": 65536,
        "tier": "not_recommended", "roles": [],
        "tier_reason": "Too close to the limit: 93% memory utilisation, only 56 GB buffer. "
                       "OOM risk: no room for activations and inference overhead. "
                       "Minimal quality gain: 8-bit vs 4-bit difference is marginal. "
                       "Same speed: no performance improvement over 4-bit. "
                       "Use DeepSeek V3 4-bit instead.",
        "tensor_parallel": "required", "expected_tokens_per_second": 161.5,
        "first_token_seconds": "2-3", "download_minutes": "",
        "notes": "",
    },
    {
        "slug": "qwen2.5-coder-32b", "display_name": "Qwen2.5-Coder-32B 4-bit",
        "repo_id": "mlx-community/Qwen2.5-Coder-32B-Instruct-4bit",
        "exo_model_id": "mlx-community/Qwen2.5-Coder-32B-Instruct-4bit", "aliases": ["qwen-coder"],
        "parameter_count": 32_800_000_000, "quantization_bits": 4, "size_bytes": 18 * GIB,
        "n_layers": 64, "hidden_size": 5120, "num_attention_heads": 40, "num_key_value_heads": 8,
        "head_dim": 128, "context_length": 32768,
        "tier": "optional", "roles": ["coding"],
        "tier_reason": "Future addition: an alternative coding model.",
        "tensor_parallel": "no", "download_minutes": "", "notes": "",
    },
    {
        "slug": "mistral-large", "display_name": "Mistral Large 4-bit",
        "repo_id": "mlx-community/Mistral-Large-Instruct-2407-4bit",
        "exo_model_id": "mlx-community/Mistral-Large-Instruct-2407-4bit", "aliases": [],
        "parameter_count": 123_000_000_000, "quantization_bits": 4, "size_bytes": 67 * GIB,
        "n_layers": 88, "hidden_size": 12288, "num_attention_heads": 96, "num_key_value_heads": 8,
        "head_dim": 128, "context_length": 131072,
        "tier": "optional", "roles": ["research", "content"],
        "tier_reason": "Future addition: a European alternative.",
        "tensor_parallel": "optional", "download_minutes": "", "notes": "",
    },
    {
        "slug": "mixtral-8x22b", "display_name": "Mixtral 8x22B 4-bit",
        "repo_id": "mlx-community/Mixtral-8x22B-Instruct-v0.1-4bit",
        "exo_model_id": "mlx-community/Mixtral-8x22B-Instruct-v0.1-4bit", "aliases": ["mixtral"],
        "parameter_count": 141_000_000_000, "quantization_bits": 4, "size_bytes": 87 * GIB,
        "n_layers": 56, "hidden_size": 6144, "num_attention_heads": 48, "num_key_value_heads": 8,
        "head_dim": 128, "context_length": 65536,
        "tier": "optional", "roles": ["research"],
        "tier_reason": "Future addition: mixture-of-experts architecture (sparse inference).",
        "tensor_parallel": "optional", "download_minutes": "", "notes": "",
    },
]

# The guide's Model Router ("Future"), each falling back to the next ready model.
GUIDE_ROUTES = [
    ("coding", "Coding: DeepSeek V3", ["deepseek-v3-4bit", "llama-3.1-70b", "llama-3.1-8b"]),
    ("quick", "Quick queries: Llama 8B", ["llama-3.1-8b", "llama-3.1-70b", "llama-3.2-1b"]),
    ("fast", "Fast inference: Llama 70B", ["llama-3.1-70b", "llama-3.1-8b", "llama-3.2-1b"]),
    ("testing", "Testing: Llama 1B", ["llama-3.2-1b", "llama-3.1-8b"]),
    ("default", "No task given: the best model that is ready",
     ["deepseek-v3-4bit", "llama-3.1-70b", "llama-3.1-8b", "llama-3.2-1b"]),
]
# The guide's Step 4 runs Claude Code on the cluster. Claude Code sends its own model names
# (claude-sonnet-4-5-..., claude-opus-4-1-..., claude-3-5-haiku-... for background work) unless
# every model variable it reads is set; these send them to the router's tasks, first match wins.
NAME_ROUTES = [
    ("claude-*opus*", "coding", "Claude Code's Opus: its strongest model, and plan mode"),
    ("claude-*sonnet*", "coding", "Claude Code's Sonnet: its main model"),
    ("claude-*haiku*", "quick", "Claude Code's Haiku: background work (titles, summaries)"),
    ("claude-*", "coding", "Any other Claude name"),
]
# The guide's cost analysis, per million input/output tokens.
GUIDE_PRICES = [("Claude API (Sonnet)", "3", "15"), ("GPT-4", "2.50", "10"),
          ("DeepSeek API", "0.27", "1.10")]
