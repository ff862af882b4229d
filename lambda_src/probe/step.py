"""The probe loop's check, the first part of its Probe task (the probe and the decision:
probe_task.py; the watch's look: look.py).

- Check (after the probe loop's wait): the execution's history size, the lease (is this execution
  still the episode's?), the mapping (re-enabled by someone else?), the open-circuit heartbeat.

What the loops' tasks share is here too: the task configs' fields, the history size, the lease, a
successor's claim from its predecessor, the circuit's metrics.

Each takes the state machine's whole state and return it changed (the task's ResultPath is "$"):
the decisions are loop.py's, the AWS calls and their failure modes are here.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.config import Config
from common import aws
from common.aws import AWS_ERRORS, error_message, error_record
from common.log import get_logger
from handover import continue_from_predecessor, with_hand_over
from lease import LeaseAt, LoopTask
from loop import (
    HAND_OVER,
    PROBE,
    UNREADABLE,
    CheckError,
    LoopStateError,
    after_check,
    needs_hand_over,
    ownership,
)

log = get_logger("sqs-circuit-breaker.probe")

# The tasks' reads: a few seconds each at most (in the Probe task, the check's time is taken from
# the probe's). SDK retries cover throttling; the task's retries the rest.
CHECK_CONFIG = Config(
    connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3}
)


def _config_fields(
    value: Any, where: str, texts: tuple[str, ...], counts: tuple[str, ...]
) -> dict[str, Any]:
    """The rendered settings of a task: non-empty strings and positive integers, by name."""
    if not isinstance(value, Mapping):
        raise LoopStateError(f"{where} must be an object, got {type(value).__name__}")
    fields: dict[str, Any] = {}
    for key in texts:
        text = value.get(key)
        if not isinstance(text, str) or not text:
            raise LoopStateError(f"{where}.{key} is required and must be a non-empty string")
        fields[key] = text
    for key in counts:
        number = value.get(key)
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise LoopStateError(f"{where}.{key} must be a positive integer, got {number!r}")
        fields[key] = number
    return fields


@dataclass(frozen=True)
class CheckConfig:
    execution: str
    handover_events: int
    lease_table: str
    circuit: str
    mapping_uuid: str
    metric_namespace: str

    @classmethod
    def parse(cls, value: Any) -> CheckConfig:
        f = _config_fields(
            value,
            "check",
            ("execution", "leaseTable", "circuit", "mappingUuid", "metricNamespace"),
            ("handoverEvents",),
        )
        return cls(
            execution=f["execution"],
            handover_events=f["handoverEvents"],
            lease_table=f["leaseTable"],
            circuit=f["circuit"],
            mapping_uuid=f["mappingUuid"],
            metric_namespace=f["metricNamespace"],
        )


@dataclass(frozen=True)
class MetricRef:
    """Where a task publishes the circuit's state (CircuitState): the open's and the re-open's
    `stateMetric` (1), the Probe's `recoveryMetric` (0.5: only when the recovery has a rejitter
    or a half-open ramp). Absent: nothing is published (a definition older than this code
    publishes it in a state of its own; a healthy probe without either closes at once)."""

    namespace: str
    circuit: str

    @classmethod
    def parse(cls, value: Any, where: str) -> MetricRef | None:
        if value is None:
            return None
        f = _config_fields(value, where, ("namespace", "circuit"), ())
        return cls(namespace=f["namespace"], circuit=f["circuit"])

    def publish_state(self, cloudwatch: Any, value: float) -> dict[str, str] | None:
        """CircuitState `value`; the error a state records when the put failed (best effort)."""
        return publish_circuit_metrics(
            cloudwatch, self.namespace, self.circuit, {"CircuitState": (value, "None")}
        )


def _state(event: Mapping[str, Any]) -> dict[str, Any]:
    state = event.get("state")
    if not isinstance(state, Mapping):
        raise LoopStateError("state (the state machine's state) must be an object")
    return dict(state)


def history_size(sfn: Any, execution: str) -> int:
    """The execution's newest history event id: its event count so far.

    Unreadable fails the task (retried, then the failure path: closed, notified). Handing over
    instead, as a count past the threshold does, would repeat in every successor at once when
    the count can never be read (no route to Step Functions from a VPC, a policy that denies it):
    a chain of executions without a wait."""
    try:
        page = sfn.get_execution_history(
            executionArn=execution, maxResults=1, reverseOrder=True, includeExecutionData=False
        )
        return int(page["events"][0]["id"])
    except (*AWS_ERRORS, KeyError, IndexError, TypeError, ValueError) as exc:
        raise CheckError(
            f"GetExecutionHistory of {execution} failed (the history quota cannot be watched):"
            f" {error_message(exc)}"
        ) from exc


def read_lease(dynamodb: Any, config: LeaseAt) -> Any:
    """The lease item as GetItem returns it (UNREADABLE when the read fails)."""
    try:
        return dynamodb.get_item(
            TableName=config.lease_table,
            Key={"circuit": {"S": config.circuit}},
            ConsistentRead=True,
        )
    except AWS_ERRORS as exc:
        log.warning("lease unreadable: the episode goes on", error=error_message(exc))
        return UNREADABLE


def mapping_state(lambda_client: Any, uuid: str) -> str:
    try:
        return str(lambda_client.get_event_source_mapping(UUID=uuid)["State"])
    except (*AWS_ERRORS, KeyError) as exc:
        raise CheckError(f"GetEventSourceMapping {uuid} failed: {error_message(exc)}") from exc


def publish_circuit_metrics(
    cloudwatch: Any, namespace: str, circuit: str, metrics: dict[str, tuple[float, str]]
) -> dict[str, str] | None:
    """Put the circuit's metrics ({name: (value, unit)}, dimension Circuit). Best effort: a
    failed put is logged, and returned as the error a state records."""
    dimensions = [{"Name": "Circuit", "Value": circuit}]
    try:
        cloudwatch.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {"MetricName": name, "Value": value, "Unit": unit, "Dimensions": dimensions}
                for name, (value, unit) in metrics.items()
            ],
        )
    except AWS_ERRORS as exc:
        log.warning("metric not published", metrics=list(metrics), error=error_message(exc))
        return error_record(exc)
    return None


def publish_heartbeat(cloudwatch: Any, config: CheckConfig, open_seconds: int) -> None:
    """CircuitState 1 and OpenSeconds (the dashboard's state line, the open-too-long alarm)."""
    publish_circuit_metrics(
        cloudwatch,
        config.metric_namespace,
        config.circuit,
        {"CircuitState": (1, "None"), "OpenSeconds": (open_seconds, "Seconds")},
    )


def loop_owner(
    state: Mapping[str, Any],
    config: LoopTask,
    sfn: Any,
    dynamodb: Any,
    *,
    lease_known: bool = False,
) -> tuple[int, Any, dict[str, Any] | None]:
    """The history size, the lease (read only when not handing over, and not `lease_known`: a
    conditional write of this task has just said whose it is), and the step that ends the loop
    when this execution must hand over or no longer owns the episode (else None).

    An unreadable size fails the task, and the failure path re-enables the mapping: only the
    episode's holder may take it, so the lease is read first, and a superseded execution ends as
    such (the size is then not needed: 0)."""
    try:
        events = history_size(sfn, config.execution)
    except CheckError:
        ended = ownership(
            state,
            history_events=None,
            handover_events=config.handover_events,
            lease=read_lease(dynamodb, config),
        )
        if ended is None:
            raise
        return 0, UNREADABLE, ended
    lease = (
        UNREADABLE
        if lease_known or needs_hand_over(events, config.handover_events)
        else read_lease(dynamodb, config)
    )
    owned = ownership(
        state, history_events=events, handover_events=config.handover_events, lease=lease
    )
    return events, lease, owned


def handing_over(owned: dict[str, Any], phase: str) -> dict[str, Any]:
    """A loop that ends: a hand-over also names its successor and writes its input."""
    if owned["step"]["next"] != HAND_OVER:
        return owned
    return with_hand_over(owned, phase, f"continued-{uuid.uuid4()}")


def run_check(
    state: Mapping[str, Any],
    config: CheckConfig,
    *,
    sfn: Any,
    dynamodb: Any,
    lambda_client: Any,
    cloudwatch: Any,
) -> dict[str, Any]:
    """Read only what the next decision needs, in order: history, lease, mapping (a successor
    first takes the lease from its predecessor)."""
    continued = "continuation" in state
    state, ended = continue_from_predecessor(state, config, dynamodb, "probe")
    if ended is not None:
        return ended
    events, lease, owned = loop_owner(state, config, sfn, dynamodb, lease_known=continued)
    if owned is not None:
        return handing_over(owned, "probe")
    current = mapping_state(lambda_client, config.mapping_uuid)
    new = after_check(
        state,
        history_events=events,
        handover_events=config.handover_events,
        lease=lease,
        mapping_state=current,
    )
    if new["step"]["next"] == PROBE:
        publish_heartbeat(cloudwatch, config, new["tracking"]["openSeconds"])
    log.info(
        "check finished",
        next=new["step"]["next"],
        historyEvents=events,
        mappingState=current,
        leaseRead=lease is not UNREADABLE,
    )
    return new


def check_handler(event: Mapping[str, Any]) -> dict[str, Any]:
    config = CheckConfig.parse(event.get("check"))
    return run_check(
        _state(event),
        config,
        sfn=aws.client("stepfunctions", None, CHECK_CONFIG),
        dynamodb=aws.client("dynamodb", None, CHECK_CONFIG),
        lambda_client=aws.client("lambda", None, CHECK_CONFIG),
        cloudwatch=aws.client("cloudwatch", None, CHECK_CONFIG),
    )
