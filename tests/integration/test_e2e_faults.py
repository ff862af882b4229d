"""The breaker's own AWS calls fail (the harness's fault injector), and the promises hold.

The regression tests of `make test`: the few most telling rows of the fault matrix
(`make test-faults`, scripts/fault_matrix.py, which plays every call the breaker makes failing once
and for good). Each plays a failure episode on examples/complete with seconds-scale timings and
asserts on outcomes: every message is processed, in the DLQ or still queued; the circuit ends
closed, or open with a notification that says why and names the error.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pytest
from circuit import Circuit
from fault_play import ALARM_PERIOD, FAULT_STACK_VARS, play
from stack import Stack
from support import allow_rule_delivery, drain

pytestmark = pytest.mark.slow

SFN = "role/flr-cb-sfn"
BUILD_E2E = Path(__file__).resolve().parents[2] / "build" / "e2e"


@pytest.fixture(scope="module")
def stack(endpoint, emulator_is_ours):
    stack = Stack("complete", "e2e-faults", endpoint)
    yield stack
    stack.release(emulator_is_ours)


@pytest.fixture(scope="module")
def circuit(aws, stack) -> Circuit:
    return Circuit(aws, stack.apply({**FAULT_STACK_VARS, "name": "flr"}), ALARM_PERIOD * 2)


def test_the_close_throttled_three_times_still_closes(circuit: Circuit, endpoint: str):
    """UpdateEventSourceMapping throttled (429) from the close on: the Retry rides over it."""
    outcome = play(circuit, endpoint, "close-throttled", [
        {"service": "lambda", "operation": "UpdateEventSourceMapping", "principal": SFN,
         "error": "TooManyRequestsException", "after": 1, "times": 3},
    ])  # fmt: skip
    assert outcome.injected == 3
    assert (outcome.end, outcome.reason) == ("closed", "healthy"), outcome.detail
    assert outcome.lost == []


def test_a_mapping_that_cannot_be_reenabled_stays_open_and_says_so(circuit: Circuit, endpoint: str):
    """The mapping is disabled, then every later update fails for good (a mapping stuck in
    ResourceInUseException): the circuit stays open, and the notification says so, names the
    error and what to do; nothing is lost (the backlog waits in the queue)."""
    outcome = play(circuit, endpoint, "reenable-fails", [
        {"service": "lambda", "operation": "UpdateEventSourceMapping", "principal": SFN,
         "error": "ResourceInUseException", "after": 1, "times": None},
    ])  # fmt: skip
    assert outcome.end == "open, notified", outcome.detail
    manual = [t for t in outcome.notifications if "manual action required" in t]
    assert manual and "Lambda.ResourceInUseException" in manual[-1], outcome.notifications
    assert "Re-enable event source mapping" in manual[-1]
    assert outcome.lost == []


def test_sns_unavailable_for_the_whole_episode_changes_nothing_else(
    circuit: Circuit, endpoint: str
):
    outcome = play(circuit, endpoint, "sns-down", [
        # every publisher (the state machine, the alarm actions), to this circuit's topic only:
        # the emulator is shared with the other end-to-end tests
        {"service": "sns", "operation": "Publish", "target": "flr-", "error": "InternalError",
         "times": None},
    ])  # fmt: skip
    assert outcome.injected >= 2  # OPEN and CLOSED, at least
    assert outcome.end == "closed", outcome.detail
    assert outcome.seconds_to_close is not None
    assert outcome.lost == []


def test_the_rejitters_partly_failed_batches_lose_nothing(circuit: Circuit, endpoint: str):
    """SendMessageBatch answers 200 with failed entries (2 per batch, every batch): the rejitter
    keeps those originals (no delete), so nothing is lost and the circuit closes."""
    outcome = play(circuit, endpoint, "rejitter-partial", [
        {"service": "sqs", "operation": "SendMessageBatch", "principal": "role/flr-cb-rejitter",
         "kind": "partial", "entries": 2, "times": None},
    ])  # fmt: skip
    assert outcome.injected >= 1
    assert outcome.end == "closed", outcome.detail
    assert outcome.lost == []


def test_eventbridge_unavailable_for_the_whole_episode_changes_nothing_else(
    circuit: Circuit, endpoint: str
):
    """Every PutEvents of the breaker (the state machine's Announce* states and the probe's
    events) fails for good: transition events are best effort, the episode is the same."""
    outcome = play(circuit, endpoint, "events-down", [
        {"service": "events", "operation": "PutEvents", "principal": "role/flr-cb-*",
         "error": "InternalException", "times": None},
    ])  # fmt: skip
    assert outcome.injected >= 4  # the open, a probe's two, the close: each at least once
    assert (outcome.end, outcome.reason) == ("closed", "healthy"), outcome.detail
    assert outcome.lost == []


def test_transition_events_tell_the_episode_in_order(circuit: Circuit, endpoint: str, aws):
    """transition_event_bus = "default" (issue 20, item 3): a rule's target receives every
    transition of an episode, each event's `from` the previous one's `to`: CLOSED -> OPEN, a
    probe (OPEN -> HALF-OPEN) and its failure (-> OPEN), the probe that finds the function
    healthy, the ramp, and HALF-OPEN -> CLOSED (healthy). Nothing is lost."""
    events, sqs = aws("events"), aws("sqs")
    name = f"flr-transitions-{int(time.time())}"
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    allow_rule_delivery(sqs, queue_url, queue_arn, name)
    pattern = {
        "source": ["sqs-circuit-breaker"],
        "detail-type": ["Circuit State Change"],
        "detail": {"circuit": ["flr"]},
    }
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": queue_arn}])
    try:
        outcome = play(circuit, endpoint, "transition-events", [])
        assert (outcome.end, outcome.reason) == ("closed", "healthy"), outcome.detail
        assert outcome.lost == []
        received = [json.loads(m["Body"]) for m in drain(sqs, queue_url, seconds=5)]
    finally:
        events.remove_targets(Rule=name, Ids=["queue"])
        events.delete_rule(Name=name)
        sqs.delete_queue(QueueUrl=queue_url)
    received.sort(key=lambda e: e["detail"]["time"])
    # kept for a look (docs/events.md shows one): build/e2e/transition-events.json
    BUILD_E2E.mkdir(parents=True, exist_ok=True)
    (BUILD_E2E / "transition-events.json").write_text(json.dumps(received, indent=2))
    details = [e["detail"] for e in received]
    steps = [(d["from"], d["to"], d["reason"]) for d in details]
    assert steps[0] == ("CLOSED", "OPEN", "alarm"), steps
    assert ("OPEN", "HALF-OPEN", "probe") in steps
    assert ("HALF-OPEN", "OPEN", "probe_unhealthy") in steps
    assert ("HALF-OPEN", "HALF-OPEN", "ramp") in steps  # half_open_max_concurrency = 2
    assert steps[-1] == ("HALF-OPEN", "CLOSED", "healthy"), steps
    for before, after in itertools.pairwise(details):
        assert after["from"] == before["to"], steps
    for event in received:
        assert event["source"] == "sqs-circuit-breaker"
        assert event["detail-type"] == "Circuit State Change"
        assert circuit.machine in event["resources"], event
        assert event["detail"]["schemaVersion"] == "1"
        assert event["detail"]["queue"].endswith(":" + circuit.work.rsplit("/", 1)[1])
        # the episode: an execution of this episode (its ARN; a hand-over names the successor)
        assert event["detail"]["episode"] in event["resources"], event
        assert event["detail"]["episode"].rsplit(":", 1)[1] in {
            e.split(":")[0] for e in outcome.executions
        }, (event, outcome.executions)
    # the probe's events count its attempts: 1, 2, ...
    probes = [d["attempt"] for d in details if d["to"] == "HALF-OPEN" and d["reason"] == "probe"]
    assert probes == list(range(1, len(probes) + 1)), steps
