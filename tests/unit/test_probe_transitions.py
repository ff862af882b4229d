"""Transition events around a probe (lambda_src/probe/transitions.py): the schema the state
machine's Announce* states use, best effort, and the order around the probe."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import botocore.exceptions
import pytest
from hypothesis import given
from hypothesis import strategies as st
from probe_input import ProbeConfigError, parse_event
from transitions import (
    EVENT_BUDGET_S,
    TransitionConfigError,
    announce,
    around_probe,
    parse_transition_events,
    transition_entry,
)

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:orders-circuit-breaker:e1"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:orders"
BUS = "arn:aws:events:us-east-1:123456789012:event-bus/default"
CONFIG = {
    "eventBusName": BUS,
    "circuit": "orders",
    "episode": EXECUTION,
    "attempt": 3,
    "mapping": "11111111-2222-3333-4444-555555555555",
}
NOW = datetime(2026, 12, 3, 17, 34, 46, 597000, tzinfo=UTC)


class FakeEvents:
    """put_events answers from a script: a dict (the response) or an exception, in order."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.entries: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.entries.extend(Entries)
        answer = self.answers.pop(0) if self.answers else {"FailedEntryCount": 0}
        if isinstance(answer, Exception):
            raise answer
        return answer

    def transitions(self) -> list[tuple[str, str]]:
        details = [json.loads(e["Detail"]) for e in self.entries]
        return [(d["from"], d["to"]) for d in details]


def an_entry(note: str = "") -> dict[str, Any]:
    return transition_entry(
        parse_transition_events(CONFIG),
        from_state="OPEN",
        to_state="HALF-OPEN",
        reason="probe",
        note=note,
        queue_arn=QUEUE_ARN,
        now=NOW,
    )


def test_the_entry_has_the_schema_of_the_state_machines_events():
    entry = an_entry(note="probe 3")
    assert entry["EventBusName"] == BUS
    assert entry["Source"] == "sqs-circuit-breaker"
    assert entry["DetailType"] == "Circuit State Change"
    assert entry["Resources"] == [
        "arn:aws:states:us-east-1:123456789012:stateMachine:orders-circuit-breaker",
        EXECUTION,
    ]
    assert json.loads(entry["Detail"]) == {
        "schemaVersion": "1",
        "circuit": "orders",
        "from": "OPEN",
        "to": "HALF-OPEN",
        "reason": "probe",
        "note": "probe 3",
        "attempt": 3,
        "episode": EXECUTION,
        "time": "2026-12-03T17:34:46.597Z",
        "mapping": CONFIG["mapping"],
        "queue": QUEUE_ARN,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"attempt": 0}, "attempt must be an integer >= 1"),
        ({"attempt": True}, "attempt must be an integer >= 1"),
        ({"eventBusName": ""}, "eventBusName is required"),
        ({"episode": None}, "episode is required"),
    ],
)
def test_a_malformed_config_names_its_field(change: dict, message: str):
    with pytest.raises(TransitionConfigError, match=message):
        parse_transition_events({**CONFIG, **change})
    event = {
        "queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
        "queueArn": QUEUE_ARN,
        "functionName": "orders",
        "transitionEvents": {**CONFIG, **change},
    }
    with pytest.raises(ProbeConfigError, match=f"transitionEvents: {message}"):
        parse_event(event)


