"""End to end: an episode longer than one execution's history can hold (`make test-history`).

A STANDARD execution fails when its history reaches 25,000 events (the harness enforces it as AWS
does: tests/integration/test_harness_stepfunctions.py). With 1-second backoffs, give_up_action =
stay_open and a function that keeps failing, each execution hands the episode over to a successor
(a fresh history, the same lease) once its count passes the threshold and before it reaches the
quota; the successor does the same, and the circuit still closes on the first healthy probe, with
nothing lost and nobody told twice that it opened.

A probe loop adds 14 events, so an execution that starts at event 1 runs about 1,400 loops before
it hands over: more than an hour at the emulator's pace. The harness fast-forwards this state
machine's executions instead (historyEventsUsed: each history starts at event FAST_FORWARD + 1, and
the real quota counts from there), so that the real threshold meets the real quota after about 100
loops an execution.

The events per probe loop and per watch poll are measured from GetExecutionHistory and written to
build/history/events.json (scripts/history_report.py puts them into docs/state-machine.md).

About 6 minutes: not part of `make test` (.ci/run runs it after).
"""

from __future__ import annotations

import itertools
import json
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from circuit import Circuit
from stack import Stack
from support import drain, harness_sfn, wait_until

pytestmark = pytest.mark.slow

QUOTA = 25_000
HANDOVER_EVENTS = 20_000  # modules/state-machine: handover_events
FAST_FORWARD = 18_500  # events each execution's history starts past (tests/harness sfn.py)
REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "build" / "history" / "events.json"

VARS = {
    "name": "history-e2e",
    "record_processed": True,
    "function_timeout_seconds": 3,
    "queue_visibility_timeout_seconds": 4,
    "fast_alarm_period_seconds": 10,
    "alarm_evaluation_periods": 2,
    "alarm_datapoints_to_alarm": 1,
    "alarm_watch_seconds": 32,
    "alarm_min_invocations": 2,
    "alarm_threshold_percent": 50,
    # every wait 1 s: as many probe loops per minute as the breaker allows
    "open_wait_seconds": 1,
    "backoff_initial_seconds": 1,
    "backoff_rate": 1,
    "backoff_max_seconds": 1,
    "probe_max_attempts": 3,
    "probe_failure_visibility_margin_seconds": 1,
    "give_up_action": "stay_open",
    "half_open_max_concurrency": None,
    "rejitter_enabled": False,
    "open_alarm_after_seconds": 10,
}


@pytest.fixture(scope="module")
def circuit(aws, endpoint, emulator_is_ours):
    stack = Stack("complete", "history-e2e", endpoint)
    try:
        circuit = Circuit(aws, stack.apply(VARS), 20)
        settings = {"stateMachineArn": circuit.machine, "historyEventsUsed": FAST_FORWARD}
        harness_sfn(endpoint, settings)
        yield circuit
    finally:
        stack.release(emulator_is_ours)


def entered_ids(events: list[dict], state: str) -> list[int]:
    return [e["id"] for e in events if e.get("stateEnteredEventDetails", {}).get("name") == state]


def per_turn(ids: list[int]) -> list[int]:
    """Events between consecutive entries of one state: one turn of its loop each."""
    return [b - a for a, b in itertools.pairwise(ids)]


def chain(c: Circuit, first: str) -> list[str]:
    """The executions of one episode: the first, then each successor it handed over to."""
    arns = [first]
    while True:
        output = c.sfn.describe_execution(executionArn=arns[-1]).get("output")
        successor = json.loads(output).get("successor", {}).get("execution") if output else None
        if not successor:
            return arns
        arns.append(successor)


def handed_over(c: Circuit, execution: str) -> list[dict]:
    """The history of an execution that handed the episode over before the quota."""
    done = c.wait_finished(execution, timeout=900)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"])["outcome"] == "handed_over", done["output"]
    events = c.history(execution)
    assert events[0]["id"] == FAST_FORWARD + 1  # the harness's shortcut is in effect
    assert HANDOVER_EVENTS <= events[-1]["id"] < QUOTA
    return events


