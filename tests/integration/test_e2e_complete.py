"""End to end on the emulator: examples/complete applied with Terraform, failure episodes played.

Every scenario counts messages by id: sent = processed + in the DLQ + still queued, lost = 0.
The stack is applied once for the module (time-scaled: seconds where AWS uses minutes); each
test starts from a closed circuit and uses message ids of its own.
"""

from __future__ import annotations

import time
import uuid

import pytest
from circuit import EPISODE_TIMEOUT, Circuit
from stack import Stack
from support import drain, wait_until

pytestmark = pytest.mark.slow

BASE_VARS = {
    # unique per session: a half-deleted mapping of an earlier run cannot collide with this one
    "name": f"e2e{uuid.uuid4().hex[:6]}",
    "record_processed": True,
    "function_timeout_seconds": 3,
    "queue_visibility_timeout_seconds": 4,
    "alarm_period_seconds": 10,
    "alarm_min_invocations": 2,
    "alarm_threshold_percent": 50,
    "open_wait_seconds": 2,
    "backoff_initial_seconds": 2,
    "backoff_rate": 2,
    "backoff_max_seconds": 4,
    "probe_max_attempts": 4,
    "probe_failure_visibility_margin_seconds": 2,
    "half_open_max_concurrency": 2,
    "half_open_seconds": 2,
    "rejitter_enabled": True,
    "rejitter_window_seconds": 8,
    "rejitter_min_delay_seconds": 0,
    "rejitter_max_delay_seconds": 5,
}


@pytest.fixture(scope="module")
def stack(endpoint):
    stack = Stack("complete", "e2e-complete", endpoint)
    yield stack
    stack.destroy()


@pytest.fixture(scope="module")
def circuit(aws, stack) -> Circuit:
    return Circuit(aws, stack.apply(BASE_VARS), BASE_VARS["alarm_period_seconds"])


@pytest.fixture
def closed(circuit: Circuit) -> Circuit:
    circuit.reset()
    return circuit


def assert_nothing_lost(c: Circuit, sent: set[str], timeout: float = 30) -> None:
    """Every id is processed, in the DLQ, or still in the work queue (received here once it is
    visible: a message in flight is invisible for the visibility timeout)."""
    found: set[str] = set()

    def accounted() -> bool:
        found.update(c.processed_bodies() & sent)
        found.update(c.dlq_bodies() & sent)
        found.update({m["Body"] for m in drain(c.sqs, c.work, seconds=1)} & sent)
        return found == sent

    if not accounted():
        try:
            wait_until(accounted, timeout=timeout, what="every message accounted for")
        except AssertionError:
            pytest.fail(f"lost: {sorted(sent - found)}")