def test_without_a_config_nothing_is_published():
    events = FakeEvents()
    assert parse_transition_events(None) is None
    assert around_probe(events, None, QUEUE_ARN, lambda: {"outcome": "unhealthy"}) == {
        "outcome": "unhealthy"
    }
    assert events.entries == []


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ("healthy", [("OPEN", "HALF-OPEN")]),
        ("empty", [("OPEN", "HALF-OPEN")]),
        ("unhealthy", [("OPEN", "HALF-OPEN"), ("HALF-OPEN", "OPEN")]),
    ],
)
def test_the_probe_is_announced_and_an_unhealthy_one_returns_to_open(outcome, expected):
    """A healthy or empty probe goes on to the close, which the state machine announces (from
    HALF-OPEN)."""
    events = FakeEvents()
    config = parse_transition_events(CONFIG)
    result = around_probe(
        events, config, QUEUE_ARN, lambda: {"outcome": outcome, "reason": "HTTP 500"}
    )
    assert result["outcome"] == outcome
    assert events.transitions() == expected
    if outcome == "unhealthy":
        assert json.loads(events.entries[1]["Detail"])["note"] == "HTTP 500"


def test_a_probe_that_raises_returns_to_open_and_still_raises():
    events = FakeEvents()

    def broken() -> dict:
        raise RuntimeError("the function could not be invoked")

    with pytest.raises(RuntimeError, match="could not be invoked"):
        around_probe(events, parse_transition_events(CONFIG), QUEUE_ARN, broken)
    assert events.transitions() == [("OPEN", "HALF-OPEN"), ("HALF-OPEN", "OPEN")]
    assert json.loads(events.entries[1]["Detail"])["reason"] == "probe_failed"


def test_a_refused_entry_is_put_again_and_an_error_never_changes_the_outcome():
    refused = {
        "FailedEntryCount": 1,
        "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}],
    }
    denied = botocore.exceptions.ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "PutEvents"
    )
    # start: refused once, then taken; end: the call fails
    events = FakeEvents(refused, {"FailedEntryCount": 0}, denied)
    result = around_probe(
        events, parse_transition_events(CONFIG), QUEUE_ARN, lambda: {"outcome": "unhealthy"}
    )
    assert result == {"outcome": "unhealthy"}
    assert events.transitions() == [
        ("OPEN", "HALF-OPEN"),
        ("OPEN", "HALF-OPEN"),
        ("HALF-OPEN", "OPEN"),
    ]


def test_a_refused_entry_is_put_again_only_within_its_budget():
    """EventBridge refuses the entry every time: puts stop once the budget is spent."""
    refused = {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]}
    events = FakeEvents(*[refused] * 100)
    ticks = iter(range(100))
    clock = lambda: next(ticks) * 0.5  # noqa: E731
    assert not announce(events, an_entry(), budget_s=EVENT_BUDGET_S, clock=clock)
    # the deadline is 2 s after the first tick (0); ticks of 0.5 s: puts at 0.5, 1.0, 1.5, 2.0
    assert len(events.entries) == 4


def test_the_event_after_the_probe_is_skipped_when_the_probes_time_is_up():
    """A Lambda timeout would fail the task, and its retry would probe again: the verdict
    matters more than the event."""
    events = FakeEvents()
    left = iter([60_000, 2_500])  # before the probe; after it, less than the budget + 1 s
    result = around_probe(
        events,
        parse_transition_events(CONFIG),
        QUEUE_ARN,
        lambda: {"outcome": "unhealthy"},
        remaining_ms=lambda: next(left),
    )
    assert result == {"outcome": "unhealthy"}
    assert events.transitions() == [("OPEN", "HALF-OPEN")]


@given(
    st.lists(
        st.one_of(
            st.just({"FailedEntryCount": 0}),
            st.just({"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]}),
            st.just(botocore.exceptions.EndpointConnectionError(endpoint_url="https://events")),
        ),
        max_size=8,
    ),
    st.sampled_from(["healthy", "unhealthy", "empty"]),
)
def test_whatever_eventbridge_answers_the_probe_result_is_returned_unchanged(answers, outcome):
    events = FakeEvents(*answers)
    result = {"outcome": outcome, "reason": "r"}
    assert (
        around_probe(events, parse_transition_events(CONFIG), QUEUE_ARN, lambda: dict(result))
        == result
    )
    # one put per answer at most, and then one that the default answer takes, per transition
    assert len(events.entries) <= len(answers) + 2
