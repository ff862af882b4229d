"""End to end on the emulator: examples/complete applied with Terraform, failure episodes played.

Every scenario counts messages by id: sent = processed + in the DLQ + still queued, lost = 0.
The stack is applied once for the module (time-scaled: seconds where AWS uses minutes); each
test starts from a closed circuit and uses message ids of its own.

The alarm is the example's bring-your-own fast alarm (existing_alarm): a 10 s error rate on the
function's own high-resolution metrics, evaluated by the harness as AWS evaluates alarms. The
module's own alarm (AWS/Lambda, 60 s periods) is proven in test_harness_alarms.py.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from circuit import EPISODE_TIMEOUT, Circuit
from stack import Stack
from support import (
    acknowledge_iam_denials,
    drain,
    harness_log,
    harness_sfn,
    iam_decisions,
    loop_steps,
    probe_results,
    queue_depth,
    wait_until,
)

pytestmark = pytest.mark.slow

ALARM_PERIOD = 10
# The alarm trips on 1 breaching period out of 2, so it stays in ALARM for up to 20 s after the
# last failure: an episode shorter than that closes while the alarm still holds the failures
# that opened it (the case where resetting the alarm at the close flaps).
ALARM_EVALUATION_PERIODS = 2
WATCH_SECONDS = (ALARM_EVALUATION_PERIODS + 1) * ALARM_PERIOD + 2  # window + one evaluation
REARM_WAIT_SECONDS = ALARM_PERIOD + 15  # the module's wait after re-arming the alarm
MAX_RECEIVE_COUNT = 15  # the example's redrive policy
# The breaker's reaction to an ALARM event: EventBridge starts an execution, which takes the
# lease and disables the mapping (seconds; a 2-core machine under load adds some).
REACTION_SECONDS = 8
BASE_VARS = {
    # A fixed name: the harness completes mapping deletions as AWS does, so a destroyed stack can
    # be applied again on the same emulator (tests/integration/test_harness_lambda.py proves it).
    "name": "e2e",
    "record_processed": True,
    "function_timeout_seconds": 3,
    "queue_visibility_timeout_seconds": 4,
    "fast_alarm_period_seconds": ALARM_PERIOD,
    "alarm_evaluation_periods": ALARM_EVALUATION_PERIODS,
    "alarm_datapoints_to_alarm": 1,
    "alarm_watch_seconds": WATCH_SECONDS,
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
    # copies become visible after the window: none is seen (and hidden) again within it
    "rejitter_min_delay_seconds": 10,
    "rejitter_max_delay_seconds": 14,
    # Lambda refuses a mapping whose queue hides messages for less than the function's timeout
    # (so does the harness): the rejitter's timeout fits the work queue's 4 s.
    "rejitter_timeout_seconds": 4,
    # The breaker's open-too-long alarm, scaled down like the rest.
    "open_alarm_after_seconds": 10,
}


@pytest.fixture(scope="module")
def stack(endpoint, emulator_is_ours):
    stack = Stack("complete", "e2e-complete", endpoint)
    yield stack
    stack.release(emulator_is_ours)


@pytest.fixture(scope="module")
def circuit(aws, stack) -> Circuit:
    return Circuit(aws, stack.apply(BASE_VARS), ALARM_PERIOD * ALARM_EVALUATION_PERIODS)


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


def origin_attribute(receives: int) -> dict:
    """The rejitter's `sqscb-origin` attribute of a copy made by an earlier episode's rejitter,
    a minute ago (more than a window ago; a copy's SentTimestamp is within minutes of resentMs,
    which is how the rejitter tells its own copies from messages redriven from the DLQ)."""
    now_ms = int(time.time() * 1000)
    origin = {
        "v": 1,
        "id": "first-incarnation",
        "sentMs": now_ms - 3_600_000,
        "receives": receives,
        "resentMs": now_ms - 60_000,
        "passes": 1,
    }
    return {"sqscb-origin": {"DataType": "String", "StringValue": json.dumps(origin)}}


class StatusSampler:
    """`sqs-circuit-breaker status` (the CLI's own code, on this test's clients) sampled in the
    background: the circuit states it reports during an episode, in order, without repeats."""

    def __init__(self, c: Circuit) -> None:
        from sqs_circuit_breaker import aws as cli_aws

        self.read = cli_aws.read_status
        self.aws = cli_aws.Aws(
            session=None,
            sfn=c.sfn,
            ssm=c.ssm,
            lambda_=c.lam,
            sqs=c.sqs,
            cloudwatch=c.cw,
            sts=c.aws("sts"),
        )
        self.circuit = cli_aws.find_circuit(self.aws, c.machine)  # by ARN: no session needed
        self.seen: list[str] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                state = self.read(self.aws, self.circuit, datetime.now(tz=UTC))["state"]
            except Exception:  # a read racing a change: sample again
                state = None
            if state and (not self.seen or self.seen[-1] != state):
                self.seen.append(state)
            self.done.wait(0.5)

    def stop(self) -> list[str]:
        self.done.set()
        self.thread.join(timeout=30)
        return self.seen


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
    sampler = StatusSampler(c)
    execution = c.wait_opened(before)
    opened_after = time.monotonic() - started
    arn = execution["executionArn"]
    wait_until(lambda: "unhealthy" in c.probe_outcomes(arn), timeout=60, what="a failed probe")
    c.set_failing(False)
    fixed = time.monotonic()
    # A copy made by an earlier episode's rejitter that has used up its deliveries: sent again,
    # it would circle forever; the rejitter moves it to the DLQ, as SQS would have.
    wait_until(lambda: "EnableRejitter" in c.entered_states(arn), timeout=60, what="rejitter on")
    (exhausted,) = c.send(1, "exhausted", MessageAttributes=origin_attribute(MAX_RECEIVE_COUNT))
    result = c.wait_finished(arn)
    closed_after = time.monotonic() - fixed
    phases = sampler.stop()
    wait_until(lambda: sent <= c.processed_bodies(), timeout=60, what="every message processed")
    dlq = wait_until(
        lambda: [m for m in drain(c.sqs, c.out["dlq_url"], seconds=1) if m["Body"] == exhausted],
        timeout=30,
        what="the exhausted copy in the DLQ",
    )
    return {
        "sent": sent,
        "exhausted": exhausted,
        "dlq": dlq,
        "result": result,
        "states": c.entered_states(arn),
        "outcomes": c.probe_outcomes(arn),
        "processed": [p for p in c.processed if p["body"] in sent | {exhausted}],
        "notifications": list(c.notifications),
        "opened_after": opened_after,
        "closed_after": closed_after,
        "phases": phases,
        "circuit": c,
    }


def test_failure_episode_processes_every_message_and_closes(seed_episode):
    c: Circuit = seed_episode["circuit"]
    assert seed_episode["result"]["status"] == "SUCCEEDED"
    assert c.mapping() == "Enabled"
    assert_nothing_lost(c, seed_episode["sent"])
    assert {p["body"] for p in seed_episode["processed"]} == seed_episode["sent"]
    assert not c.dlq_bodies() & seed_episode["sent"]
    assert seed_episode["outcomes"][0] == "unhealthy"
    assert seed_episode["outcomes"][-1] == "healthy"
    texts = seed_episode["notifications"]
    assert any("is OPEN" in t for t in texts), texts
    assert any("is CLOSED (reason: healthy)" in t for t in texts), texts
    states = seed_episode["states"]
    assert states.index("DisableMapping") < states.index("Probe") < states.index("CloseCircuit")
    assert {"EnableRejitter", "DisableRejitter", "OpenHalfway", "WatchAfterClose"} <= set(states)
    assert states.count("DisableMapping") == 1  # no re-open
    alarm = c.cw.describe_alarms(AlarmNames=[c.out["alarm_name"]])["MetricAlarms"][0]
    assert alarm["StateValue"] in ("OK", "INSUFFICIENT_DATA")


def test_status_reports_every_phase_of_the_episode(seed_episode):
    """`sqs-circuit-breaker status`, sampled through the episode, saw it open, half-open (probe or
    ramp), rejitter and close, in that order."""
    phases = seed_episode["phases"]
    assert "OPEN" in phases, phases
    expected = ["OPEN", "HALF-OPEN", "REJITTER", "CLOSED"]
    order = [p for p in phases[phases.index("OPEN") :] if p in expected]  # closed before it
    firsts = [order.index(p) for p in expected if p in order]
    assert set(expected) <= set(order), phases
    assert firsts == sorted(firsts), phases


def test_rejitter_preserves_attributes_and_spreads_redelivery(seed_episode):
    processed = seed_episode["processed"]
    rejittered = [p for p in processed if "sqscb-origin" in p["messageAttributes"]]
    assert rejittered, "the backlog went through the rejitter"
    for record in processed:
        attrs = record["messageAttributes"]
        assert attrs["tenant"]["stringValue"] == "acme"
        assert attrs["priority"] == {**attrs["priority"], "stringValue": "7", "dataType": "Number"}
        assert attrs["blob"]["dataType"] == "Binary"
    for record in rejittered:
        origin = json.loads(record["messageAttributes"]["sqscb-origin"]["stringValue"])
        # a copy has a new MessageId: consumers key idempotency on the origin's id
        assert origin["id"] != record["messageId"]
        assert origin["receives"] >= 1  # the failed deliveries before the open are carried
    times = sorted(p["processedAt"] for p in rejittered)
    assert times[-1] - times[0] >= 1.0, "redelivery is spread over the window, not a burst"


def test_rejitter_sends_a_copy_past_max_receive_count_to_the_dlq(seed_episode):
    assert seed_episode["exhausted"] not in {p["body"] for p in seed_episode["processed"]}
    (message,) = seed_episode["dlq"]
    origin = json.loads(message["MessageAttributes"]["sqscb-origin"]["StringValue"])
    assert origin["id"] == "first-incarnation"
    assert origin["receives"] >= MAX_RECEIVE_COUNT


# ---- 2: empty queue ---------------------------------------------------------------------------
def test_empty_queue_at_probe_time_closes_the_circuit(closed: Circuit):
    c = closed
    before = {e["executionArn"] for e in c.executions()}
    c.open_via_alarm()
    execution = c.wait_opened(before)

    reason = c.wait_closed(execution["executionArn"])

    assert reason == "empty"
    assert c.probe_outcomes(execution["executionArn"]) == ["empty"]


def test_one_hidden_message_is_not_an_empty_queue(closed: Circuit):
    """A one-message backlog: the failed probe hides it; the next probe sees nothing visible but
    must not report `empty` and close on a function that still fails."""
    c = closed
    before = {e["executionArn"] for e in c.executions()}
    c.set_failing(True)
    c.open_via_alarm()
    execution = c.wait_opened(before)
    arn = execution["executionArn"]
    (only,) = c.send(1, "single")

    def probes() -> list[str]:
        outcomes = c.probe_outcomes(arn)
        return outcomes if len(outcomes) >= 3 else []

    outcomes = wait_until(probes, timeout=90, what="three probes")

    assert "empty" not in outcomes, outcomes
    assert c.mapping() == "Disabled"
    assert c.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    c.set_failing(False)
    assert c.wait_closed(arn) == "healthy"
    wait_until(lambda: only in c.processed_bodies(), timeout=60, what="the message processed")


# ---- 2b: a shared queue: the mapping's filters ------------------------------------------------
def test_the_probe_never_gives_the_function_a_message_its_filters_exclude(closed: Circuit):
    """A queue shared with messages the mapping's FilterCriteria exclude (the mapping deletes
    them unseen): the probe passes them over as the mapping does, so the function never
    processes one (a side effect it was never meant to have) and they never count as its
    health. Without the filter check the probe, picking among 3 times as many excluded messages,
    would hand the recovered function an excluded one."""
    c = closed
    pattern = {"body": {"kind": ["order"]}}
    c.lam.update_event_source_mapping(
        UUID=c.uuid, FilterCriteria={"Filters": [{"Pattern": json.dumps(pattern)}]}
    )
    try:
        wait_until(lambda: c.mapping() == "Enabled", timeout=30, what="filtered mapping Enabled")
        before = {e["executionArn"] for e in c.executions()}
        c.set_failing(True)
        orders = {
            json.dumps({"kind": "order", "id": f"order-{uuid.uuid4().hex[:8]}"}) for _ in range(5)
        }
        for body in orders:
            c.sqs.send_message(QueueUrl=c.work, MessageBody=body)
        arn = c.wait_opened(before)["executionArn"]
        # The orders are held out of sight for a while (as another consumer's in-flight messages
        # would be), so that the next probes find excluded messages first: the emulator's queue
        # returns messages in the order they were sent.
        held: set[str] = set()

        def hold_orders() -> bool:
            for m in c.sqs.receive_message(
                QueueUrl=c.work, MaxNumberOfMessages=10, VisibilityTimeout=20, WaitTimeSeconds=1
            ).get("Messages", []):
                held.add(m["Body"])
            return held >= orders

        wait_until(hold_orders, timeout=30, what="the orders held")
        # while the circuit is open the shared queue fills with messages the mapping excludes
        audits = {
            json.dumps({"kind": "audit", "id": f"audit-{uuid.uuid4().hex[:8]}"}) for _ in range(15)
        }
        for body in audits:
            c.sqs.send_message(QueueUrl=c.work, MessageBody=body)
        c.set_failing(False)
        assert c.wait_closed(arn) == "healthy"
        wait_until(lambda: orders <= c.processed_bodies(), timeout=60, what="every order processed")
        assert not audits & c.processed_bodies(), "the function processed an excluded message"
        results = probe_results(c.history(arn))
        # the probe passed excluded ones over: while only they were visible, it judged nothing
        assert any(r["excluded"] and r["source"] is None for r in results), results
        assert sum(r["excluded"] for r in results) >= len(audits)
        # excluded messages are left to the mapping, which deletes them when it resumes
        wait_until(lambda: queue_depth(c.sqs, c.work) == (0, 0), timeout=60, what="queue drained")
    finally:
        c.lam.update_event_source_mapping(UUID=c.uuid, FilterCriteria={"Filters": []})
        wait_until(lambda: c.mapping() == "Enabled", timeout=30, what="mapping Enabled")


# ---- 3: a poison message while the service is healthy -----------------------------------------
def test_poison_message_does_not_keep_a_healthy_circuit_open(closed: Circuit):
    c = closed
    before = {e["executionArn"] for e in c.executions()}
    c.open_via_alarm()
    execution = c.wait_opened(before)
    arn = execution["executionArn"]
    poison = set(c.send(1, "poison"))  # at the head of the queue
    good = set(c.send(3, "good"))

    assert c.wait_closed(arn) == "healthy"

    outcomes = c.probe_outcomes(arn)
    assert outcomes[-1] == "healthy"
    assert "NotifyGaveUp" not in c.entered_states(arn)
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
    assert "NotifyGaveUp" in c.entered_states(arn)
    assert c.probe_outcomes(arn).count("unhealthy") >= 4
    assert c.mapping() == "Disabled"  # stays open, as configured...
    assert c.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"  # ...and watched

    # The alarms on the breaker itself, while it stays open. The trigger is broken on purpose:
    # the alarm -> state machine rule's target names a state machine that does not exist, and an
    # alarm transition is delivered to it (EventBridge retries, then counts FailedInvocations).
    events = c.aws("events")
    rule = c.out["event_rule_name"]
    seq = iam_decisions(c.endpoint).get("seq", 0)
    targets = events.list_targets_by_rule(Rule=rule)["Targets"]
    broken = [{**t, "Arn": t["Arn"] + "-missing"} for t in targets]
    events.put_targets(Rule=rule, Targets=broken)
    try:
        for state in ("OK", "ALARM"):
            c.cw.set_alarm_state(AlarmName=c.out["alarm_name"], StateValue=state, StateReason="e2e")
        alarms = c.out["breaker_alarm_names"]
        # an earlier episode may have left it in ALARM: make this episode's transition happen
        c.cw.set_alarm_state(AlarmName=alarms["open_too_long"], StateValue="OK", StateReason="e2e")

        def breaker_alarm_states() -> dict | None:
            found = c.cw.describe_alarms(
                AlarmNames=[alarms["open_too_long"], alarms["trigger_failed"]]
            )["MetricAlarms"]
            states = {a["AlarmName"]: a["StateValue"] for a in found}
            return states if set(states.values()) == {"ALARM"} and len(states) == 2 else None

        wait_until(
            breaker_alarm_states, timeout=180, what="open-too-long and trigger-failed alarms"
        )
        # CloudWatch publishes an alarm action as cloudwatch.amazonaws.com: the created topic's
        # policy must allow it (under the harness's IAM enforcement; the default policy did not)
        wait_until(
            lambda: c.collect() or any(alarms["open_too_long"] in t for t in c.notifications),
            timeout=60,
            what=f"the open-too-long alarm's notification (got {c.notifications[-3:]})",
        )
    finally:
        events.put_targets(Rule=rule, Targets=targets)
    # The broken target's StartExecution is refused on AWS too (the rule's role may start only
    # this circuit's state machine): an expected failure of the trigger, not the breaker's.
    broken_denials = [
        d["seq"]
        for d in iam_decisions(c.endpoint, after=seq).get("denials", [])
        if d["action"] == "states:StartExecution" and d["resource"].endswith("-missing")
    ]
    assert broken_denials
    acknowledge_iam_denials(c.endpoint, broken_denials)
    assert c.mapping() == "Disabled"  # the breaker's own alarms change nothing

    c.set_failing(False)
    assert c.wait_closed(arn) == "healthy"
    wait_until(lambda: sent <= c.processed_bodies(), timeout=60, what="backlog processed")
    assert_nothing_lost(c, sent)


# ---- 5: duplicate alarm events ----------------------------------------------------------------
def alarm_event(c: Circuit) -> str:
    """An execution input as the alarm's EventBridge rule gives it (CloudWatch Alarm State
    Change, ALARM)."""
    now = datetime.now(UTC)
    return json.dumps(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch",
            "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "resources": [c.alarm_arn()],
            "detail": {
                "alarmName": c.out["alarm_name"],
                "state": {"value": "ALARM", "reason": "e2e", "timestamp": now.isoformat()},
                "previousState": {"value": "OK", "reason": "e2e"},
            },
        }
    )


def test_executions_started_together_act_once(closed: Circuit, endpoint: str):
    """Three executions start at the same moment (duplicate alarm events), while ListExecutions
    lags as AWS documents it may (eventually consistent): exactly one acts. Single flight is a
    lease taken with a conditional write; the others find it held by a running execution, look
    again, and give their event up without touching anything."""
    c = closed
    c.set_failing(True)
    c.send(3, "dup")
    before = {e["executionArn"] for e in c.executions()}
    harness_sfn(endpoint, {"stateMachineArn": c.machine, "listExecutionsLagSeconds": 5})
    try:
        event = alarm_event(c)
        with ThreadPoolExecutor(3) as pool:
            started = list(
                pool.map(
                    lambda _: c.sfn.start_execution(stateMachineArn=c.machine, input=event),
                    range(3),
                )
            )
        arns = [s["executionArn"] for s in started]
        acting = wait_until(
            lambda: [a for a in arns if c.acted(a)],
            timeout=60,
            what="one execution acts",
        )
        assert len(acting) == 1
        for arn in set(arns) - set(acting):
            assert c.wait_finished(arn, timeout=60)["status"] == "SUCCEEDED"
            states = c.entered_states(arn)
            assert c.outcome(arn) == "duplicate"
            claim = c.claim(arn)
            assert (claim["outcome"], claim["holder"], claim["holderStatus"]) == (
                "duplicate",
                acting[0],
                "RUNNING",
            )  # the holder runs ...
            assert claim["rechecks"] == 2  # ... looked again before giving up
            assert states.count("WaitBeforeDuplicateRecheck") == 2
            assert "DisableMapping" not in states and "Probe" not in states
    finally:
        harness_sfn(endpoint, {"stateMachineArn": c.machine, "listExecutionsLagSeconds": None})
    (first,) = acting
    wait_until(lambda: c.mapping() == "Disabled", timeout=30, what="mapping Disabled")
    assert c.sfn.describe_execution(executionArn=first)["status"] == "RUNNING"
    # an alarm execution of the same wave, if any, did not act either
    assert [e["executionArn"] for e in c.acting_executions(before)] == [first]
    c.collect()
    assert sum("is OPEN" in t for t in c.notifications) == 1
    c.set_failing(False)
    assert c.wait_closed(first) == "healthy"


# ---- 6: the close: no flap, and a second wave right after it re-opens --------------------------
def test_a_healthy_close_is_not_followed_by_a_reopen(closed: Circuit):
    """The failures that opened the circuit are still in the alarm's window when a quick episode
    closes. Resetting the alarm then would trip it again on them and re-open a healthy circuit
    (a flap): the episode watches the window instead. No waiting between close and check."""
    c = closed
    before = {e["executionArn"] for e in c.executions()}
    c.set_failing(True)
    sent = set(c.send(10, "flap"))
    execution = c.wait_opened(before)
    arn = execution["executionArn"]
    c.set_failing(False)
    wait_until(lambda: c.mapping() == "Enabled", timeout=EPISODE_TIMEOUT, what="closed")
    closed_at = time.monotonic()

    # from the close until well after the watch: the circuit stays closed, nothing acts again
    states_seen = set()
    while time.monotonic() - closed_at < WATCH_SECONDS + REARM_WAIT_SECONDS + ALARM_PERIOD:
        states_seen.add(c.mapping())
        time.sleep(1)

    assert states_seen == {"Enabled"}, f"the circuit re-opened after a healthy close: {states_seen}"
    assert c.wait_finished(arn)["status"] == "SUCCEEDED"
    assert c.entered_states(arn).count("DisableMapping") == 1  # no re-open
    assert [e["executionArn"] for e in c.acting_executions(before)] == [arn]
    wait_until(lambda: sent <= c.processed_bodies(), timeout=60, what="processed")


def test_a_second_wave_right_after_a_close_reopens(closed: Circuit):
    """The function fails again while the alarm may still be in ALARM from the first wave (no
    state change, no new event): the episode, which owns the alarm's window, re-opens."""
    c = closed
    before = {e["executionArn"] for e in c.executions()}
    c.set_failing(True)
    first = set(c.send(10, "wave1"))
    execution = c.wait_opened(before)
    c.set_failing(False)
    wait_until(lambda: c.mapping() == "Enabled", timeout=EPISODE_TIMEOUT, what="closed")

    c.set_failing(True)  # at once: the second wave
    second = set(c.send(10, "wave2"))

    wait_until(
        lambda: c.mapping() == "Disabled",
        timeout=WATCH_SECONDS + 2 * REARM_WAIT_SECONDS + 30,
        what="the circuit re-opened",
    )
    c.set_failing(False)
    arn = execution["executionArn"]
    reopened = (
        c.entered_states(arn).count("DisableMapping") > 1 or len(c.acting_executions(before)) > 1
    )
    assert reopened, "the second wave was handled by this or a new acting execution"
    wait_until(lambda: c.mapping() == "Enabled", timeout=EPISODE_TIMEOUT, what="closed again")
    assert_nothing_lost(c, first | second, timeout=90)