# ---- 1 & 8: the seed's scenario ---------------------------------------------------------------
@pytest.fixture(scope="module")
def seed_episode(circuit: Circuit) -> dict:
    """Function fails, messages flow, the alarm fires, probes fail, the function is fixed, the
    backlog is rejittered, the circuit closes. Returns what the tests assert on."""
    c = circuit
    c.reset()
    before = {e["executionArn"] for e in c.executions()}
    c.set_failing(True)
    attributes = {
        "tenant": {"DataType": "String", "StringValue": "acme"},
        "priority": {"DataType": "Number", "StringValue": "7"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01binary"},
    }
    sent = set(c.send(20, "seed", MessageAttributes=attributes))
    started = time.monotonic()
    execution = c.wait_opened(before)
    opened_after = time.monotonic() - started
    arn = execution["executionArn"]
    wait_until(lambda: "unhealthy" in c.probe_outcomes(arn), timeout=60, what="a failed probe")
    c.set_failing(False)
    fixed = time.monotonic()
    result = c.wait_finished(arn)
    closed_after = time.monotonic() - fixed
    wait_until(lambda: sent <= c.processed_bodies(), timeout=60, what="every message processed")
    return {
        "sent": sent,
        "result": result,
        "states": c.entered_states(arn),
        "outcomes": c.probe_outcomes(arn),
        "processed": [p for p in c.processed if p["body"] in sent],
        "notifications": list(c.notifications),
        "opened_after": opened_after,
        "closed_after": closed_after,
        "circuit": c,
    }


def test_failure_episode_processes_every_message_and_closes(seed_episode):
    c: Circuit = seed_episode["circuit"]
    assert seed_episode["result"]["status"] == "SUCCEEDED"
    assert c.mapping() == "Enabled"
    assert_nothing_lost(c, seed_episode["sent"])
    assert {p["body"] for p in seed_episode["processed"]} == seed_episode["sent"]
    assert not c.dlq_bodies()
    assert seed_episode["outcomes"][0] == "unhealthy"
    assert seed_episode["outcomes"][-1] == "healthy"
    texts = seed_episode["notifications"]
    assert any("is OPEN" in t for t in texts), texts
    assert any("is CLOSED (reason: healthy)" in t for t in texts), texts
    states = seed_episode["states"]
    assert states.index("DisableMapping") < states.index("Probe") < states.index("CloseCircuit")
    assert {"EnableRejitter", "DisableRejitter", "OpenHalfway", "ResetAlarm"} <= set(states)
    alarm = c.cw.describe_alarms(AlarmNames=[c.out["alarm_name"]])["MetricAlarms"][0]
    assert alarm["StateValue"] in ("OK", "INSUFFICIENT_DATA")


def test_rejitter_preserves_attributes_and_spreads_redelivery(seed_episode):
    processed = seed_episode["processed"]
    rejittered = [p for p in processed if "sqscb-rejitter-passes" in p["messageAttributes"]]
    assert rejittered, "the backlog went through the rejitter"
    for record in processed:
        attrs = record["messageAttributes"]
        assert attrs["tenant"]["stringValue"] == "acme"
        assert attrs["priority"] == {**attrs["priority"], "stringValue": "7", "dataType": "Number"}
        assert attrs["blob"]["dataType"] == "Binary"
    times = sorted(p["processedAt"] for p in rejittered)
    assert times[-1] - times[0] >= 1.0, "redelivery is spread over the window, not a burst"


# ---- 2: empty queue ---------------------------------------------------------------------------
def test_empty_queue_at_probe_time_closes_the_circuit(closed: Circuit):
    c = closed
    before = {e["executionArn"] for e in c.executions()}
    c.open_via_alarm()
    execution = c.wait_opened(before)

    result = c.wait_finished(execution["executionArn"])

    assert result["status"] == "SUCCEEDED"
    assert c.probe_outcomes(execution["executionArn"]) == ["empty"]
    wait_until(lambda: c.mapping() == "Enabled", timeout=30, what="mapping Enabled")
    c.collect()
    assert any("is CLOSED (reason: empty)" in t for t in c.notifications), c.notifications


# ---- 3: a poison message while the service is healthy -----------------------------------------
def test_poison_message_does_not_keep_a_healthy_circuit_open(closed: Circuit):
    c = closed
    before = {e["executionArn"] for e in c.executions()}
    c.open_via_alarm()
    execution = c.wait_opened(before)
    arn = execution["executionArn"]
    poison = set(c.send(1, "poison"))  # at the head of the queue
    good = set(c.send(3, "good"))

    result = c.wait_finished(arn)

    assert result["status"] == "SUCCEEDED"
    outcomes = c.probe_outcomes(arn)
    assert outcomes[-1] == "healthy"
    assert "GiveUpMaxAttempts" not in c.entered_states(arn)
    wait_until(lambda: c.mapping() == "Enabled", timeout=30, what="mapping Enabled")
    wait_until(lambda: good <= c.processed_bodies(), timeout=60, what="good messages processed")
    assert not poison & c.processed_bodies()
    assert_nothing_lost(c, poison | good)


# ---- 4: retries exhausted ---------------------------------------------------------------------
def test_exhausted_retries_notify_stay_open_and_still_close_on_recovery(closed: Circuit):
    c = closed
    before = {e["executionArn"] for e in c.executions()}
    c.set_failing(True)
    sent = set(c.send(6, "down"))
    execution = c.wait_opened(before)
    arn = execution["executionArn"]

    def gave_up() -> bool:
        c.collect()
        return any("giving up after 4 unhealthy probes" in t for t in c.notifications)

    wait_until(gave_up, timeout=EPISODE_TIMEOUT, what="the give-up notification")

    assert any("STAYS OPEN" in t for t in c.notifications)
    assert "GiveUpMaxAttempts" in c.entered_states(arn)
    assert c.probe_outcomes(arn).count("unhealthy") >= 4
    assert c.mapping() == "Disabled"  # stays open, as configured...
    assert c.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"  # ...and watched
    c.set_failing(False)
    assert c.wait_finished(arn)["status"] == "SUCCEEDED"
    wait_until(lambda: c.mapping() == "Enabled", timeout=30, what="closed after recovery")
    wait_until(lambda: sent <= c.processed_bodies(), timeout=60, what="backlog processed")
    assert_nothing_lost(c, sent)


# ---- 5: duplicate alarm events ----------------------------------------------------------------
def test_duplicate_alarm_events_start_one_acting_execution(closed: Circuit):
    c = closed
    c.set_failing(True)
    c.send(3, "dup")
    before = {e["executionArn"] for e in c.executions()}
    c.open_via_alarm()
    first = c.wait_opened(before)
    event = c.sfn.describe_execution(executionArn=first["executionArn"])["input"]

    duplicates = [
        c.sfn.start_execution(stateMachineArn=c.machine, input=event)["executionArn"]
        for _ in range(2)
    ]
    for arn in duplicates:
        assert c.wait_finished(arn, timeout=30)["status"] == "SUCCEEDED"
        states = c.entered_states(arn)
        assert "DuplicateEpisode" in states
        assert "DisableMapping" not in states and "Probe" not in states
    assert c.sfn.describe_execution(executionArn=first["executionArn"])["status"] == "RUNNING"
    c.collect()
    assert sum("is OPEN" in t for t in c.notifications) == 1
    c.set_failing(False)
    assert c.wait_finished(first["executionArn"])["status"] == "SUCCEEDED"
    wait_until(lambda: c.mapping() == "Enabled", timeout=30, what="mapping Enabled")


# ---- 6: a second failure wave -----------------------------------------------------------------
def test_second_failure_wave_after_close_trips_again(closed: Circuit):
    c = closed
    for wave in (1, 2):
        before = {e["executionArn"] for e in c.executions()}
        c.set_failing(True)
        sent = set(c.send(10, f"wave{wave}"))
        execution = c.wait_opened(before)  # the alarm fired (again): a new execution
        c.set_failing(False)
        assert c.wait_finished(execution["executionArn"])["status"] == "SUCCEEDED"
        wait_until(lambda: c.mapping() == "Enabled", timeout=30, what="mapping Enabled")
        wait_until(lambda s=sent: s <= c.processed_bodies(), timeout=60, what="processed")


# ---- 7: terraform apply while open ------------------------------------------------------------
def test_apply_while_open_does_not_reenable_the_mapping(closed: Circuit, stack: Stack):
    c = closed
    c.set_failing(True)
    sent = set(c.send(4, "apply"))
    before = {e["executionArn"] for e in c.executions()}
    execution = c.wait_opened(before)

    stack.apply(BASE_VARS)  # also "fixes" the function: SHOULD_ERROR back to its default, false

    assert c.mapping() == "Disabled"  # Terraform did not close the circuit: ignore_changes
    assert c.wait_finished(execution["executionArn"])["status"] == "SUCCEEDED"
    wait_until(lambda: c.mapping() == "Enabled", timeout=30, what="closed by the breaker")
    wait_until(lambda: sent <= c.processed_bodies(), timeout=60, what="processed")


# ---- the breaker itself is stopped mid-episode ---------------------------------------------------
def test_an_aborted_episode_is_notified_with_what_to_check(closed: Circuit):
    # StopExecution cannot be caught inside the state machine: the module's execution-status rule
    # tells the operators that the mapping may still be disabled (promise 2).
    c = closed
    before = {e["executionArn"] for e in c.executions()}
    c.set_failing(True)
    c.send(2, "abort")
    execution = c.wait_opened(before)

    c.sfn.stop_execution(executionArn=execution["executionArn"], cause="operator")

    def notified() -> list[str]:
        c.collect()
        return [t for t in c.notifications if "ended ABORTED" in t]

    (text,) = wait_until(notified, timeout=30, what="the ABORTED notification")
    assert execution["executionArn"] in text
    assert f"{c.uuid} may still be DISABLED" in text
    assert c.mapping() == "Disabled"  # what the notification warns about; reset() re-enables it


# ---- 9: plan-time refusal of bad inputs -------------------------------------------------------
BAD_INPUTS = {
    "alarm_period_seconds": (45, "10, 30 or a multiple of 60"),
    "alarm_threshold_percent": (0, "alarm_threshold_percent"),
    "backoff_rate": (0.5, "backoff_rate"),
    "probe_max_attempts": (0, "probe_max_attempts"),
    "rejitter_max_delay_seconds": (901, "rejitter_max_delay_seconds"),
    "give_up_action": ("maybe", "give_up_action"),
    "half_open_max_concurrency": (1, "half_open_max_concurrency"),
}


def test_bad_inputs_are_refused_at_plan_time(stack: Stack):
    variables = {**BASE_VARS, **{k: bad for k, (bad, _) in BAD_INPUTS.items()}}
    proc = stack.plan(variables)
    output = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0
    for key, (_, message) in BAD_INPUTS.items():
        assert message in output, f"{key}: {message!r} not in plan output"


def test_min_delay_above_max_delay_is_refused_at_plan_time(stack: Stack):
    proc = stack.plan(
        {**BASE_VARS, "rejitter_min_delay_seconds": 10, "rejitter_max_delay_seconds": 5}
    )
    assert proc.returncode != 0
    assert "rejitter_min_delay_seconds must be <= rejitter_max_delay_seconds" in " ".join(
        (proc.stdout + proc.stderr).split()
    )
