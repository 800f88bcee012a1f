from __future__ import annotations

import pytest

from cluster_app.templatetags.panel import cluster_ram, exo_breakdown, safe_zone
from cluster_app.units import GIB, format_gib


@pytest.mark.parametrize(
    ("value", "shown"),
    [(405_874_409_472, "378 GB"), (38 * GIB, "38 GB"), (int(4.5 * GIB), "4.5 GB"),
     (int(1.24 * GIB), "1.24 GB"), (512 * GIB, "512 GB"), (int(37.9 * GIB), "37.9 GB"), (None, "—")],
)
def test_sizes_are_shown_in_the_guides_binary_gb(value, shown):
    assert format_gib(value) == shown


def test_cluster_memory_and_safe_zone_match_the_guide(db, nodes):
    everything = list(nodes.values())
    assert cluster_ram(everything) == 768 * GIB  # GAMMA is not in the exo cluster
    assert format_gib(safe_zone(cluster_ram(everything))) == "537 GB"
    assert exo_breakdown(everything) == "ALPHA 512 GB + BETA 256 GB"