def test_a_second_wave_after_the_alarm_went_ok_reopens_at_once(closed: Circuit):
    """The alarm returns to OK during the watch, then the function fails again: the alarm enters
    ALARM after the close. That transition may fall between two of the watch's looks (every
    alarm period; on AWS a minute): the execution that its ALARM event starts takes the episode
    over from the watching one at once (the lease says since when it only watches), and the
    watching one would also see it at its next look (StateTransitionedTimestamp after the
    close). Measured from the transition to the re-open: the breaker's own reaction, not a
    watch period or a re-arm."""
    c = closed
    before = {e["executionArn"] for e in c.executions()}
    c.set_failing(True)
    first = set(c.send(10, "ok-wave1"))
    watcher = c.wait_opened(before)["executionArn"]
    c.set_failing(False)
    wait_until(lambda: c.mapping() == "Enabled", timeout=EPISODE_TIMEOUT, what="closed")
    wait_until(lambda: c.alarm()["StateValue"] == "OK", timeout=60, what="the alarm back to OK")
    assert c.sfn.describe_execution(executionArn=watcher)["status"] == "RUNNING"  # watching

    c.set_failing(True)  # the second wave
    second = set(c.send(10, "ok-wave2"))
    alarmed = wait_until(
        lambda: (a := c.alarm())["StateValue"] == "ALARM" and a["StateTransitionedTimestamp"],
        timeout=3 * ALARM_PERIOD + 10,
        what="the alarm in ALARM again",
    )
    watching = c.sfn.describe_execution(executionArn=watcher)["status"] == "RUNNING"
    wait_until(lambda: c.mapping() == "Disabled", timeout=30, what="the circuit re-opened")
    reaction = (datetime.now(UTC) - alarmed).total_seconds()
    assert reaction < REACTION_SECONDS, f"re-opened {reaction:.1f} s after the alarm's transition"
    # Exactly one execution re-opened: the watching one itself, or a new one (which took the
    # episode over from the watch, or, once the watch had ended, found the lease free).
    new = [e["executionArn"] for e in c.acting_executions(before) if e["executionArn"] != watcher]
    reopened_itself = c.entered_states(watcher).count("DisableMapping") == 2
    assert len(new) + reopened_itself == 1, c.describe_new_executions(before)
    if watching and new:
        claim = c.claim(new[0])
        assert (claim["how"], claim["holder"]) == ("took over from the watch", watcher)
    c.set_failing(False)
    owner = new[0] if new else watcher
    assert c.wait_closed(owner) in ("healthy", "empty")
    if new:
        assert c.wait_finished(watcher, timeout=60)["status"] == "SUCCEEDED"
        # superseded at its next look (untouched), or it had closed for good before the wave
        assert c.outcome(watcher) in ("superseded", "closed")
    assert_nothing_lost(c, first | second, timeout=90)


