"""The breaker's own AWS calls fail (the harness's fault injector), and the promises hold.

The regression tests of `make test`: the few most telling rows of the fault matrix
(`make test-faults`, scripts/fault_matrix.py, which plays every call the breaker makes failing once
and for good). Each plays a failure episode on examples/complete with seconds-scale timings and
asserts on outcomes: every message is processed, in the DLQ or still queued; the circuit ends
closed, or open with a notification that says why and names the error.
"""

from __future__ import annotations

import pytest
from circuit import Circuit
from fault_play import ALARM_PERIOD, FAULT_STACK_VARS, play
from stack import Stack

pytestmark = pytest.mark.slow

SFN = "role/flr-cb-sfn"


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
