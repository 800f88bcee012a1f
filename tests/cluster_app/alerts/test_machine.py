"""The life of one alert: inactive -> pending -> firing -> resolved, and its notices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cluster_app.alerts.machine import Notice, State, Step, Track, step

T0 = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
HOLD = timedelta(seconds=60)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_nothing_happens_while_the_condition_does_not_hold():
    assert step(None, holds=False, now=T0, hold=HOLD, silenced=False) == Step(None)


def test_a_condition_that_starts_to_hold_makes_a_pending_alert():
    assert step(None, holds=True, now=T0, hold=HOLD, silenced=False) == Step(
        Track(State.PENDING, pending_since=T0))


def test_it_stays_pending_until_its_for_has_run_out():
    pending = Track(State.PENDING, pending_since=T0)
    assert step(pending, holds=True, now=at(59), hold=HOLD, silenced=False) == Step(pending)


def test_it_fires_once_the_for_has_run_out_and_sends_the_firing_notice():
    pending = Track(State.PENDING, pending_since=T0)
    assert step(pending, holds=True, now=at(60), hold=HOLD, silenced=False) == Step(
        Track(State.FIRING, pending_since=T0, fired_at=at(60), notified=True), Notice.FIRING)


def test_a_rule_with_no_for_fires_at_once():
    assert step(None, holds=True, now=T0, hold=timedelta(0), silenced=False) == Step(
        Track(State.FIRING, pending_since=T0, fired_at=T0, notified=True), Notice.FIRING)


def test_a_pending_alert_whose_condition_clears_is_dropped_without_a_notice():
    pending = Track(State.PENDING, pending_since=T0)
    assert step(pending, holds=False, now=at(30), hold=HOLD, silenced=False) == Step(None)


def test_a_firing_alert_is_not_notified_again_while_it_fires():
    firing = Track(State.FIRING, pending_since=T0, fired_at=at(60), notified=True)
    assert step(firing, holds=True, now=at(600), hold=HOLD, silenced=False) == Step(firing)


def test_a_firing_alert_whose_condition_clears_is_resolved_with_a_notice():
    firing = Track(State.FIRING, pending_since=T0, fired_at=at(60), notified=True)
    assert step(firing, holds=False, now=at(90), hold=HOLD, silenced=False) == Step(
        Track(State.RESOLVED, pending_since=T0, fired_at=at(60), resolved_at=at(90),
              notified=True), Notice.RESOLVED)


def test_a_silenced_alert_fires_without_a_notice():
    assert step(None, holds=True, now=T0, hold=timedelta(0), silenced=True) == Step(
        Track(State.FIRING, pending_since=T0, fired_at=T0, notified=False))


def test_its_firing_notice_goes_out_when_the_silence_ends_and_it_still_fires():
    quiet = Track(State.FIRING, pending_since=T0, fired_at=T0, notified=False)
    assert step(quiet, holds=True, now=at(300), hold=HOLD, silenced=False) == Step(
        Track(State.FIRING, pending_since=T0, fired_at=T0, notified=True), Notice.FIRING)


def test_an_alert_that_never_notified_resolves_quietly():
    quiet = Track(State.FIRING, pending_since=T0, fired_at=T0, notified=False)
    assert step(quiet, holds=False, now=at(300), hold=HOLD, silenced=True) == Step(
        Track(State.RESOLVED, pending_since=T0, fired_at=T0, resolved_at=at(300)))


def test_a_silence_does_not_hold_back_the_resolved_notice_of_a_notified_alert():
    firing = Track(State.FIRING, pending_since=T0, fired_at=T0, notified=True)
    assert step(firing, holds=False, now=at(5), hold=HOLD, silenced=True).notice is Notice.RESOLVED


def test_a_resolved_alert_that_holds_again_starts_a_new_episode():
    resolved = Track(State.RESOLVED, pending_since=T0, fired_at=T0, resolved_at=at(5),
                     notified=True)
    assert step(resolved, holds=True, now=at(10), hold=HOLD, silenced=False) == Step(
        Track(State.PENDING, pending_since=at(10)))