# ---- 7: terraform apply while open ------------------------------------------------------------
def test_apply_while_open_does_not_reenable_the_mapping(closed: Circuit, stack: Stack):
    c = closed
    c.set_failing(True)
    sent = set(c.send(4, "apply"))
    before = {e["executionArn"] for e in c.executions()}
    execution = c.wait_opened(before)

    # The function still fails while Terraform applies (should_error), so only Terraform could
    # re-enable the mapping in the meantime (an apply that fixed the function raced the breaker's
    # own close on a loaded machine).
    stack.apply({**BASE_VARS, "should_error": True})

    assert c.mapping() == "Disabled"  # Terraform did not close the circuit: ignore_changes
    c.set_failing(False)  # the function is fixed
    assert c.wait_closed(execution["executionArn"]) == "healthy"  # closed by the breaker
    wait_until(lambda: sent <= c.processed_bodies(), timeout=60, what="processed")


# ---- someone else re-enables the mapping mid-episode --------------------------------------------
def test_a_mapping_reenabled_elsewhere_ends_the_episode(closed: Circuit):
    """A person (or an apply of a mapping without ignore_changes) re-enables the mapping while
    the circuit is open: the episode notices before its next probe, does not fight it, closes
    (restoring its settings) and says why. Had the function still failed, the watch after the
    close would re-open the circuit (test_a_second_wave_right_after_a_close_reopens)."""
    c = closed
    before = {e["executionArn"] for e in c.executions()}
    c.set_failing(True)
    sent = set(c.send(6, "override"))
    execution = c.wait_opened(before)
    arn = execution["executionArn"]

    c.set_failing(False)  # the operator fixed it, and re-enables the mapping by hand
    c.lam.update_event_source_mapping(UUID=c.uuid, Enabled=True)

    assert c.wait_closed(arn) == "reenabled_elsewhere"
    steps = loop_steps(c.history(arn))
    seen = max(i for i, step in enumerate(steps) if step["next"] == "close")  # the check saw it
    assert not [s for s in steps[seen:] if "outcome" in s]  # no probe competed with the mapping
    wait_until(lambda: sent <= c.processed_bodies(), timeout=60, what="processed")


