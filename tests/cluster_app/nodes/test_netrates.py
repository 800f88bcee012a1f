"""Network throughput from two readings of the interfaces' byte counters: which interfaces are
watched, bytes per second, a counter that was reset or wrapped, an interface that is missing."""

from __future__ import annotations

from cluster_app.nodes.netrates import Rates, is_loopback, rates, watched

BEFORE = {"lo": (1000, 1000), "bridge0": (10_000, 4_000), "en2": (0, 0), "awdl0": (0, 0)}


def test_bytes_per_second_is_the_change_over_the_elapsed_time():
    after = {"bridge0": (30_000, 8_000)}
    assert rates(BEFORE, after, 2.0, ["bridge0"]) == Rates({"bridge0": (10_000.0, 2_000.0)}, [])


def test_a_counter_that_went_down_counts_from_zero():
    # The interface came back (reset), or a 32-bit counter wrapped: never a negative rate, never
    # a guessed spike of gigabytes.
    before = {"en2": (2**32 - 100, 5_000)}
    after = {"en2": (400, 7_000)}
    assert rates(before, after, 4.0, ["en2"]).interfaces == {"en2": (100.0, 500.0)}


def test_a_configured_interface_the_host_lacks_is_missing_not_zero():
    found = rates(BEFORE, {"bridge0": (10_000, 4_000)}, 1.0, ["bridge0", "en3"])
    assert found == Rates({"bridge0": (0.0, 0.0)}, ["en3"])


def test_an_interface_with_no_earlier_reading_has_no_rate_yet():
    assert rates({}, {"en2": (500, 500)}, 1.0, ["en2"]) == Rates({}, [])


def test_no_time_elapsed_gives_no_rates():
    assert rates(BEFORE, BEFORE, 0.0, ["lo"]) == Rates({}, [])


def test_with_none_configured_every_interface_with_traffic_but_loopback_is_watched():
    assert watched([], BEFORE) == ["bridge0"]
    assert rates(BEFORE, {**BEFORE, "bridge0": (11_000, 4_000)}, 1.0, []).interfaces == {
        "bridge0": (1_000.0, 0.0)}


def test_configured_interfaces_are_watched_as_given_loopback_included():
    assert watched(["lo", "en2"], BEFORE) == ["lo", "en2"]


def test_loopback_is_lo_on_linux_and_lo0_on_macos():
    assert [name for name in ("lo", "lo0", "lo1", "local0", "en0") if is_loopback(name)] == [
        "lo", "lo0", "lo1"]
