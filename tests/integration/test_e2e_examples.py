"""End to end on the emulator: the examples users copy, applied as they are, one episode each.

- examples/existing-alarm: the circuit opens on the user's own alarm (a 10 s alarm on the
  function's high-resolution Errors metric), probes, closes when the function recovers.
- examples/fifo: the circuit opens on a FIFO queue, probes without hiding the failed message
  (its message group would be blocked), closes; every message processed, in order per group.
- examples/detection: the module's own alarm (AWS/Lambda, 60 s periods) trips on an outage that
  Lambda's Errors never see (every record reported in batchItemFailures) and on one of slow
  calls; each circuit closes when the function recovers.

Each scenario counts messages by id: sent = processed (+ in the DLQ), lost = 0.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

import pytest
from stack import Stack
from support import (
    drain,
    mapping_state,
    probe_outcomes,
    probe_results,
    set_function_failing,
    set_function_variables,
    wait_until,
)

pytestmark = pytest.mark.slow

TIMINGS = {
    "record_processed": True,
    "function_timeout_seconds": 3,
    "queue_visibility_timeout_seconds": 4,
    "open_wait_seconds": 2,
    "backoff_initial_seconds": 2,
    "backoff_max_seconds": 4,
}
EPISODE_TIMEOUT = 180


class Episode:
    """The handles of one applied example."""

    def __init__(self, aws, outputs: dict) -> None:
        self.out = outputs
        name = outputs["state_machine_arn"].rsplit(":", 1)[1].removesuffix("-circuit-breaker")
        self.iam_owner = f"{name}-"  # IAM denials naming its resources belong to its tests
        self.lam, self.sqs, self.sfn = aws("lambda"), aws("sqs"), aws("stepfunctions")
        self.cw = aws("cloudwatch")
        self.processed: list[dict] = []

    def set_failing(self, failing: bool) -> None:
        set_function_failing(self.lam, self.out["function_name"], failing)

    def set_variables(self, **variables: str) -> None:
        set_function_variables(self.lam, self.out["function_name"], **variables)

    def alarm(self) -> dict:
        return self.cw.describe_alarms(AlarmNames=[self.out["alarm_name"]])["MetricAlarms"][0]

    def function_errors(self) -> float:
        """The function's Errors (AWS/Lambda, Sum) over the last ten minutes."""
        end = datetime.now(tz=UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        points = self.cw.get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName="Errors",
            Dimensions=[{"Name": "FunctionName", "Value": self.out["function_name"]}],
            StartTime=end - timedelta(minutes=10),
            EndTime=end,
            Period=600,
            Statistics=["Sum"],
        )["Datapoints"]
        return sum(p["Sum"] for p in points)

    def send(self, prefix: str, count: int, **kwargs) -> list[str]:
        ids = [f"{prefix}-{i:02d}-{uuid.uuid4().hex[:6]}" for i in range(count)]
        for body in ids:
            self.sqs.send_message(QueueUrl=self.out["work_queue_url"], MessageBody=body, **kwargs)
        return ids

    def processed_bodies(self) -> set[str]:
        self.processed += [
            json.loads(m["Body"])
            for m in drain(self.sqs, self.out["processed_queue_url"], seconds=1)
        ]
        return {p["body"] for p in self.processed}

    def mapping(self) -> str:
        return mapping_state(self.lam, self.out["event_source_mapping_uuid"])

    def execution(self, exclude: Collection[str] = ()) -> str:
        """The execution that acted (passed single flight and opened the circuit), leaving out
        the `exclude`d (earlier episodes')."""
        machine = self.out["state_machine_arn"]

        def acting() -> list[str]:
            return [
                e["executionArn"]
                for e in self.sfn.list_executions(stateMachineArn=machine)["executions"]
                if e["executionArn"] not in exclude
                and "DisableMapping" in self.states(e["executionArn"])
            ]

        return wait_until(acting, timeout=90, what="an execution that opened the circuit")[-1]

    def history(self, arn: str) -> list[dict]:
        pages = self.sfn.get_paginator("get_execution_history").paginate(
            executionArn=arn, PaginationConfig={"PageSize": 1000}
        )
        return [event for page in pages for event in page["events"]]

    def states(self, arn: str) -> list[str]:
        return [
            e["stateEnteredEventDetails"]["name"]
            for e in self.history(arn)
            if "stateEnteredEventDetails" in e
        ]

    def probe_outcomes(self, arn: str) -> list[str]:
        return probe_outcomes(self.history(arn))

    def wait_closed(self, arn: str) -> None:
        wait_until(
            lambda: "CloseCircuit" in self.states(arn) and self.mapping() == "Enabled",
            timeout=EPISODE_TIMEOUT,
            what="the circuit closed",
            interval=1,
        )