# ---- a forged continuation ----------------------------------------------------------------------
@pytest.mark.parametrize(("phase", "task"), [("probe", "Probe"), ("watch", "LookAtAlarm")])
def test_a_forged_continuation_is_refused_before_it_touches_anything(
    closed: Circuit, phase: str, task: str
):
    """Anyone allowed to start the state machine can write `$.continuation` (a hand-over's
    input): its phase's first task checks every path the states would read before it claims the
    lease, and a refused input ends at InvalidInput at once, with nothing read past the input
    (a missing path read by a state would be an uncatchable runtime error: no notification)."""
    c = closed
    lease = c.lease()
    predecessor = c.machine.replace(":stateMachine:", ":execution:") + ":forged-predecessor"
    forged = {
        "continuation": {"phase": phase, "predecessor": predecessor},
        "original": {"state": "Enabled"},  # no settings to restore, no function: refused
    }
    arn = c.sfn.start_execution(
        stateMachineArn=c.machine, name=f"forged-{phase}-{uuid.uuid4()}", input=json.dumps(forged)
    )["executionArn"]
    ended = c.wait_finished(arn, timeout=120)
    events = c.history(arn)
    assert (ended["status"], ended.get("error")) == ("FAILED", "CircuitBreaker.InvalidInput")
    assert c.entered_states(arn, events) == ["RouteCommand", task, "InvalidInput"]
    failed = [e["taskFailedEventDetails"] for e in events if "taskFailedEventDetails" in e]
    assert [f["error"] for f in failed] == ["InvalidContinuation"]  # once: never retried
    assert "$.original.scalingConfig is missing" in failed[0]["cause"]
    assert c.lease() == lease and c.mapping() == "Enabled"  # nothing was touched


