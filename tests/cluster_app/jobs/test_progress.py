from __future__ import annotations

import pytest

from cluster_app.jobs.progress import SpeedMeter, Throttle, bounded_tail, eta_seconds, fraction


def test_first_sample_sets_the_rate_exactly():
    meter = SpeedMeter(half_life=3.0)
    assert meter.update(0.0, 0) is None
    assert meter.update(1.0, 100) == 100.0


def test_rate_moves_halfway_after_one_half_life():
    meter = SpeedMeter(half_life=2.0)
    meter.update(0.0, 0)
    meter.update(1.0, 100)          # rate 100
    assert meter.update(3.0, 100) == pytest.approx(50.0)  # 2 s of nothing: halfway to 0


def test_a_restarted_counter_resets_the_baseline_not_the_rate():
    meter = SpeedMeter()
    meter.update(0.0, 0)
    meter.update(1.0, 500)
    assert meter.update(2.0, 10) == 500.0  # counter went back: no negative sample
    assert meter.update(3.0, 510) > 0


def test_no_time_elapsed_keeps_the_rate():
    meter = SpeedMeter()
    meter.update(0.0, 0)
    meter.update(1.0, 10)
    assert meter.update(1.0, 50) == 10.0


@pytest.mark.parametrize(
    ("done", "total", "rate", "expected"),
    [(0, 100, 10.0, 10.0), (100, 100, 10.0, 0.0), (120, 100, 10.0, 0.0), (0, None, 10.0, None),
     (0, 100, None, None), (0, 100, 0.0, None)],
)
def test_eta(done, total, rate, expected):
    assert eta_seconds(done, total, rate) == expected


@pytest.mark.parametrize(("done", "total", "expected"),
                         [(0, 0, 0.0), (5, None, 0.0), (5, 10, 0.5), (15, 10, 1.0), (-1, 10, 0.0)])
def test_fraction_is_clamped(done, total, expected):
    assert fraction(done, total) == expected


def test_throttle_says_yes_once_per_interval():
    throttle = Throttle(1.0)
    assert [throttle.ready(t) for t in (0.0, 0.5, 0.99, 1.0, 1.5, 2.1)] == [
        True, False, False, True, False, True]


def test_bounded_tail_keeps_the_newest_lines():
    assert bounded_tail(["a", "b"], ["c", "d"], 3) == ["b", "c", "d"]
    assert bounded_tail([], ["a"], 0) == []