@pytest.fixture(scope="module")
def own_alarm(endpoint, aws, emulator_is_ours):
    stack = Stack("existing-alarm", "e2e-existing-alarm", endpoint)
    outputs = stack.apply(
        {
            **TIMINGS,
            "name": "own-e2e",
            "alarm_period_seconds": 10,
            "alarm_evaluation_periods": 2,
            "alarm_errors_threshold": 2,
        }
    )
    yield Episode(aws, outputs)
    stack.release(emulator_is_ours)


@pytest.fixture(scope="module")
def fifo(endpoint, aws, emulator_is_ours):
    stack = Stack("fifo", "fifo-e2e", endpoint)
    yield Episode(aws, stack.apply({**TIMINGS, "name": "fifo-e2e"}))
    stack.release(emulator_is_ours)


def test_the_users_own_alarm_opens_the_circuit_and_it_closes_on_recovery(own_alarm: Episode):
    e = own_alarm
    e.set_failing(True)
    sent = set(e.send("own", 12))

    wait_until(lambda: e.mapping() == "Disabled", timeout=90, what="the circuit opened")
    arn = e.execution()
    alarm = e.cw.describe_alarms(AlarmNames=[e.out["alarm_name"]])["MetricAlarms"][0]
    assert alarm["AlarmName"] == "own-e2e-errors"  # the example's alarm, not the module's
    started_by = json.loads(e.sfn.describe_execution(executionArn=arn)["input"])
    assert started_by["resources"] == [alarm["AlarmArn"]]
    wait_until(lambda: "unhealthy" in e.probe_outcomes(arn), timeout=60, what="a failed probe")

    e.set_failing(False)
    e.wait_closed(arn)

    assert e.probe_outcomes(arn)[-1] == "healthy"
    wait_until(lambda: sent <= e.processed_bodies(), timeout=90, what="every message processed")
    assert not {m["Body"] for m in drain(e.sqs, e.out["dlq_url"], seconds=1)} & sent


def test_a_fifo_circuit_opens_and_closes_and_keeps_each_group_in_order(fifo: Episode):
    e = fifo
    assert set(e.out["backoff_schedule"]["visibility"]) == {0}  # a failed message stays visible
    e.set_failing(True)
    groups = {group: e.send(group, 4, MessageGroupId=group) for group in ("group-a", "group-b")}
    sent = {body for bodies in groups.values() for body in bodies}
    # The module's alarm (AWS/Lambda, 60 s periods) is proven in test_harness_alarms.py; here
    # it is set to ALARM as a failure wave would, and its EventBridge event starts the episode.
    e.cw.set_alarm_state(AlarmName=e.out["alarm_name"], StateValue="ALARM", StateReason="e2e")

    wait_until(lambda: e.mapping() == "Disabled", timeout=60, what="the circuit opened")
    arn = e.execution()
    wait_until(lambda: "unhealthy" in e.probe_outcomes(arn), timeout=60, what="a failed probe")

    e.set_failing(False)
    e.wait_closed(arn)

    assert "healthy" in e.probe_outcomes(arn)
    wait_until(lambda: sent <= e.processed_bodies(), timeout=90, what="every message processed")
    assert not {m["Body"] for m in drain(e.sqs, e.out["dlq_url"], seconds=1)} & sent
    for group, bodies in groups.items():
        seen = sorted(
            (p for p in e.processed if p["body"] in bodies), key=lambda p: p["processedAt"]
        )
        order = list(dict.fromkeys(p["body"] for p in seen))  # first processing of each body
        assert order == bodies, f"{group} processed out of order: {order}"


