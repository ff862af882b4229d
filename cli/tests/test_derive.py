"""The pure derivations, on recorded-shape fixtures (history events, execution outputs)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqscb_cli_support import PHASES

from sqs_circuit_breaker.catalogue import CLOSED, HALF_OPEN, OPEN, OPENING, REJITTER
from sqs_circuit_breaker.derive import (
    HELD_OPEN,
    StatusInputs,
    build_status,
    circuit_state,
    episode_view,
    execution_outcome,
    history_row,
    is_closed,
    oldest_episode,
)
from sqs_circuit_breaker.discovery import Circuit

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
EXECUTION = {
    "executionArn": "arn:aws:states:eu-west-1:1:execution:orders-circuit-breaker:6f1c",
    "name": "6f1c",
    "status": "RUNNING",
    "startDate": NOW - timedelta(minutes=30),
}
STATE_INPUT = {
    "episode": {
        "attempt": 3,
        "maxAttempts": 8,
        "nextWaitSeconds": 240,
        "elapsedSeconds": 1000,
        "stayingOpen": False,
    },
    "probe": {
        "result": {
            "outcome": "unhealthy",
            "reason": "function error: Unhandled (RuntimeError: db down)",
            "source": "message",
            "messageId": "m-1",
            "messageAgeSeconds": 900,
            "durationMs": 1200,
        }
    },
    "queue": {"retentionSeconds": 345600, "visibilityTimeoutSeconds": 30, "budgetSeconds": 342000},
    "tracking": {"loops": 3, "reopens": 0, "openReason": "the alarm entered ALARM"},
}


def entered(name: str, at: datetime, state_input: dict[str, Any], event_id: int) -> dict[str, Any]:
    return {
        "timestamp": at,
        "type": "WaitStateEntered" if name.startswith("Wait") else "TaskStateEntered",
        "id": event_id,
        "stateEnteredEventDetails": {"name": name, "input": json.dumps(state_input)},
    }


def exited(name: str, at: datetime, event_id: int) -> dict[str, Any]:
    return {
        "timestamp": at,
        "type": "TaskStateExited",
        "id": event_id,
        "stateExitedEventDetails": {"name": name, "output": "{}"},
    }


def test_waiting_episode_shows_next_probe_and_budget_left() -> None:
    wait_began = NOW - timedelta(seconds=100)
    events = [
        entered("WaitBeforeProbe", wait_began, STATE_INPUT, 40),
        exited("AfterProbe", wait_began, 39),
        entered("AfterProbe", wait_began, STATE_INPUT, 38),
    ]
    view = episode_view(EXECUTION, events, NOW, PHASES)
    assert view["phase"] == OPEN
    assert view["currentState"] == "WaitBeforeProbe"
    assert (view["attempt"], view["maxAttempts"]) == (3, 8)
    assert view["nextProbeAt"] == "2025-03-01T12:02:20Z"
    assert view["retentionBudgetLeftSeconds"] == 342000 - 1000 - 100
    assert view["lastProbe"]["outcome"] == "unhealthy"
    assert view["lastProbe"]["reason"].startswith("function error")
    assert view["probes"] == 3
    assert view["openReason"] == "the alarm entered ALARM"


def test_probing_episode_is_half_open_without_next_probe_time() -> None:
    events = [entered("Probe", NOW - timedelta(seconds=2), STATE_INPUT, 50)]
    view = episode_view(EXECUTION, events, NOW, PHASES)
    assert view["phase"] == HALF_OPEN
    assert view["nextProbeAt"] is None
    assert view["retentionBudgetLeftSeconds"] == 342000 - 1000


def test_notify_state_takes_the_previous_states_phase() -> None:
    events = [
        entered("NotifyGaveUp", NOW, STATE_INPUT, 60),
        exited("AfterProbe", NOW, 59),
        entered("AfterProbe", NOW, STATE_INPUT, 58),
    ]
    assert episode_view(EXECUTION, events, NOW, PHASES)["phase"] == OPEN
    events[2] = entered("RejitterWindow", NOW, STATE_INPUT, 58)
    assert episode_view(EXECUTION, events, NOW, PHASES)["phase"] == REJITTER


def test_episode_with_missing_fields_shows_none() -> None:
    events = [entered("ClaimEpisode", NOW, {}, 3)]
    view = episode_view(EXECUTION, events, NOW, PHASES)
    assert view["phase"] == OPENING
    for key in ("attempt", "maxAttempts", "lastProbe", "nextProbeAt", "retentionBudgetLeftSeconds"):
        assert view[key] is None


def test_episode_without_state_events_yet_is_opening() -> None:
    assert episode_view(EXECUTION, [], NOW, PHASES)["phase"] == OPENING


def test_oldest_running_episode_acts_and_commands_are_not_episodes() -> None:
    newer = {**EXECUTION, "name": "b", "startDate": NOW}
    command = {
        **EXECUTION,
        "name": "hold-20250301T110000-ab12",
        "startDate": NOW - timedelta(hours=2),
    }
    assert oldest_episode([newer, EXECUTION, command]) is EXECUTION
    assert oldest_episode([command]) is None


@pytest.mark.parametrize(
    ("mode", "mapping", "phase", "state"),
    [
        ("hold", "Disabled", None, HELD_OPEN),
        ("hold", "Disabled", HALF_OPEN, HELD_OPEN),
        ("auto", "Disabled", OPENING, OPEN),
        ("auto", "Disabled", HALF_OPEN, HALF_OPEN),
        ("auto", "Enabled", REJITTER, REJITTER),
        ("auto", "Enabled", CLOSED, CLOSED),
        ("auto", "Enabled", None, CLOSED),
        ("auto", "Disabled", None, OPEN),
    ],
)
def test_circuit_state(mode: str, mapping: str, phase: str | None, state: str) -> None:
    assert circuit_state(mode, mapping, phase) == state


def test_closed_for_close_counts_watching_as_closed_but_not_a_hold_or_an_opening() -> None:
    assert is_closed("auto", "Enabled", None)
    assert is_closed("auto", "Enabling", CLOSED)
    assert not is_closed("hold", "Enabled", None)
    assert not is_closed("auto", "Enabled", OPENING)
    assert not is_closed("auto", "Disabled", None)


@pytest.mark.parametrize(
    ("status", "output", "expected"),
    [
        (
            "SUCCEEDED",
            {"outcome": "closed", "closeReason": {"reason": "healthy"}},
            "closed healthy",
        ),
        ("SUCCEEDED", {"outcome": "closed", "closeReason": {"reason": "empty"}}, "closed empty"),
        (
            "SUCCEEDED",
            {"outcome": "closed", "closeReason": {"reason": "forced"}},
            "closed by operator",
        ),
        (
            "SUCCEEDED",
            {
                "outcome": "closed",
                "closeReason": {"reason": "max_attempts, give-up notification failed"},
            },
            "gave up (max attempts)",
        ),
        (
            "SUCCEEDED",
            {"outcome": "closed", "closeReason": {"reason": "retention"}},
            "gave up (retention guard)",
        ),
        ("SUCCEEDED", {"outcome": "superseded"}, "superseded by operator"),
        ("SUCCEEDED", {"outcome": "held"}, "held open"),
        ("SUCCEEDED", {"outcome": "duplicate"}, "duplicate"),
        ("SUCCEEDED", {"closeReason": {"reason": "healthy"}, "original": {}}, "closed healthy"),
        ("SUCCEEDED", {"singleFlight": {}}, "duplicate"),
        ("ABORTED", {}, "aborted"),
        ("TIMED_OUT", {}, "timed out"),
    ],
)
def test_execution_outcome_label(status: str, output: dict[str, Any], expected: str) -> None:
    assert execution_outcome(status, output)[1] == expected


def test_failed_execution_says_its_error_and_cause() -> None:
    key, label, detail = execution_outcome(
        "FAILED", {}, "CircuitBreaker.ClosedAfterError", "An unexpected error"
    )
    assert (key, label) == ("failed", "failed")
    assert detail == "CircuitBreaker.ClosedAfterError: An unexpected error"


def test_history_row_of_an_ended_episode() -> None:
    execution = {**EXECUTION, "status": "SUCCEEDED", "stopDate": NOW}
    output = {
        "outcome": "closed",
        "closeReason": {"reason": "healthy"},
        "tracking": {"loops": 4, "reopens": 1},
    }
    row = history_row(execution, {"output": json.dumps(output)}, None, NOW, PHASES)
    assert row["kind"] == "episode"
    assert row["durationSeconds"] == 1800
    assert (row["label"], row["probes"], row["reopens"]) == ("closed healthy", 4, 1)


def test_history_row_of_a_running_episode_shows_its_phase() -> None:
    events = [entered("Probe", NOW, STATE_INPUT, 9)]
    row = history_row(EXECUTION, None, events, NOW, PHASES)
    assert row["label"] == "running (HALF-OPEN)"
    assert row["probes"] == 3
    assert row["endedAt"] is None


def test_history_row_of_a_command_shows_its_reason() -> None:
    execution = {
        **EXECUTION,
        "name": "close-20250301T120000-0a1b",
        "status": "SUCCEEDED",
        "stopDate": NOW,
    }
    described = {
        "input": json.dumps(
            {"command": "close", "reason": "fixed", "requestedBy": "arn:aws:iam::1:user/ann"}
        ),
        "output": json.dumps({"outcome": "closed", "closeReason": {"reason": "forced"}}),
    }
    row = history_row(execution, described, None, NOW, PHASES)
    assert row["kind"] == "close"
    assert row["detail"] == "forced; fixed (by arn:aws:iam::1:user/ann)"


def test_status_document_has_stable_keys() -> None:
    circuit = Circuit(
        "orders", "arn:sm", "uuid-1", "https://sqs/1/orders", "alarm", "/c", "/s", phases=PHASES
    )
    inputs = StatusInputs(
        circuit=circuit,
        control={
            "mode": "hold",
            "reason": "migration",
            "requestedBy": "ann",
            "at": "2025-03-01T11:00:00Z",
        },
        settings={"scalingConfig": {}, "responseTypes": []},
        mapping={"State": "Disabled", "BatchSize": 10},
        rejitter_mapping=None,
        queue_attributes={
            "ApproximateNumberOfMessages": "5",
            "ApproximateNumberOfMessagesNotVisible": "0",
        },
        oldest_message_age=None,
        alarm={"StateValue": "OK", "StateReason": "fine"},
    )
    document = build_status(inputs, NOW)
    keys = "circuit stateMachineArn state watching closed hold control episode commandsRunning"
    keys += " mapping rememberedSettings rejitterMapping queue deadLetterQueue alarm at"
    assert set(document) == set(keys.split())
    assert document["state"] == HELD_OPEN
    assert document["hold"]["reason"] == "migration"
    assert document["queue"]["visible"] == 5
    assert document["queue"]["delayed"] is None
    json.dumps(document)
