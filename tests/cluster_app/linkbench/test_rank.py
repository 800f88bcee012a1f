"""The probe each rank runs, and the mlx.launch wrapper: their pure parts, and that they start
without the panel."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from arthur_panel.launcher import ROOT
from cluster_app.linkbench import rank as linkprobe
from cluster_app.linkbench.launch import output_only_select


@pytest.mark.parametrize(("text", "nbytes"), [
    ("4", 4), ("64K", 65536), ("16m", 16 * 1024**2), (" 1G ", 1024**3)])
def test_sizes_read_in_binary_units(text, nbytes):
    assert linkprobe.parse_size(text) == nbytes


@pytest.mark.parametrize("text", ["0", "3", "6", "2G", "1.5K", "-4", "4T", "", "four"])
def test_sizes_that_are_not_whole_float32_arrays_up_to_1g_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        linkprobe.parse_size(text)


def test_large_messages_get_fewer_rounds_but_never_under_three():
    assert linkprobe.rounds_for(4, 20) == 20
    assert linkprobe.rounds_for(16 * 1024**2, 20) == 8
    assert linkprobe.rounds_for(64 * 1024**2, 20) == 3
    assert linkprobe.rounds_for(4, 2) == 3


def test_a_point_is_the_median_round_and_its_algorithmic_bandwidth():
    assert linkprobe.point(1000, [3e-6, 1e-6, 2e-6]) == {
        "bytes": 1000, "seconds": 2e-6, "gbps": 1000 * 8 / 2e-6 / 1e9, "rounds": 3}


def test_defaults_run_4_bytes_to_64_mib_and_quick_stops_at_1_mib():
    default = linkprobe.arguments([])
    assert (default.sizes[0], default.sizes[-1], default.rounds) == (4, 64 * 1024**2, 50)
    quick = linkprobe.arguments(["--quick"])
    assert (quick.sizes[-1], quick.rounds) == (1024**2, 20)
    chosen = linkprobe.arguments(["--sizes", "4,1K", "--rounds", "5", "--backend", "ring"])
    assert (chosen.sizes, chosen.rounds, chosen.backend) == ([4, 1024], 5, "ring")


def test_rounds_out_of_range_are_refused(capsys):
    with pytest.raises(SystemExit):
        linkprobe.arguments(["--rounds", "0"])
    assert "--rounds is from 1 to 1000" in capsys.readouterr().err


def test_the_wrapper_waits_on_output_only():
    read_end, write_end = os.pipe()
    try:
        # A pipe's write end is always writable; mlx.launch's relay would return at once.
        assert output_only_select([read_end], [write_end], [], 0) == ([], [], [])
        os.write(write_end, b"x")
        assert output_only_select([read_end], [write_end], [], 0) == ([read_end], [], [])
    finally:
        os.close(read_end)
        os.close(write_end)


def test_probe_and_wrapper_import_nothing_of_the_panel():
    code = ("import sys, cluster_app.linkbench.rank, cluster_app.linkbench.launch; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('django', 'rest_framework', 'arthur_panel', 'celery', 'channels')))")
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