@pytest.fixture(scope="module")
def detection(endpoint, aws, emulator_is_ours):
    stack = Stack("detection", "detection-e2e", endpoint)
    outputs = stack.apply(
        {
            **TIMINGS,
            "name": "det-e2e",
            # The module's alarm has 60 s periods (Lambda's resolution): detection takes one to
            # two minutes. A 20 s visibility keeps a failing message below maxReceiveCount (15).
            "queue_visibility_timeout_seconds": 20,
            "batch_size": 1,  # one invocation per message: enough calls for the volume floor
            "alarm_evaluation_periods": 1,
            "alarm_min_invocations": 5,
            "slow_call_duration_threshold_ms": 1000,
            # The watch after a close covers the alarm's one-minute window (the module's default,
            # 180 s, adds a minute for Lambda's publishing delay, which the harness does not
            # have): the next test waits for the previous episode's watch to end.
            "alarm_watch_seconds": 75,
        }
    )
    yield Episode(aws, outputs)
    stack.release(emulator_is_ours)


DETECTION_TIMEOUT = 200  # a complete minute of failures, then the alarm's next evaluation


def close_on_recovery(e: Episode, arn: str, sent: set[str]) -> None:
    """The circuit closes once the function is fixed, and every message is processed."""
    e.wait_closed(arn)
    assert e.probe_outcomes(arn)[-1] == "healthy"
    wait_until(lambda: sent <= e.processed_bodies(), timeout=90, what="every message processed")
    assert not {m["Body"] for m in drain(e.sqs, e.out["dlq_url"], seconds=1)} & sent


def test_all_failed_partial_batches_open_the_circuit_though_lambda_counts_no_error(
    detection: Episode,
):
    e = detection
    e.set_variables(REPORT_ALL_FAILED="true")
    sent = set(e.send("partial", 10))

    wait_until(
        lambda: e.mapping() == "Disabled", timeout=DETECTION_TIMEOUT, what="the circuit opened"
    )
    arn = e.execution()
    alarm = e.alarm()
    assert json.loads(e.sfn.describe_execution(executionArn=arn)["input"])["resources"] == [
        alarm["AlarmArn"]
    ]
    assert e.function_errors() == 0  # the error rate alone would never have tripped
    wait_until(lambda: "unhealthy" in e.probe_outcomes(arn), timeout=60, what="a failed probe")

    e.set_variables(REPORT_ALL_FAILED="false")
    close_on_recovery(e, arn, sent)


def test_slow_calls_open_the_circuit_and_a_slow_probe_keeps_it_open(detection: Episode):
    e = detection
    # The previous episode is over: its watch after the close has ended (a wave within the watch
    # reopens that execution's circuit instead of starting one) and the alarm is OK again.
    machine = e.out["state_machine_arn"]
    wait_until(
        lambda: (
            not e.sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]
            and e.alarm()["StateValue"] == "OK"
        ),
        timeout=300,
        what="no episode running and the alarm OK",
        interval=5,
    )
    before = {
        x["executionArn"] for x in e.sfn.list_executions(stateMachineArn=machine)["executions"]
    }
    e.set_variables(DELAY_MS="1500")  # every call succeeds, in 1.5 s: slower than 1000 ms
    sent: set[str] = set()
    stop = threading.Event()

    def traffic() -> None:  # a steady flow, as a real producer's
        while not stop.is_set():
            sent.update(e.send("slow", 1))
            stop.wait(2)

    producer = threading.Thread(target=traffic, daemon=True)
    producer.start()
    try:
        wait_until(
            lambda: e.mapping() == "Disabled", timeout=DETECTION_TIMEOUT, what="the circuit opened"
        )
    finally:
        stop.set()
        producer.join(timeout=10)
    arn = e.execution(exclude=before)  # a new episode, started by the slow calls' alarm
    assert e.function_errors() == 0  # no error at all: the calls were only slow
    wait_until(
        lambda: any(
            r.get("outcome") == "unhealthy" and "slow-call threshold" in r.get("reason", "")
            for r in probe_results(e.history(arn))
        ),
        timeout=60,
        what="a probe judged slow (healthy answer, too late)",
    )

    e.set_variables(DELAY_MS="0")
    close_on_recovery(e, arn, sent)
