"""The probe's input: the circuit's context from the state machine, validated into a ProbeRequest
(and the limits every part of the probe shares)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from common.log import get_logger
from filters import FilterConfigError, Filters, parse_filters
from transitions import TransitionConfigError, TransitionEvents, parse_transition_events

log = get_logger("sqs-circuit-breaker.probe")

PROBE_MODES = ("message", "synthetic")


# Lambda's maximum function timeout. The invoke client must wait longer than that for the
# response, and a message under probe must stay invisible at least that long.
LAMBDA_MAX_TIMEOUT_S = 900


# Slack for the calls around the invoke (receive, delete / change visibility).
VISIBILITY_MARGIN_S = 60


# The ESM reads batchItemFailures only when the mapping's FunctionResponseTypes holds this.
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"


_QUEUE_ARN = re.compile(
    r"^arn:aws[a-z-]*:sqs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(?P<name>[\w-]{1,80}(?:\.fifo)?)$"
)


class ProbeConfigError(ValueError):
    """The probe's input event is malformed; the message names the offending field."""


class ProbeAwsError(RuntimeError):
    """An AWS call failed in a way the probe cannot handle (misconfiguration, permissions...)."""


@dataclass(frozen=True)
class ProbeRequest:
    queue_url: str
    queue_arn: str
    function_name: str
    probe_mode: str
    synthetic_body: str | None
    failure_visibility_timeout: int
    wait_time_seconds: int
    region: str
    function_response_types: tuple[str, ...] = ()
    filters: Filters = field(default_factory=Filters)
    account: str = ""
    transition_events: TransitionEvents | None = None
    # A call slower than this is unhealthy (slow_call_duration_threshold_ms); None: not judged.
    slow_call_ms: int | None = None

    @property
    def fifo(self) -> bool:
        return self.queue_arn.endswith(".fifo")

    @property
    def reports_batch_item_failures(self) -> bool:
        return REPORT_BATCH_ITEM_FAILURES in self.function_response_types


def _required_str(event: Mapping[str, Any], field: str) -> str:
    value = event.get(field)
    if not isinstance(value, str) or not value.strip():
        raise ProbeConfigError(f"{field} is required and must be a non-empty string")
    return value.strip()


def _bounded_int(event: Mapping[str, Any], field: str, default: int, low: int, high: int) -> int:
    value = event.get(field)
    if value is None:
        return default
    # bool is an int subclass: refuse it explicitly.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProbeConfigError(f"{field} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ProbeConfigError(f"{field} must be between {low} and {high}, got {value}")
    return value


def _optional_int(event: Mapping[str, Any], field: str, low: int, high: int) -> int | None:
    if event.get(field) is None:
        return None
    return _bounded_int(event, field, low, low, high)


def _string_list(event: Mapping[str, Any], field: str) -> tuple[str, ...]:
    value = event.get(field)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ProbeConfigError(f"{field} must be a list of strings, got {value!r}")
    return tuple(value)


def parse_event(event: Any) -> ProbeRequest:
    """Validate the state machine's input; raise ProbeConfigError naming the bad field."""
    if not isinstance(event, Mapping):
        raise ProbeConfigError(f"event must be a JSON object, got {type(event).__name__}")
    queue_url = _required_str(event, "queueUrl")
    queue_arn = _required_str(event, "queueArn")
    function_name = _required_str(event, "functionName")
    match = _QUEUE_ARN.match(queue_arn)
    if not match:
        raise ProbeConfigError(
            f"queueArn must look like arn:aws:sqs:<region>:<account>:<name>, got {queue_arn!r}"
        )
    if queue_url.rstrip("/").rsplit("/", 1)[-1] != match["name"]:
        raise ProbeConfigError(
            f"queueUrl {queue_url!r} does not name the queue of queueArn {queue_arn!r}"
        )
    probe_mode = event.get("probeMode")
    if probe_mode is None:
        probe_mode = "message"
    if probe_mode not in PROBE_MODES:
        raise ProbeConfigError(f"probeMode must be one of {list(PROBE_MODES)}, got {probe_mode!r}")
    synthetic_body = event.get("syntheticBody")
    if synthetic_body is not None and not isinstance(synthetic_body, str):
        raise ProbeConfigError(
            f"syntheticBody must be a string or null, got {type(synthetic_body).__name__}"
        )
    if probe_mode == "synthetic" and synthetic_body is None:
        raise ProbeConfigError('syntheticBody is required when probeMode is "synthetic"')
    mapping = event.get("mapping")
    if mapping is not None and not isinstance(mapping, Mapping):
        raise ProbeConfigError(f"mapping must be an object or null, got {type(mapping).__name__}")
    try:
        filters = parse_filters(mapping)
    except FilterConfigError as exc:
        raise ProbeConfigError(f"mapping: {exc}") from None
    try:
        transition_events = parse_transition_events(event.get("transitionEvents"))
    except TransitionConfigError as exc:
        raise ProbeConfigError(f"transitionEvents: {exc}") from None
    return ProbeRequest(
        queue_url=queue_url,
        queue_arn=queue_arn,
        function_name=function_name,
        probe_mode=probe_mode,
        synthetic_body=synthetic_body,
        failure_visibility_timeout=_bounded_int(event, "failureVisibilityTimeout", 0, 0, 43200),
        wait_time_seconds=_bounded_int(event, "waitTimeSeconds", 2, 0, 20),
        region=match["region"],
        function_response_types=_string_list(event, "functionResponseTypes"),
        filters=filters,
        account=match["account"],
        transition_events=transition_events,
        slow_call_ms=_optional_int(event, "slowCallMs", 1, LAMBDA_MAX_TIMEOUT_S * 1000),
    )
