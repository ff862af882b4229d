"""End to end on the emulator: examples/complete applied with Terraform, failure episodes played.

Every scenario counts messages by id: sent = processed + in the DLQ + still queued, lost = 0.
The stack is applied once for the module (time-scaled: seconds where AWS uses minutes); each
test starts from a closed circuit and uses message ids of its own.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from stack import Stack
from support import drain, mapping_state, queue_depth, wait_until

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
EPISODE_TIMEOUT = 120


class Circuit:
    """The applied example and the handles the scenarios need."""

    def __init__(self, aws, stack: Stack, outputs: dict) -> None:
        self.aws, self.stack, self.out = aws, stack, outputs
        self.lam, self.sqs = aws("lambda"), aws("sqs")
        self.sfn, self.cw = aws("stepfunctions"), aws("cloudwatch")
        self.work = outputs["work_queue_url"]
        self.uuid = outputs["event_source_mapping_uuid"]
        self.machine = outputs["state_machine_arn"]
        self.processed: list[dict] = []
        self.notifications: list[str] = []
        self.healthy_since = 0.0

    # -- the protected function
    def set_failing(self, failing: bool) -> None:
        fn = self.out["function_name"]
        env = self.lam.get_function_configuration(FunctionName=fn)["Environment"]["Variables"]
        env["SHOULD_ERROR"] = "true" if failing else "false"
        self.lam.update_function_configuration(FunctionName=fn, Environment={"Variables": env})
        self.lam.get_waiter("function_updated_v2").wait(FunctionName=fn)
        if not failing:
            self.healthy_since = time.monotonic()

    # -- messages
    def send(self, count: int, prefix: str = "msg", **kwargs) -> list[str]:
        ids = [f"{prefix}-{uuid.uuid4().hex[:8]}" for _ in range(count)]
        for body in ids:
            self.sqs.send_message(QueueUrl=self.work, MessageBody=body, **kwargs)
        return ids

    def collect(self) -> None:
        self.processed += [
            json.loads(m["Body"])
            for m in drain(self.sqs, self.out["processed_queue_url"], seconds=1)
        ]
        self.notifications += [
            m["Body"] for m in drain(self.sqs, self.out["notifications_queue_url"], seconds=1)
        ]

    def processed_bodies(self) -> set[str]:
        self.collect()
        return {p["body"] for p in self.processed}

    def dlq_bodies(self) -> set[str]:
        return {m["Body"] for m in drain(self.sqs, self.out["dlq_url"], seconds=1)}

    # -- the circuit
    def mapping(self) -> str:
        return mapping_state(self.lam, self.uuid)

    def executions(self, status: str | None = None) -> list[dict]:
        found = self.sfn.list_executions(stateMachineArn=self.machine)["executions"]
        return [e for e in found if status is None or e["status"] == status]

    def history(self, execution_arn: str) -> list[dict]:
        return self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]

    def entered_states(self, execution_arn: str) -> list[str]:
        return [
            e["stateEnteredEventDetails"]["name"]
            for e in self.history(execution_arn)
            if "stateEnteredEventDetails" in e
        ]

    def probe_outcomes(self, execution_arn: str) -> list[str]:
        outcomes = []
        for event in self.history(execution_arn):
            details = event.get("taskSucceededEventDetails")
            if details and details.get("resourceType") == "lambda":
                payload = json.loads(details["output"]).get("Payload", {})
                if isinstance(payload, dict) and "outcome" in payload:
                    outcomes.append(payload["outcome"])
        return outcomes

    def open_via_alarm(self) -> None:
        """Put the alarm in ALARM as a real error wave would (the event starts an execution)."""
        self.cw.set_alarm_state(
            AlarmName=self.out["alarm_name"], StateValue="ALARM", StateReason="e2e test"
        )

    def wait_opened(self, since: set[str]) -> dict:
        execution = wait_until(
            lambda: [e for e in self.executions() if e["executionArn"] not in since],
            timeout=60,
            what="an execution started by the alarm",
        )[0]
        wait_until(lambda: self.mapping() == "Disabled", timeout=30, what="mapping Disabled")
        return execution

    def wait_finished(self, execution_arn: str, timeout: float = EPISODE_TIMEOUT) -> dict:
        return wait_until(
            lambda: (
                (d := self.sfn.describe_execution(executionArn=execution_arn))["status"]
                != "RUNNING"
                and d
            ),
            timeout=timeout,
            what="the episode to end",
            interval=1,
        )

    def reset(self) -> None:
        """A closed circuit, a healthy function, no execution running, empty queues."""
        if self.failing():
            self.set_failing(False)
        # errors of the previous test must leave the alarm's evaluation window first, or the
        # alarm trips again right after this reset
        period = BASE_VARS["alarm_period_seconds"]
        time.sleep(max(0.0, self.healthy_since + period + 1 - time.monotonic()))
        for execution in self.executions("RUNNING"):
            self.sfn.stop_execution(executionArn=execution["executionArn"], cause="e2e reset")
        if self.mapping() in ("Disabled", "Disabling"):
            self.lam.update_event_source_mapping(UUID=self.uuid, Enabled=True)
        wait_until(lambda: self.mapping() == "Enabled", timeout=30, what="mapping Enabled")
        wait_until(lambda: queue_depth(self.sqs, self.work) == (0, 0), timeout=30, what="drained")
        self.cw.set_alarm_state(
            AlarmName=self.out["alarm_name"], StateValue="OK", StateReason="e2e reset"
        )
        self.collect()
        self.processed.clear()
        self.notifications.clear()

    def failing(self) -> bool:
        fn = self.out["function_name"]
        env = self.lam.get_function_configuration(FunctionName=fn)["Environment"]["Variables"]
        return env.get("SHOULD_ERROR") == "true"


@pytest.fixture(scope="module")
def stack(endpoint):
    stack = Stack("complete", "e2e-complete", endpoint)
    yield stack
    stack.destroy()


@pytest.fixture(scope="module")
def circuit(aws, stack) -> Circuit:
    return Circuit(aws, stack, stack.apply(BASE_VARS))


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
def test_exhausted_retries_notify_and_stay_open(closed: Circuit):
    c = closed
    before = {e["executionArn"] for e in c.executions()}
    c.set_failing(True)
    sent = set(c.send(6, "down"))
    execution = c.wait_opened(before)

    result = c.wait_finished(execution["executionArn"])

    assert result["status"] == "SUCCEEDED"
    states = c.entered_states(execution["executionArn"])
    assert "GiveUpMaxAttempts" in states and "StayOpen" in states
    assert c.probe_outcomes(execution["executionArn"]).count("unhealthy") == 4
    assert c.mapping() == "Disabled"  # stays open, as configured
    c.collect()
    assert any("giving up after 4 unhealthy probes" in t for t in c.notifications)
    assert any("STAYS OPEN" in t for t in c.notifications)
    # the operator fixes the function and closes the circuit by hand: the backlog is intact
    c.set_failing(False)
    c.lam.update_event_source_mapping(UUID=c.uuid, Enabled=True)
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
