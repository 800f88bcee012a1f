"""A node's performance readings as series."""

from __future__ import annotations

from cluster_app.nodes.netrates import Rates
from cluster_app.nodes.series import live_series, net_series, network_series


def test_live_figures_become_series_leaving_out_what_was_not_reported():
    assert live_series(gpu_usage=0.5, temperature=None, power=42, swap_used=0) == {
        "gpu_usage": 0.5, "power": 42.0, "swap_used": 0.0}


def test_each_interface_gives_a_series_in_and_one_out():
    found = Rates({"bridge0": (10.0, 20.0)}, ["en2"])
    assert network_series(found) == {"net.bridge0.rx": 10.0, "net.bridge0.tx": 20.0}
    assert net_series("en2", "tx") == "net.en2.tx"

