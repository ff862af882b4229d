"""The probe loop's two tasks, each one Lambda invocation of this function.

- Check (after the wait): the execution's history size, the lease (is this execution still the
  episode's?), the mapping (re-enabled by someone else?), the open-circuit heartbeat metric.
- Probe: the half-open test (probe.run), then the decision on its verdict (loop.after_probe).

Both take the state machine's whole state and return it changed (the task's ResultPath is "$"):
the decisions are loop.py's, the AWS calls and their failure modes are here.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from common import aws
from common.aws import error_message
from common.log import get_logger
from loop import (
    PROBE,
    UNREADABLE,
    LoopConfig,
    LoopStateError,
    after_check,
    after_probe,
    before_probe,
    is_superseded,
    needs_hand_over,
)

log = get_logger("sqs-circuit-breaker.probe")

# The check's reads: a few seconds each at most (the function's time is the probe's; the check
# runs in an invocation of its own). SDK retries cover throttling; the task's retries the rest.
CHECK_CONFIG = Config(
    connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3}
)

_AWS_ERRORS = (ClientError, BotoCoreError)


class CheckError(RuntimeError):
    """The check could not read the history size or the mapping: the task fails (retried, then
    the failure path)."""


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
        if not isinstance(value, Mapping):
            raise LoopStateError(f"check must be an object, got {type(value).__name__}")
        texts: dict[str, str] = {}
        for key in ("execution", "leaseTable", "circuit", "mappingUuid", "metricNamespace"):
            text = value.get(key)
            if not isinstance(text, str) or not text:
                raise LoopStateError(f"check.{key} is required and must be a non-empty string")
            texts[key] = text
        handover = value.get("handoverEvents")
        if isinstance(handover, bool) or not isinstance(handover, int) or handover < 1:
            raise LoopStateError(
                f"check.handoverEvents must be a positive integer, got {handover!r}"
            )
        return cls(
            execution=texts["execution"],
            handover_events=handover,
            lease_table=texts["leaseTable"],
            circuit=texts["circuit"],
            mapping_uuid=texts["mappingUuid"],
            metric_namespace=texts["metricNamespace"],
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
    except (*_AWS_ERRORS, KeyError, IndexError, TypeError, ValueError) as exc:
        raise CheckError(
            f"GetExecutionHistory of {execution} failed (the history quota cannot be watched):"
            f" {error_message(exc)}"
        ) from exc


def read_lease(dynamodb: Any, config: CheckConfig) -> Any:
    """The lease item as GetItem returns it (UNREADABLE when the read fails)."""
    try:
        return dynamodb.get_item(
            TableName=config.lease_table,
            Key={"circuit": {"S": config.circuit}},
            ConsistentRead=True,
        )
    except _AWS_ERRORS as exc:
        log.warning("lease unreadable: the episode goes on", error=error_message(exc))
        return UNREADABLE


def mapping_state(lambda_client: Any, uuid: str) -> str:
    try:
        return str(lambda_client.get_event_source_mapping(UUID=uuid)["State"])
    except (*_AWS_ERRORS, KeyError) as exc:
        raise CheckError(f"GetEventSourceMapping {uuid} failed: {error_message(exc)}") from exc


def publish_heartbeat(cloudwatch: Any, config: CheckConfig, open_seconds: int) -> None:
    """CircuitState 1 and OpenSeconds (the dashboard's state line, the open-too-long alarm).
    Best effort: a failed put is logged."""
    dimensions = [{"Name": "Circuit", "Value": config.circuit}]
    try:
        cloudwatch.put_metric_data(
            Namespace=config.metric_namespace,
            MetricData=[
                {
                    "MetricName": "CircuitState",
                    "Value": 1,
                    "Unit": "None",
                    "Dimensions": dimensions,
                },
                {
                    "MetricName": "OpenSeconds",
                    "Value": open_seconds,
                    "Unit": "Seconds",
                    "Dimensions": dimensions,
                },
            ],
        )
    except _AWS_ERRORS as exc:
        log.warning("heartbeat metric not published", error=error_message(exc))


def run_check(
    state: Mapping[str, Any],
    config: CheckConfig,
    *,
    sfn: Any,
    dynamodb: Any,
    lambda_client: Any,
    cloudwatch: Any,
) -> dict[str, Any]:
    """Read only what the next decision needs, in order: history, lease, mapping."""
    events = history_size(sfn, config.execution)
    common = {"history_events": events, "handover_events": config.handover_events}
    if needs_hand_over(events, config.handover_events):
        return after_check(state, **common)
    lease = read_lease(dynamodb, config)
    if is_superseded(lease, str((state.get("started") or {}).get("execution", ""))):
        return after_check(state, lease=lease, **common)
    current = mapping_state(lambda_client, config.mapping_uuid)
    new = after_check(state, lease=lease, mapping_state=current, **common)
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


def probe_request(state: Mapping[str, Any], request: Any) -> dict[str, Any]:
    """The probe's input: the rendered request, with what this attempt adds (the failure
    visibility, and the attempt the transition events name)."""
    if not isinstance(request, Mapping):
        raise LoopStateError("request (the probe's input) must be an object")
    episode = state["episode"]
    new = dict(request)
    new["failureVisibilityTimeout"] = episode["failureVisibilityTimeout"]
    events = new.get("transitionEvents")
    if isinstance(events, Mapping):
        new["transitionEvents"] = {**events, "attempt": int(episode.get("attempt", 0)) + 1}
    return new


def probe_step(
    event: Mapping[str, Any],
    probe: Callable[[dict[str, Any]], dict[str, Any]],
    rand: Callable[[int, int], int] = random.randint,
) -> dict[str, Any]:
    """Probe once and decide. A check that did not lead to a probe passes through untouched."""
    state = _state(event)
    step = state.get("step")
    if not isinstance(step, Mapping) or step.get("next") != PROBE:
        return state
    config = LoopConfig.parse(event.get("loop"))
    ready = before_probe(state)
    result = probe(probe_request(ready, event.get("request")))
    new = after_probe(ready, result, config, rand)
    log.info(
        "probe step finished",
        outcome=result.get("outcome"),
        next=new["step"]["next"],
        attempt=new["episode"].get("attempt"),
        nextWaitSeconds=new["episode"].get("nextWaitSeconds"),
    )
    return new