def continues(c: Circuit, successor: str, predecessor: str) -> None:
    """A successor continues the episode: same lease, same counters, the circuit still open."""
    described = c.sfn.describe_execution(executionArn=successor)
    assert described["status"] == "RUNNING", described
    inherited = json.loads(described["input"])
    assert inherited["continuation"] == {"phase": "probe", "predecessor": predecessor}
    assert inherited["singleFlight"]["self"] == successor  # the failure path names it
    assert c.mapping() == "Disabled"
    # its first check took the lease from the predecessor (single flight: the same episode);
    # the successor may itself have handed over since
    wait_until(
        lambda: c.lease().get("holder") not in (None, predecessor),
        timeout=60,
        what="the successor took the lease from its predecessor",
        interval=1,
    )


def test_an_episode_past_the_history_quota_hands_over_and_still_closes(circuit: Circuit):
    c = circuit
    c.reset()
    before = {e["executionArn"] for e in c.executions()}
    c.set_failing(True)
    # Every probe receives a message, and SQS counts receives towards the queue's maxReceiveCount
    # (15 here): enough messages that none reaches it in the episode's 300 or so probes (with too
    # few the queue runs dry and the episode closes as empty).
    sent = set(c.send(60, "long"))
    c.open_via_alarm()
    first = c.wait_opened(before)["executionArn"]

    # The first execution hands over before its history reaches the quota; its successor too.
    events = handed_over(c, first)
    loop_events = per_turn(entered_ids(events, "Probe"))
    first_loop = entered_ids(events, "Probe")[0]
    loops_first = len(loop_events) + 1
    second = chain(c, first)[1]
    continues(c, second, first)
    second_events = handed_over(c, second)
    states = [
        e["stateEnteredEventDetails"]["name"]
        for e in second_events
        if "stateEnteredEventDetails" in e
    ]
    # the input is the episode's state: no state rebuilds it; the probe loop's task (its check)
    # takes the lease from the predecessor first
    assert states[:2] == ["RouteCommand", "Probe"]
    assert "DisableMapping" not in states and "NotifyOpened" not in states
    third = chain(c, first)[2]
    continues(c, third, second)

    # The function recovers: the third execution's next probe is healthy and closes the circuit.
    c.set_failing(False)
    assert c.wait_closed(third, timeout=120) in ("healthy", "empty")
    c.collect()
    opened = [t for t in c.notifications if "is OPEN" in t]
    gave_up = [t for t in c.notifications if "GAVE UP, STAYS OPEN" in t or "giving up after" in t]
    assert len(opened) == 1, c.notifications  # a hand-over is not a new episode
    assert len(gave_up) == 1, c.notifications
    executions = [e for e in c.executions() if e["executionArn"] not in before]
    assert not [e for e in executions if e["status"] in ("FAILED", "TIMED_OUT", "ABORTED")]
    found = c.processed_bodies() & sent
    found |= {m["Body"] for m in drain(c.sqs, c.out["dlq_url"], seconds=1)} & sent
    assert found == sent, f"lost: {sorted(sent - found)}"

    # The watch after the close: events per look at the alarm.
    c.wait_finished(third, timeout=120)
    watch = per_turn(entered_ids(c.history(third), "LookAtAlarm"))
    before_first_loop = first_loop - FAST_FORWARD
    median = statistics.median(loop_events)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "before_first_loop": before_first_loop,
                "per_probe_loop": {
                    "min": min(loop_events),
                    "median": median,
                    "max": max(loop_events),
                },
                "per_watch_poll": {
                    "min": min(watch) if watch else None,
                    "max": max(watch) if watch else None,
                },
                "fast_forward": FAST_FORWARD,
                "handover_at": events[-1]["id"],
                "loops_first_execution": loops_first,
                # an execution that starts at event 1 (as on AWS) runs about this many loops
                "loops_per_execution_from_event_1": int(
                    (HANDOVER_EVENTS - before_first_loop) // median + 1
                ),
                "executions": len(chain(c, first)),
                "date": datetime.now(UTC).date().isoformat(),
                "commit": subprocess.run(
                    ["git", "rev-parse", "--short", "HEAD"],
                    cwd=REPO,
                    capture_output=True,
                    text=True,
                    check=False,
                ).stdout.strip(),
            },
            indent=2,
        )
        + "\n"
    )
