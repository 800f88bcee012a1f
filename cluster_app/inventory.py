"""The cluster guide's machines: the inventory every fresh panel starts with."""

from __future__ import annotations

GIB = 1024**3

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
    },
]
