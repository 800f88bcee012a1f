"""Sizes in the browser: `Live.gb`, run in Chromium, writes every size exactly as the
templates' `cluster_app/nodes/units.format_gib` does."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from cluster_app.nodes.units import GIB, format_gib

pytestmark = pytest.mark.browser

LIVE_JS = Path(__file__).resolve().parents[2] / "static" / "js" / "live.js"
# Each threshold and its neighbours, the guide's sizes, and ties exact in binary (2.125 GB),
# where toFixed rounds up and Python to the even digit.
SIZES = [
    None, 0, 1, 1023, 512 * 1024**2, GIB - 1, GIB, GIB + 1, int(1.24 * GIB), int(1.5 * GIB),
    int(2.125 * GIB), int(2.375 * GIB), int(4.5 * GIB), int(9.995 * GIB), 10 * GIB - 1, 10 * GIB,
    int(10.25 * GIB), int(10.35 * GIB), int(10.75 * GIB), int(37.9 * GIB), int(99.95 * GIB),
    100 * GIB - 1, 100 * GIB, int(100.5 * GIB), int(101.5 * GIB), 405_874_409_472, 422 * GIB,
    512 * GIB, 768 * GIB, 1_900_000_000_000, 8 * 1024**4,
]
rng = random.Random(20)
SIZES += [rng.randrange(10**digits, 10**(digits + 1)) for digits in range(8, 14) for _ in range(40)]


@pytest.fixture
def live_js(page):
    page.goto("about:blank")
    page.add_script_tag(path=str(LIVE_JS))
    return page


def test_live_gb_writes_every_size_as_format_gib(live_js):
    assert live_js.evaluate("sizes => sizes.map(Live.gb)", SIZES) == [format_gib(s) for s in SIZES]


def test_the_ties_are_where_toFixed_alone_would_differ(live_js):
    tie = int(2.125 * GIB)
    assert live_js.evaluate("n => (n / 1024 ** 3).toFixed(2)", tie) == "2.13"
    assert live_js.evaluate("n => Live.gb(n)", tie) == format_gib(tie) == "2.12 GB"


def test_sizes_from_a_gb_up_are_written_the_same_way_everywhere(live_js):
    large = [s for s in SIZES if s is not None and s >= GIB]
    assert live_js.evaluate("sizes => sizes.map(Live.bytes)", large) == [format_gib(s)
                                                                        for s in large]
    assert live_js.evaluate("Live.bytes(512 * 1024 ** 2)") == "512 MB"
