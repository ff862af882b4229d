"""AWS reads and writes, with clients created once per command run."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from . import __version__
from .catalogue import catalogue
from .derive import (
    StatusInputs,
    build_status,
    dead_letter_arn,
    dead_letter_view,
    oldest_episode,
    queue_url_of,
)
from .discovery import Circuit, circuit_from_descriptor, circuit_name, descriptor_parameter
from .errors import CliError, ExitCode

HISTORY_EVENTS = 25
QUEUE_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


@dataclass
class Aws:
    """The clients of one command run (standard credential chain, AWS_ENDPOINT_URL honoured)."""

    session: boto3.Session
    sfn: Any
    ssm: Any
    lambda_: Any
    sqs: Any
    cloudwatch: Any
    sts: Any
    _caller: dict[str, Any] = field(default_factory=dict)
    # The circuit's state machine key (customer managed), once DescribeStateMachine has read it:
    # named in the message of a later KMS error (StartExecution, GetExecutionHistory, ...).
    kms_key: str | None = None

    @classmethod
    def create(cls, profile: str | None = None, region: str | None = None) -> Aws:
        # AWS_REGION (as the AWS CLI v2 and the other SDKs read it) before the profile's region.
        region = region or os.environ.get("AWS_REGION") or None
        session = boto3.Session(profile_name=profile, region_name=region)
        if not session.region_name:
            raise CliError("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION) or pass --region")
        config = Config(
            retries={"mode": "standard", "max_attempts": 5},
            user_agent_extra=f"sqs-circuit-breaker-cli/{__version__}",
        )

        def client(service: str) -> Any:
            return session.client(service, config=config)  # type: ignore[call-overload]

        return cls(
            session=session,
            sfn=client("stepfunctions"),
            ssm=client("ssm"),
            lambda_=client("lambda"),
            sqs=client("sqs"),
            cloudwatch=client("cloudwatch"),
            sts=client("sts"),
        )

    def caller(self) -> dict[str, Any]:
        if not self._caller:
            self._caller.update(self.sts.get_caller_identity())
        return self._caller


def find_circuit(aws: Aws, name_or_arn: str) -> Circuit:
    """The circuit NAME (or with the state machine ARN NAME-circuit-breaker).

    Its resources come from its published descriptor; the phases of its states from its
    definition's catalogue.
    """
    name = circuit_name(name_or_arn)
    parameter = descriptor_parameter(name)
    try:
        text = aws.ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
            raise CliError(
                f"no such circuit: {name} (no descriptor {parameter} in {aws.session.region_name};"
                " check the name, the region and the account. Circuits created before the module"
                " published descriptors get one when the module is applied again)",
                ExitCode.NOT_FOUND,
            ) from exc
        raise
    circuit = circuit_from_descriptor(name, text)
    try:
        machine = aws.sfn.describe_state_machine(stateMachineArn=circuit.state_machine_arn)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "StateMachineDoesNotExist":
            raise CliError(
                f"circuit {name}: its descriptor names state machine {circuit.state_machine_arn},"
                " which does not exist (a circuit destroyed part-way? apply the module again)",
                ExitCode.NOT_FOUND,
            ) from exc
        raise
    key = machine.get("encryptionConfiguration", {}).get("kmsKeyId")
    aws.kms_key = key if isinstance(key, str) and key else None
    try:
        phases = catalogue(machine["definition"])
    except ValueError as exc:
        arn = circuit.state_machine_arn
        raise CliError(f"state machine {arn} has no valid definition") from exc
    return replace(circuit, phases=phases)


def read_json_parameter(aws: Aws, name: str) -> dict[str, Any] | None:
    """A JSON parameter's value; None when the parameter does not exist."""
    try:
        value = aws.ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return None
        raise
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise CliError(f"parameter {name} does not hold JSON: {value[:200]!r}") from exc
    return parsed if isinstance(parsed, dict) else None