# ---- the breaker itself is stopped mid-episode ---------------------------------------------------
def test_an_aborted_episode_is_notified_and_turns_the_rejitter_off(closed: Circuit):
    # StopExecution cannot be caught inside the state machine: the module's execution-status rule
    # tells the operators that the mapping may still be disabled (promise 2), and its cleanup
    # state machine turns the rejitter off, which would otherwise re-send the queue forever.
    c = closed
    before = {e["executionArn"] for e in c.executions()}
    c.set_failing(True)
    sent = set(c.send(4, "abort"))
    execution = c.wait_opened(before)
    arn = execution["executionArn"]
    c.set_failing(False)
    # RejitterWindow is entered once EnableRejitter's UpdateEventSourceMapping has returned (the
    # EnableRejitter state is entered before its call: the mapping may still read Disabled then).
    wait_until(lambda: "RejitterWindow" in c.entered_states(arn), timeout=90, what="rejitter on")
    wait_until(
        lambda: c.rejitter_mapping() in ("Enabled", "Enabling"), timeout=5, what="rejitter Enabled"
    )

    c.sfn.stop_execution(executionArn=arn, cause="operator")

    # AWS (and the harness) report the stop at once, even mid-task
    assert c.sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"

    def notified() -> list[str]:
        c.collect()
        return [t for t in c.notifications if "ended ABORTED" in t]

    try:
        (text,) = wait_until(notified, timeout=30, what="the ABORTED notification")
    except AssertionError as exc:
        seen = harness_log(arn, c.out["state_machine_arn"], "cb-status", "Publish", limit=30)
        raise AssertionError(f"{exc}\nwhat the emulator saw:\n{seen}") from None
    assert arn in text
    assert f"{c.uuid} may still be DISABLED" in text
    wait_until(lambda: c.rejitter_mapping() == "Disabled", timeout=30, what="rejitter off")
    assert c.mapping() == "Disabled"  # what the notification warns about; reset() re-enables it
    c.lam.update_event_source_mapping(UUID=c.uuid, Enabled=True)
    wait_until(lambda: sent <= c.processed_bodies(), timeout=90, what="processed")


