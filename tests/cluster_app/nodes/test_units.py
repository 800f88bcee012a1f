from __future__ import annotations

import pytest

from cluster_app.nodes.units import GIB, format_gib, format_size


@pytest.mark.parametrize(
    ("value", "shown"),
    [(405_874_409_472, "378 GB"), (38 * GIB, "38 GB"), (int(4.5 * GIB), "4.5 GB"),
     (int(1.24 * GIB), "1.24 GB"), (512 * GIB, "512 GB"), (int(37.9 * GIB), "37.9 GB"),
     (None, "—")],
)
def test_sizes_are_shown_in_the_guides_binary_gb(value, shown):
    assert format_gib(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0, "0 B"), (512, "512 B"), (1536, "1.5 KB"), (300 * 1024**2, "300 MB"),
     (int(12.34 * 1024**2), "12.3 MB"), (1024**3 - 1, "1024 MB"), (405_874_409_472, "378 GB"),
     (int(1.24 * GIB), "1.24 GB")],
)
def test_sizes_under_a_gb_are_in_b_kb_or_mb(value, shown):
    assert format_size(value) == shown