def read_mapping(aws: Aws, uuid: str) -> dict[str, Any]:
    return dict(aws.lambda_.get_event_source_mapping(UUID=uuid))


def running_executions(aws: Aws, arn: str) -> list[dict[str, Any]]:
    pages = aws.sfn.get_paginator("list_executions").paginate(
        stateMachineArn=arn, statusFilter="RUNNING"
    )
    return [e for page in pages for e in page["executions"]]


def recent_events(aws: Aws, execution_arn: str) -> list[dict[str, Any]]:
    """The newest history events of an execution, newest first."""
    return list(
        aws.sfn.get_execution_history(
            executionArn=execution_arn, reverseOrder=True, maxResults=HISTORY_EVENTS
        )["events"]
    )


def oldest_message_age(aws: Aws, queue_name: str, now: datetime) -> float | None:
    """ApproximateAgeOfOldestMessage, Maximum over the last 5 minutes; None without data."""
    points = aws.cloudwatch.get_metric_statistics(
        Namespace="AWS/SQS",
        MetricName="ApproximateAgeOfOldestMessage",
        Dimensions=[{"Name": "QueueName", "Value": queue_name}],
        StartTime=now - timedelta(minutes=5),
        EndTime=now,
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    return max(points, key=lambda p: p["Timestamp"])["Maximum"] if points else None


def read_alarm(aws: Aws, name: str) -> dict[str, Any] | None:
    found = aws.cloudwatch.describe_alarms(
        AlarmNames=[name], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
    )
    alarms = found.get("MetricAlarms", []) + found.get("CompositeAlarms", [])
    return alarms[0] if alarms else None


def newest_move_task(aws: Aws, dlq_arn: str) -> dict[str, Any] | None:
    """The newest message move task out of a dead-letter queue (ListMessageMoveTasks), or None."""
    tasks = aws.sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=1).get("Results", [])
    return dict(tasks[0]) if tasks else None


def read_dead_letter(aws: Aws, circuit: Circuit, redrive_policy: Any) -> dict[str, Any] | None:
    """The queue's dead-letter queue: depth and newest move task; None without a redrive policy.

    Best effort: a principal that may not read the dead-letter queue (a policy from before
    `redrive`) still gets its status, with the error in place of the counts.
    """
    arn = dead_letter_arn(redrive_policy)
    if arn is None:
        return None
    url = queue_url_of(arn, circuit.queue_url)
    try:
        attributes = aws.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        ).get("Attributes", {})
        return dead_letter_view(arn, url, attributes, newest_move_task(aws, arn))
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return {"arn": arn, "url": url, "error": f"{error.get('Code')}: {error.get('Message')}"}


def read_status(aws: Aws, circuit: Circuit, now: datetime) -> dict[str, Any]:
    """The status document of a circuit (see derive.build_status)."""
    running = running_executions(aws, circuit.state_machine_arn)
    episode = oldest_episode(running)
    queue_attributes = aws.sqs.get_queue_attributes(
        QueueUrl=circuit.queue_url, AttributeNames=[*QUEUE_COUNTS, "RedrivePolicy"]
    ).get("Attributes", {})
    inputs = StatusInputs(
        circuit=circuit,
        control=read_json_parameter(aws, circuit.control_parameter),
        settings=read_json_parameter(aws, circuit.settings_parameter),
        mapping=read_mapping(aws, circuit.mapping_uuid),
        rejitter_mapping=read_mapping(aws, circuit.rejitter_mapping_uuid)
        if circuit.rejitter_mapping_uuid
        else None,
        queue_attributes=queue_attributes,
        oldest_message_age=oldest_message_age(aws, circuit.queue_name, now),
        alarm=read_alarm(aws, circuit.alarm_name),
        running=running,
        episode_events=recent_events(aws, episode["executionArn"]) if episode else [],
        dead_letter=read_dead_letter(aws, circuit, queue_attributes.get("RedrivePolicy")),
    )
    return build_status(inputs, now)
