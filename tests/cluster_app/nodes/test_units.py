from __future__ import annotations

import pytest

from cluster_app.nodes.units import GIB, format_gib


@pytest.mark.parametrize(
    ("value", "shown"),
    [(405_874_409_472, "378 GB"), (38 * GIB, "38 GB"), (int(4.5 * GIB), "4.5 GB"),
     (int(1.24 * GIB), "1.24 GB"), (512 * GIB, "512 GB"), (int(37.9 * GIB), "37.9 GB"),
     (None, "—")],
)
def test_sizes_are_shown_in_the_guides_binary_gb(value, shown):
    assert format_gib(value) == shown
