from __future__ import annotations

import pytest

from sqs_circuit_breaker.phases import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    OPENING,
    PHASE_STATES,
    REJITTER,
    STATE_PHASE,
    phase_of,
)


def test_no_state_is_listed_in_two_phases() -> None:
    assert len(STATE_PHASE) == sum(len(states) for states in PHASE_STATES.values())


@pytest.mark.parametrize(
    ("state", "phase"),
    [
        ("RouteCommand", OPENING),
        ("DisableMapping", OPENING),
        ("SaveSettings", OPENING),
        ("Probe", HALF_OPEN),
        ("HalfOpenWindow", HALF_OPEN),
        ("RejitterWindow", REJITTER),
        ("WatchAfterClose", CLOSED),
        ("Closed", CLOSED),
        ("WaitBeforeProbe", OPEN),
        ("CountFailedProbe", OPEN),
    ],
)
def test_listed_states_have_their_phase_and_others_are_open(state: str, phase: str) -> None:
    assert phase_of([state]) == phase


def test_notify_state_takes_the_phase_of_the_state_before_it() -> None:
    assert phase_of(["NotifyGaveUp", "Probe"]) == HALF_OPEN
    assert phase_of(["NotifyOpened", "NotifyX", "DisableMapping"]) == OPENING


def test_notify_closed_is_listed_as_closed() -> None:
    assert phase_of(["NotifyClosed", "Probe"]) == CLOSED


def test_only_notify_states_seen_is_open() -> None:
    assert phase_of(["NotifyFailure"]) == OPEN
    assert phase_of([]) == OPEN


def test_control_checks_take_the_phase_of_the_state_before_them() -> None:
    assert (
        phase_of(["ResumeAfterControl", "CheckControl", "ControlBeforeClose", "HalfOpenWindow"])
        == HALF_OPEN
    )
    assert phase_of(["CheckControl", "ControlInWatch", "WatchAfterClose"]) == CLOSED
    assert phase_of(["CheckControl", "ControlBeforeProbe", "WaitBeforeProbe"]) == OPEN