# ---- 9: plan-time refusal of bad inputs -------------------------------------------------------
BAD_INPUTS = {
    "alarm_period_seconds": (10, "alarm_period_seconds must be a multiple of 60"),
    "alarm_threshold_percent": (0, "alarm_threshold_percent"),
    "backoff_rate": (0.5, "backoff_rate"),
    "probe_max_attempts": (0, "probe_max_attempts"),
    "rejitter_max_delay_seconds": (901, "rejitter_max_delay_seconds"),
    "rejitter_timeout_seconds": (1, "rejitter_timeout_seconds"),
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


# ---- Operating a circuit: the sqs-circuit-breaker CLI ------------------------------------------
SAMPLES = Path(__file__).resolve().parents[2] / "build" / "cli-samples"


def save_sample(name: str, text: str) -> None:
    """Keep the CLI's real output of this run (build/cli-samples/) for the docs."""
    SAMPLES.mkdir(parents=True, exist_ok=True)
    (SAMPLES / f"{name}.txt").write_text(text)


def test_a_hold_ignores_the_alarm_until_an_operator_closes(closed: Circuit):
    c = closed
    before = {e["executionArn"] for e in c.executions()}
    done = c.cli("open", c.name, "--reason", "e2e deploy")
    assert done.returncode == 0, done.stdout + done.stderr
    assert c.mapping() == "Disabled"
    status = c.cli_status()
    assert status["state"] == "HELD OPEN" and status["hold"]["reason"] == "e2e deploy"
    save_sample("status-held", c.cli("status", c.name).stdout)
    assert c.cli("open", c.name, "--reason", "again").returncode == 3  # already held
    sent = set(c.send(5, "held"))

    # An alarm during the hold: its execution ends at once and the circuit stays open.
    c.open_via_alarm()

    def alarm_executions() -> list[dict]:
        return [
            e
            for e in c.executions()
            if e["executionArn"] not in before and not e["name"].startswith(("hold-", "close-"))
        ]

    for execution in wait_until(alarm_executions, timeout=60, what="the alarm's execution"):
        c.wait_finished(execution["executionArn"], timeout=60)
        assert c.outcome(execution["executionArn"]) == "alarm_ignored_held"
    assert c.mapping() == "Disabled"
    assert not (c.processed_bodies() & sent)  # nothing consumed while held
    c.collect()
    assert any("is HELD OPEN by" in t and "e2e deploy" in t for t in c.notifications)

    wait_until(
        lambda: not [e for e in c.executions("RUNNING") if e["name"].startswith("hold-")],
        timeout=60,
        what="the hold's execution ended",
    )
    # The hold's execution has ended; it keeps the lease (phase held): alarm executions end at once.
    lease = c.lease()
    assert lease["phase"] == "held" and lease["holder"].rsplit(":", 1)[-1].startswith("hold-")
    done = c.cli("close", c.name, "--reason", "deploy done")
    assert done.returncode == 0, done.stdout + done.stderr
    assert c.mapping() == "Enabled"
    marker = c.control()
    assert marker["mode"] == "auto" and marker["command"] == "close", marker
    assert "superseded" not in marker  # the lease decides who owns the circuit
    # the close command took the lease from the hold (then watches the alarm, then releases it)
    assert c.lease().get("holder") in (None, marker["execution"])
    wait_until(lambda: sent <= c.processed_bodies(), timeout=60, what="the held backlog processed")
    assert_nothing_lost(c, sent)
    refused = c.cli("close", c.name)
    assert refused.returncode == 3, refused.stdout + refused.stderr  # already closed


def test_a_timed_hold_closes_by_itself(closed: Circuit):
    """`open --for`: the hold's own execution waits until the end and starts a close command, which
    closes the circuit as `close` would; the CLI's process plays no part after the open."""
    c = closed
    done = c.cli("open", c.name, "--hold", "--for", "20s", "--reason", "e2e timed hold")
    assert done.returncode == 0, done.stdout + done.stderr
    assert c.mapping() == "Disabled"
    status = c.cli_status()
    assert status["state"] == "HELD OPEN" and status["hold"]["until"], status
    save_sample("status-timed-hold", c.cli("status", c.name).stdout)
    sent = set(c.send(3, "timed"))
    (hold,) = [e for e in c.executions("RUNNING") if e["name"].startswith("hold-")]

    def closed_by_itself() -> bool:
        marker = c.control()
        return c.mapping() == "Enabled" and marker.get("mode") == "auto"

    wait_until(closed_by_itself, timeout=120, what="the timed hold closed by itself")
    marker = c.control()
    assert marker["command"] == "close" and "timed hold ended" in marker["reason"], marker
    assert marker["execution"].rsplit(":", 1)[-1].startswith("close-")
    assert c.wait_finished(hold["executionArn"], timeout=60)["status"] == "SUCCEEDED"
    assert c.outcome(hold["executionArn"]) == "hold_ended"
    wait_until(lambda: sent <= c.processed_bodies(), timeout=60, what="the held backlog processed")
    assert_nothing_lost(c, sent)
    assert c.cli_status()["hold"] is None


def test_a_timed_holds_end_leaves_a_later_command_alone(closed: Circuit):
    """A later command took the circuit over during a timed hold: at the hold's end, the close it
    starts takes the lease from the hold alone, so it changes nothing, and the later hold stays."""
    c = closed
    done = c.cli("open", c.name, "--hold", "--for", "40s", "--reason", "e2e timed hold")
    assert done.returncode == 0, done.stdout + done.stderr
    (timed,) = [e for e in c.executions("RUNNING") if e["name"].startswith("hold-")]
    done = c.cli("close", c.name, "--reason", "closed early")
    assert done.returncode == 0, done.stdout + done.stderr
    done = c.cli("open", c.name, "--hold", "--reason", "e2e later hold")
    assert done.returncode == 0, done.stdout + done.stderr
    later = c.control()
    assert later["reason"] == "e2e later hold" and "until" not in later, later

    # the timed hold's close is named after the hold (a retried start is idempotent)
    name = "close-" + hashlib.sha1(timed["executionArn"].encode()).hexdigest()
    assert c.wait_finished(timed["executionArn"], timeout=120)["status"] == "SUCCEEDED"
    assert c.outcome(timed["executionArn"]) == "hold_ended"
    (close,) = wait_until(
        lambda: [e for e in c.executions() if e["name"].lower() == name],
        timeout=60,
        what="the timed hold's close",
    )
    assert c.wait_finished(close["executionArn"], timeout=60)["status"] == "SUCCEEDED"
    assert c.outcome(close["executionArn"]) == "superseded"
    assert c.mapping() == "Disabled" and c.control() == later
    assert c.lease()["holder"] == later["execution"]

    done = c.cli("close", c.name, "--reason", "e2e done")
    assert done.returncode == 0, done.stdout + done.stderr
    assert c.mapping() == "Enabled"


def test_redrive_gives_the_casualties_back_and_waits_for_a_closed_circuit(closed: Circuit):
    """`redrive`: the dead-letter queue's messages (an earlier outage's casualties) go back to the
    queue with SQS's message move task and are processed; refused while the circuit is open."""
    c = closed
    dlq_url = c.out["dlq_url"]

    def dlq_depth() -> int:
        attributes = c.sqs.get_queue_attributes(
            QueueUrl=dlq_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(v) for v in attributes.values())

    casualties = {f"casualty-{uuid.uuid4().hex[:8]}" for _ in range(5)}
    for body in casualties:
        c.sqs.send_message(QueueUrl=dlq_url, MessageBody=body)
    # The mapping disabled (by hand here): the circuit reads OPEN, and nothing moves.
    c.lam.update_event_source_mapping(UUID=c.uuid, Enabled=False)
    try:
        wait_until(lambda: c.mapping() == "Disabled", timeout=30, what="the mapping disabled")
        refused = c.cli("redrive", c.name)
    finally:
        c.lam.update_event_source_mapping(UUID=c.uuid, Enabled=True)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "is OPEN" in refused.stderr and "Close it first" in refused.stderr
    assert dlq_depth() == len(casualties)

    wait_until(lambda: c.mapping() == "Enabled", timeout=30, what="the mapping enabled")
    done = c.cli("redrive", c.name, "--rate", "5", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Redrive completed: {len(casualties)} message(s) moved back" in done.stdout
    save_sample("redrive", done.stdout)
    wait_until(
        lambda: casualties <= c.processed_bodies(), timeout=90, what="the casualties processed"
    )
    dlq = c.cli_status()["deadLetterQueue"]
    assert dlq["visible"] == 0, dlq
    assert (dlq["moveTask"]["status"], dlq["moveTask"]["moved"]) == ("COMPLETED", len(casualties))
    assert dlq_depth() == 0


def test_force_close_mid_episode_restores_the_settings_and_stops_the_rejitter(closed: Circuit):
    c = closed
    c.lam.update_event_source_mapping(UUID=c.uuid, ScalingConfig={"MaximumConcurrency": 7})
    try:
        before = {e["executionArn"] for e in c.executions()}
        c.set_failing(True)
        sent = set(c.send(6, "force"))
        arn = c.wait_opened(before)["executionArn"]
        wait_until(lambda: "unhealthy" in c.probe_outcomes(arn), timeout=60, what="a failed probe")
        status = c.cli_status()
        assert status["state"] in ("OPEN", "HALF-OPEN"), status
        save_sample("status-open", c.cli("status", c.name).stdout)
        assert status["episode"]["executionArn"] == arn
        # As if the episode had been interrupted during its half-open ramp: the mapping carries
        # the ramp's concurrency; the close restores the settings recorded at the open.
        c.lam.update_event_source_mapping(UUID=c.uuid, ScalingConfig={"MaximumConcurrency": 2})

        done = c.cli("close", c.name, "--reason", "e2e fixed by hand")
        c.set_failing(False)
        assert done.returncode == 0, done.stdout + done.stderr
        c.wait_finished(arn, timeout=60)
        assert c.outcome(arn) == "superseded"
        mapping = c.lam.get_event_source_mapping(UUID=c.uuid)
        assert mapping["State"] == "Enabled"
        assert mapping.get("ScalingConfig", {}).get("MaximumConcurrency") == 7
        assert c.rejitter_mapping() == "Disabled"
        wait_until(lambda: sent <= c.processed_bodies(), timeout=90, what="backlog processed")
        assert_nothing_lost(c, sent)
        c.collect()
        assert any("(reason: forced by" in t and "e2e fixed by hand" in t for t in c.notifications)

        history = c.cli("history", c.name, "--json")
        assert history.returncode == 0, history.stderr
        rows = {row["executionArn"]: row for row in json.loads(history.stdout)}
        assert rows[arn]["outcome"] == "superseded"
        assert any(row["kind"] == "close" for row in rows.values())
        save_sample("history", c.cli("history", c.name).stdout)
    finally:
        c.lam.update_event_source_mapping(UUID=c.uuid, ScalingConfig={})


def test_drill_plays_an_episode_on_a_healthy_function(closed: Circuit):
    c = closed
    # A marker edited by hand (superseded is not a list) must not keep the circuit from opening
    # or the episode from closing: the alarm's execution and every control check ignore it.
    c.write_control(reason="edited by hand", superseded="not-a-list")
    before = {e["executionArn"] for e in c.executions()}
    done = c.cli("drill", c.name, "--timeout", "150")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert c.mapping() == "Enabled"
    acting = c.acting_executions(before)
    assert acting, c.describe_new_executions(before)
    # the drill ends when the circuit is closed again (the episode may still watch the alarm)
    assert all("CloseCircuit" in c.entered_states(e["executionArn"]) for e in acting)
