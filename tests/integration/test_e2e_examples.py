"""End to end on the emulator: the examples users copy, applied as they are, one episode each.

- examples/existing-alarm: the circuit opens on the user's own alarm (a 10 s alarm on the
  function's high-resolution Errors metric), probes, closes when the function recovers.
- examples/fifo: the circuit opens on a FIFO queue, probes without hiding the failed message
  (its message group would be blocked), closes; every message processed, in order per group.

Each scenario counts messages by id: sent = processed (+ in the DLQ), lost = 0.
"""

from __future__ import annotations

import json
import uuid

import pytest
from stack import Stack
from support import drain, mapping_state, probe_outcomes, set_function_failing, wait_until

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

    def execution(self) -> str:
        """The execution that acted (passed single flight and opened the circuit)."""
        machine = self.out["state_machine_arn"]

        def acting() -> list[str]:
            return [
                e["executionArn"]
                for e in self.sfn.list_executions(stateMachineArn=machine)["executions"]
                if "DisableMapping" in self.states(e["executionArn"])
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
