"""Drive the applied examples/complete stack: the protected function, its messages, the circuit.

Shared by the end-to-end tests and `make demo`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from support import (
    REGION,
    drain,
    mapping_state,
    probe_outcomes,
    queue_depth,
    set_function_failing,
    wait_until,
)

CLI_README = Path(__file__).resolve().parents[2] / "cli" / "README.md"


def documented_policy(kind: str, values: dict[str, str]) -> dict:
    """The IAM policy cli/README.md documents for `kind` (operator, read-only), its ${...}
    placeholders filled in."""
    text = CLI_README.read_text()
    match = re.search(rf"<!-- iam-policy:{kind} -->\s*```json\n(.*?)```", text, re.S)
    assert match, f"cli/README.md documents no {kind} policy"
    filled = re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], match.group(1))
    return json.loads(filled)


EPISODE_TIMEOUT = 180


class Circuit:
    """The applied example and the handles the scenarios need."""

    def __init__(self, aws, outputs: dict, alarm_window: int) -> None:
        """`alarm_window`: the evaluation window of the stack's alarm, in seconds (period x
        evaluation periods)."""
        self.aws, self.out, self.alarm_window = aws, outputs, alarm_window
        self.endpoint = aws("sts").meta.endpoint_url
        self.name = outputs["state_machine_arn"].rsplit(":", 1)[1].removesuffix("-circuit-breaker")
        # IAM denials naming a resource or role that starts with this belong to its tests
        self.iam_owner = f"{self.name}-"
        self.ssm = aws("ssm")
        self.lam, self.sqs = aws("lambda"), aws("sqs")
        self.sfn, self.cw = aws("stepfunctions"), aws("cloudwatch")
        self.work = outputs["work_queue_url"]
        self.uuid = outputs["event_source_mapping_uuid"]
        self.machine = outputs["state_machine_arn"]
        self.processed: list[dict] = []
        self.notifications: list[str] = []
        self._principals: dict[str, dict[str, str]] = {}

    # -- the protected function
    def set_failing(self, failing: bool) -> None:
        set_function_failing(self.lam, self.out["function_name"], failing)

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

    def alarm(self) -> dict:
        return self.cw.describe_alarms(AlarmNames=[self.out["alarm_name"]])["MetricAlarms"][0]

    def alarm_arn(self) -> str:
        return self.alarm()["AlarmArn"]

    def rejitter_mapping(self) -> str:
        return mapping_state(self.lam, self.out["rejitter_event_source_mapping_uuid"])

    def acting_executions(self, since: set[str]) -> list[dict]:
        """Executions started after `since` that act (passed single flight), newest first. An
        alarm can start several executions (duplicates end without acting): never pick one by
        its position in the list."""
        return [
            e
            for e in self.executions()
            if e["executionArn"] not in since and self.acted(e["executionArn"])
        ]

    def describe_new_executions(self, since: set[str]) -> str:
        """Diagnostics: the executions started after `since`, how they ended, where they were."""
        alarm = self.cw.describe_alarms(AlarmNames=[self.out["alarm_name"]])["MetricAlarms"]
        lines = [f"alarm: {[(a['StateValue'], a['StateReason'][:80]) for a in alarm]}"]
        lines.append(f"control: {self.control()}")
        for e in self.executions():
            if e["executionArn"] in since:
                continue
            states = self.entered_states(e["executionArn"])
            outcome = self.outcome(e["executionArn"])
            lines.append(f"{e['name']} {e['status']} {outcome} {states[-8:]}")
        return "\n".join(lines)

    def errors_in_alarm_window(self) -> float:
        """Errors the function reported within the alarm's window, plus one period of margin for
        the clock-aligned evaluation (its own high-resolution metrics)."""
        now = datetime.now(tz=UTC)
        datapoints = self.cw.get_metric_statistics(
            Namespace=self.out["alarm_metric_namespace"],
            MetricName="Errors",
            Dimensions=[{"Name": "FunctionName", "Value": self.out["function_name"]}],
            StartTime=now - timedelta(seconds=self.alarm_window + 10),
            EndTime=now + timedelta(seconds=1),
            Period=10,
            Statistics=["Sum"],
        )["Datapoints"]
        return sum(d["Sum"] for d in datapoints)

    def executions(self, status: str | None = None) -> list[dict]:
        found = self.sfn.list_executions(stateMachineArn=self.machine)["executions"]
        return [e for e in found if status is None or e["status"] == status]

    def history(self, execution_arn: str) -> list[dict]:
        """Every event, page by page (AWS serves at most 1,000 per call; so does the harness)."""
        pages = self.sfn.get_paginator("get_execution_history").paginate(
            executionArn=execution_arn, PaginationConfig={"PageSize": 1000}
        )
        return [event for page in pages for event in page["events"]]

    def entered_states(self, execution_arn: str, events: list[dict] | None = None) -> list[str]:
        """State names in the order entered; pass `events` to reuse a history already read."""
        return [
            e["stateEnteredEventDetails"]["name"]
            for e in (events if events is not None else self.history(execution_arn))
            if "stateEnteredEventDetails" in e
        ]

    def probe_outcomes(self, execution_arn: str, events: list[dict] | None = None) -> list[str]:
        """Outcomes of the probe Lambda, in order; pass `events` to reuse a history."""
        return probe_outcomes(events if events is not None else self.history(execution_arn))

    def open_via_alarm(self) -> None:
        """Put the alarm in ALARM as a real error wave would (the event starts an execution)."""
        self.cw.set_alarm_state(
            AlarmName=self.out["alarm_name"], StateValue="ALARM", StateReason="e2e test"
        )

    def wait_opened(self, since: set[str]) -> dict:
        """The execution started after `since` that opened the circuit."""
        try:
            execution = wait_until(
                lambda: self.acting_executions(since),
                timeout=90,  # a loaded 2-core machine delays the alarm's evaluation
                what="an execution started by the alarm that acts",
            )[-1]
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.describe_new_executions(since)}") from None
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

    def wait_closed(self, execution_arn: str, timeout: float = EPISODE_TIMEOUT) -> str:
        """Wait until the episode has closed the circuit (the execution may still be watching the
        alarm after it); return the close reason from the CLOSED notification."""

        def closed() -> str | None:
            if "NotifyClosed" not in self.entered_states(execution_arn):
                return None
            self.collect()
            reasons = [
                t.split("(reason: ", 1)[1].split(")", 1)[0]
                for t in self.notifications
                if execution_arn in t and "is CLOSED (reason: " in t
            ]
            return reasons[-1] if reasons and self.mapping() == "Enabled" else None

        return wait_until(closed, timeout=timeout, what="the circuit closed", interval=1)

    def reset(
        self, *, quiet_alarm: bool = True, drain_seconds: float = 60, rejitter_by_hand: bool = False
    ) -> None:
        """A closed circuit, a healthy function, no execution running, empty queues.
        `quiet_alarm=False`: for a stack whose alarm the function's errors cannot trip (the fault
        runs set it by hand), do not wait for the errors to leave its window. `drain_seconds`:
        how long the work queue may take to empty (a message the probe could not hand back stays
        in flight for minutes). `rejitter_by_hand`: a rejitter a fault run left on is turned off
        here, as the notification tells an operator to (elsewhere it fails the reset)."""
        if self.failing():
            self.set_failing(False)
        # Test isolation: the errors of the previous test must leave the alarm's evaluation
        # window first, or the alarm trips again right after this reset (measured on the
        # function's own metrics, whoever fixed it: a test or a terraform apply).
        if quiet_alarm:
            wait_until(
                lambda: self.errors_in_alarm_window() == 0,
                timeout=60,
                what="the alarm's window free of errors",
                interval=1,
            )
        for execution in self.executions("RUNNING"):
            self.sfn.stop_execution(executionArn=execution["executionArn"], cause="e2e reset")
        control = self.control()
        # a test left a hold, or a malformed marker: back to automatic, with no lease held (as a
        # close command leaves them; the stopped executions would otherwise hold it)
        if control.get("mode") != "auto":
            self.write_control()
        self.aws("dynamodb").delete_item(
            TableName=self.out["lease_table_name"], Key={"circuit": {"S": self.name}}
        )
        if self.mapping() in ("Disabled", "Disabling"):
            self.lam.update_event_source_mapping(UUID=self.uuid, Enabled=True)
        wait_until(lambda: self.mapping() == "Enabled", timeout=30, what="mapping Enabled")
        if self.out.get("rejitter_event_source_mapping_uuid"):  # null without the rejitter
            try:
                wait_until(
                    lambda: self.rejitter_mapping() == "Disabled",
                    timeout=30,
                    what="rejitter Disabled",
                )
            except AssertionError:
                if not rejitter_by_hand:
                    raise
                # left on by an episode whose cleanup failed (a fault run; the notification
                # said "disable it by hand"): as the operator would
                self.lam.update_event_source_mapping(
                    UUID=self.out["rejitter_event_source_mapping_uuid"], Enabled=False
                )
                wait_until(
                    lambda: self.rejitter_mapping() == "Disabled",
                    timeout=30,
                    what="rejitter Disabled by hand",
                )
        wait_until(
            lambda: queue_depth(self.sqs, self.work) == (0, 0),
            timeout=drain_seconds,
            what="drained",
        )
        self.cw.set_alarm_state(
            AlarmName=self.out["alarm_name"], StateValue="OK", StateReason="e2e reset"
        )
        self.collect()
        self.processed.clear()
        self.notifications.clear()

    # -- the operator CLI (cli/), run as an operator runs it: a process with the standard
    # AWS_ENDPOINT_URL and credentials chain
    # -- the operator's principal: exactly the policies cli/README.md documents
    def principal(self, kind: str) -> dict[str, str]:
        """Credentials of a role that holds the documented `kind` policy ("operator" or
        "read-only") of cli/README.md for this circuit, created on first use; the harness
        enforces IAM on every call made with them."""
        if kind not in self._principals:
            iam, sts = self.aws("iam"), self.aws("sts")
            role = f"{self.name}-cli-{kind}"
            account = sts.get_caller_identity()["Account"]
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
            with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
                iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
            queue_arn = self.sqs.get_queue_attributes(
                QueueUrl=self.work, AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
            values = {
                "Region": REGION,
                "Account": account,
                "Circuit": self.name,
                "MappingUuid": self.uuid,
                # without the rejitter the documented ARN is dropped: the mapping's own stands in
                "RejitterMappingUuid": self.out.get("rejitter_event_source_mapping_uuid")
                or self.uuid,
                "QueueArn": queue_arn,
                # without a dead-letter queue the documented statement is dropped: the queue's
                # own ARN stands in
                "DeadLetterQueueArn": self.sqs.get_queue_attributes(
                    QueueUrl=self.out["dlq_url"], AttributeNames=["QueueArn"]
                )["Attributes"]["QueueArn"]
                if self.out.get("dlq_url")
                else queue_arn,
                "AlarmName": self.out["alarm_name"],
            }
            iam.put_role_policy(
                RoleName=role,
                PolicyName="documented",
                PolicyDocument=json.dumps(documented_policy(kind, values)),
            )
            credentials = sts.assume_role(
                RoleArn=f"arn:aws:iam::{account}:role/{role}",
                RoleSessionName=f"e2e-{kind}",
                DurationSeconds=43200,
            )["Credentials"]
            self._principals[kind] = {
                "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
                "AWS_SESSION_TOKEN": credentials["SessionToken"],
            }
        return self._principals[kind]

    def cli(
        self, *args: str, timeout: float = 300, as_: str = "operator"
    ) -> subprocess.CompletedProcess:
        """Run the CLI as an operator runs it; `status` and `history` run as the read-only
        principal unless `as_` says otherwise."""
        if args and args[0] in ("status", "history") and as_ == "operator":
            as_ = "read-only"
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            **self.principal(as_),
            "COLUMNS": "120",
        }
        return subprocess.run(
            [sys.executable, "-m", "sqs_circuit_breaker", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def cli_status(self) -> dict:
        done = self.cli("status", self.name, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def write_control(self, **fields) -> None:
        """Write the control marker as a test (an operator's hand edit, or a reset) would."""
        record = {
            "mode": "auto",
            "command": None,
            "reason": "e2e reset",
            "requestedBy": "e2e",
            "at": "1970-01-01T00:00:00Z",
            "execution": None,
            **fields,
        }
        self.ssm.put_parameter(
            Name=self.out["control_parameter_name"],
            Value=json.dumps(record),
            Type="String",
            Overwrite=True,
        )

    def control(self) -> dict:
        value = self.ssm.get_parameter(Name=self.out["control_parameter_name"])["Parameter"][
            "Value"
        ]
        return json.loads(value)

    def lease(self) -> dict[str, str]:
        """The episode lease (holder, phase, since, closedAt), {} when no execution holds it."""
        item = (
            self.aws("dynamodb")
            .get_item(
                TableName=self.out["lease_table_name"],
                Key={"circuit": {"S": self.name}},
                ConsistentRead=True,
            )
            .get("Item", {})
        )
        return {key: value["S"] for key, value in item.items() if "S" in value}

    def claim(self, execution_arn: str, events: list[dict] | None = None) -> dict:
        """What the execution's last ClaimEpisode found ($.claim as it left the state; {} before
        it has run): readable while the execution runs. Pass `events` to reuse a history."""
        outputs = [
            e["stateExitedEventDetails"].get("output")
            for e in (events if events is not None else self.history(execution_arn))
            if e.get("stateExitedEventDetails", {}).get("name") == "ClaimEpisode"
        ]
        return json.loads(outputs[-1]).get("claim", {}) if outputs and outputs[-1] else {}

    def acted(self, execution_arn: str, events: list[dict] | None = None) -> bool:
        """The execution passed single flight: its ClaimEpisode claimed the episode (and read the
        mapping in the same task). Duplicates, ignored alarms and superseded commands did not."""
        return self.claim(execution_arn, events).get("outcome") == "claimed"

    def outcome(self, execution_arn: str) -> str | None:
        output = self.sfn.describe_execution(executionArn=execution_arn).get("output")
        return json.loads(output).get("outcome") if output else None

    def failing(self) -> bool:
        fn = self.out["function_name"]
        env = self.lam.get_function_configuration(FunctionName=fn)["Environment"]["Variables"]
        return env.get("SHOULD_ERROR") == "true"
