"""The cluster guide's machines: the inventory every fresh panel starts with."""

from __future__ import annotations

GIB = 1024**3
# Where exo writes its own log and its runners' output on macOS.
EXO_LOG_FILES = ["~/.exo/exo_log/exo.log", "~/.exo/exo_log/runner_log/stderr.log"]
# Fields of GUIDE_NODES that say how exo runs; added after the first inventory was seeded.
EXO_FIELDS = ("exo_start_command", "exo_join_with_bootstrap", "exo_log_files", "rdma_interface")
# Likewise, how a node outside exo is watched.
GPU_FIELDS = ("monitor_gpus",)

GUIDE_NODES: list[dict[str, object]] = [
    {
        "name": "alpha",
        "display_name": "ALPHA",
        "hostname": "alpha.local",
        "role": "master",
        "hardware": "Mac Studio, Apple M3 Ultra",
        "ram_bytes": 512 * GIB,
        "in_exo_cluster": True,
        "purpose": "exo master; LLM inference (tensor parallel over RDMA), FLUX.1 image generation",
        "exo_start_command": ["~/start-exo-cluster.sh"],
        "exo_log_files": EXO_LOG_FILES,
        "rdma_interface": "rdma_en3",
    },
    {
        "name": "beta",
        "display_name": "BETA",
        "hostname": "beta.local",
        "role": "worker",
        "hardware": "Mac Studio, Apple M3 Ultra",
        "ram_bytes": 256 * GIB,
        "in_exo_cluster": True,
        "purpose": "exo worker; tensor-parallel RDMA node, research",
        "exo_join_with_bootstrap": True,
        "exo_log_files": EXO_LOG_FILES,
        "rdma_interface": "rdma_en4",
    },
    {
        "name": "gamma",
        "display_name": "GAMMA",
        "hostname": "gamma.local",
        "role": "standalone",
        "hardware": "NVIDIA DGX GB10",
        "ram_bytes": 128 * GIB,
        "in_exo_cluster": False,
        "purpose": "video generation (HunyuanVideo-1.5); not part of the exo cluster",
        "monitor_gpus": True,
    },
]
