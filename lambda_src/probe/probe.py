"""Half-open probe of the SQS circuit breaker.

Invoked by the breaker's state machine with the circuit's context (see lambda_src/README.md for
the exact input/output contract). It takes at most one message from the protected queue, invokes
the protected function with it exactly as the SQS event source mapping (ESM) would, and reports
whether the function handled it. The message is deleted only after a healthy invoke and made
visible again after an unhealthy one: a probe never loses a message. When nothing can be
received, the queue's counts decide: "empty" only when it holds no visible, in-flight or delayed
message at all, else "unhealthy" (probe again; the circuit must not close on a hidden backlog).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import math
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError
from common import aws
from common.log import get_logger
from filters import FilterCheckError, FilterConfigError, Filters, first_admitted, parse_filters

log = get_logger("sqs-circuit-breaker.probe")

PROBE_MODES = ("message", "synthetic")
SYNTHETIC_SENDER_ID = "sqs-circuit-breaker-probe"
SYNTHETIC_RECEIPT_PREFIX = "sqs-circuit-breaker-synthetic:"

# Lambda's maximum function timeout. The invoke client must wait longer than that for the
# response, and a message under probe must stay invisible at least that long.
LAMBDA_MAX_TIMEOUT_S = 900
# Slack for the calls around the invoke (receive, delete / change visibility).
VISIBILITY_MARGIN_S = 60

# SQS refuses a ChangeMessageVisibility that would keep a message invisible past 12 hours after
# the ReceiveMessage that returned it. The failure visibility is clamped to what is left of that,
# minus a margin for the ChangeMessageVisibility call itself.
SQS_MAX_VISIBILITY_S = 43200
VISIBILITY_LIMIT_MARGIN_S = 5

# The ESM reads batchItemFailures only when the mapping's FunctionResponseTypes holds this.
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"

# Message attribute written by the rejitter on every message it re-sends: compact JSON
# {"v": 1, "id": <original MessageId>, "sentMs": <original send, epoch ms>, ...}.
ORIGIN_ATTRIBUTE = "sqscb-origin"

# Read when nothing was received, to tell an empty queue from one whose messages are hidden.
QUEUE_COUNT_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)

# The invoke must never be retried by botocore: a retried RequestResponse invoke runs the
# protected handler twice with the same message. TCP keep-alive so an idle connection held for
# minutes is not dropped by a NAT (350 s idle). The read timeout is the probe's own time budget
# (invoke_read_timeout): a function that has not answered when the probe must hand its message
# back is unhealthy. Without a Lambda context (tests, scripts) it waits past Lambda's maximum.
INVOKE_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    connect_timeout=10,
    read_timeout=LAMBDA_MAX_TIMEOUT_S + VISIBILITY_MARGIN_S,
    tcp_keepalive=True,
)
# Kept for the calls after the invoke (ChangeMessageVisibility or DeleteMessage, with their
# retries) and the probe's result, before Lambda would end the probe itself.
AFTER_INVOKE_RESERVE_S = 10

# Invoke errors that come from the protected function's side (throttling, its runtime, its
# VPC/KMS/EFS/SnapStart setup, Lambda's own 5xx): the ESM would fail the batch on these too, so
# they mean "unhealthy". Every other invoke error (ResourceNotFound, AccessDenied,
# InvalidParameterValue...) is the breaker's own misconfiguration and is raised.
UNHEALTHY_INVOKE_ERRORS = frozenset(
    {
        "TooManyRequestsException",
        "ServiceException",
        "ResourceNotReadyException",
        "ResourceConflictException",
        "EC2AccessDeniedException",
        "EC2ThrottledException",
        "EC2UnexpectedException",
        "EFSIOException",
        "EFSMountConnectivityException",
        "EFSMountFailureException",
        "EFSMountTimeoutException",
        "ENILimitReachedException",
        "InvalidRuntimeException",
        "InvalidSecurityGroupIDException",
        "InvalidSubnetIDException",
        "InvalidZipFileException",
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSInvalidStateException",
        "KMSNotFoundException",
        "RecursiveInvocationException",
        "SnapStartException",
        "SnapStartNotReadyException",
        "SnapStartTimeoutException",
        "SubnetIPAddressLimitReachedException",
    }
)

RECEIPT_HANDLE_INVALID = frozenset({"ReceiptHandleIsInvalid", "InvalidReceiptHandle"})

_QUEUE_ARN = re.compile(
    r"^arn:aws[a-z-]*:sqs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(?P<name>[\w-]{1,80}(?:\.fifo)?)$"
)

# With FilterCriteria on the mapping: messages per ReceiveMessage, and receives per probe, while
# the probe looks for one that the filters admit (excluded ones stay hidden meanwhile, then are
# made visible again: the mapping deletes them itself when it resumes, as it always does).
FILTERED_RECEIVE_BATCH = 10
FILTERED_MAX_RECEIVES = 5
_LAMBDA_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:lambda:(?P<region>[a-z0-9-]+):")

# System attributes in the order the ESM writes them; any others follow in received order.
_SYSTEM_ATTRIBUTE_ORDER = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "SenderId",
    "MessageDeduplicationId",
    "ApproximateFirstReceiveTimestamp",
    "AWSTraceHeader",
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

    @property
    def fifo(self) -> bool:
        return self.queue_arn.endswith(".fifo")

    @property
    def reports_batch_item_failures(self) -> bool:
        return REPORT_BATCH_ITEM_FAILURES in self.function_response_types


@dataclass(frozen=True)
class InvokeResult:
    healthy: bool
    reason: str


@dataclass(frozen=True)
class QueueCounts:
    """The queue's approximate message counts (GetQueueAttributes)."""

    visible: int
    not_visible: int
    delayed: int

    @property
    def empty(self) -> bool:
        return self.visible == 0 and self.not_visible == 0 and self.delayed == 0

    def as_dict(self) -> dict[str, int]:
        return {"visible": self.visible, "notVisible": self.not_visible, "delayed": self.delayed}


@dataclass(frozen=True)
class Origin:
    """The rejitter's sqscb-origin attribute: the message's original id and send time."""

    message_id: str
    sent_ms: int


# ---- Input validation ---------------------------------------------------------------------------
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
    )


# ---- Building the ESM event ---------------------------------------------------------------------
def _b64(value: bytes | bytearray | str) -> str:
    raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return base64.b64encode(raw).decode("ascii")


def esm_message_attribute(attribute: Mapping[str, Any]) -> dict[str, Any]:
    """ReceiveMessage form ({'DataType', 'StringValue'|'BinaryValue'}) -> ESM event form.

    The ESM writes the value key that applies (stringValue for String/Number and their custom
    subtypes, binaryValue as base64 for Binary), both list keys (always empty lists in practice:
    SQS reserves them) and dataType, with lower-camel-case keys.
    """
    out: dict[str, Any] = {}
    if attribute.get("StringValue") is not None:
        out["stringValue"] = attribute["StringValue"]
    if attribute.get("BinaryValue") is not None:
        out["binaryValue"] = _b64(attribute["BinaryValue"])
    out["stringListValues"] = list(attribute.get("StringListValues") or [])
    out["binaryListValues"] = [_b64(v) for v in attribute.get("BinaryListValues") or []]
    out["dataType"] = attribute["DataType"]
    return out


def _ordered_system_attributes(attributes: Mapping[str, Any]) -> dict[str, str]:
    ordered = {k: str(attributes[k]) for k in _SYSTEM_ATTRIBUTE_ORDER if k in attributes}
    for key, value in attributes.items():
        ordered.setdefault(key, str(value))
    return ordered


def esm_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One ESM ``Records[]`` entry from a ReceiveMessage ``Messages[]`` entry."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": _ordered_system_attributes(message.get("Attributes") or {}),
        "messageAttributes": {
            name: esm_message_attribute(attr)
            for name, attr in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody")
        or hashlib.md5(message.get("Body", "").encode("utf-8")).hexdigest(),
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record["eventSource"] = "aws:sqs"
    record["eventSourceARN"] = queue_arn
    record["awsRegion"] = region
    return record


def synthetic_record(
    body: str,
    queue_arn: str,
    region: str,
    *,
    now_ms: int,
    message_id: str,
) -> dict[str, Any]:
    """A record of the ESM's shape for a message that was never in the queue."""
    attributes = {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": str(now_ms),
        "SenderId": SYNTHETIC_SENDER_ID,
        "ApproximateFirstReceiveTimestamp": str(now_ms),
    }
    if queue_arn.endswith(".fifo"):
        # FIFO handlers read these; give them plausible values (a group of its own).
        attributes["MessageGroupId"] = SYNTHETIC_SENDER_ID
        attributes["MessageDeduplicationId"] = message_id
        attributes["SequenceNumber"] = str(now_ms) + "0" * 7
    message = {
        "MessageId": message_id,
        "ReceiptHandle": SYNTHETIC_RECEIPT_PREFIX + message_id,
        "Body": body,
        "Attributes": attributes,
        "MD5OfBody": hashlib.md5(body.encode("utf-8")).hexdigest(),
    }
    return esm_record(message, queue_arn, region)


# ---- Invoke and classification ------------------------------------------------------------------
def _read_payload(response: Mapping[str, Any]) -> bytes:
    payload = response.get("Payload")
    if payload is None:
        return b""
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    return payload.read()


def _error_summary(payload: bytes) -> str:
    try:
        data = json.loads(payload)
    except ValueError:
        return payload[:200].decode("utf-8", "replace")
    if isinstance(data, dict):
        return f"{data.get('errorType', '')}: {data.get('errorMessage', '')}"[:300]
    return str(data)[:200]


def classify_payload(
    payload: bytes, message_id: str, *, report_batch_item_failures: bool
) -> InvokeResult:
    """Health of a successful (no FunctionError) invoke, judged as the ESM judges the response.

    The ESM reads the response as a partial batch response only when the mapping's
    FunctionResponseTypes holds ReportBatchItemFailures; otherwise any return value is a success.
    """
    if not report_batch_item_failures:
        return InvokeResult(
            True,
            "function returned successfully; its payload was not read as a partial batch"
            " response because the mapping does not report batch item failures"
            f" (functionResponseTypes has no {REPORT_BATCH_ITEM_FAILURES})",
        )
    if not payload.strip():
        return InvokeResult(True, "function returned no payload")
    try:
        data = json.loads(payload)
    except ValueError:
        return InvokeResult(True, "function returned a non-JSON payload")
    failures = data.get("batchItemFailures") if isinstance(data, dict) else None
    if isinstance(failures, list) and failures:
        # The probe batch holds one message, so any non-empty list is a failure: an entry naming
        # it fails it, and an entry that is malformed (null/empty/unknown itemIdentifier) makes
        # the ESM fail the whole batch (AWS Lambda docs, "Reporting batch item failures").
        if any(isinstance(i, dict) and i.get("itemIdentifier") == message_id for i in failures):
            return InvokeResult(False, "batchItemFailures names the probe message")
        return InvokeResult(
            False, "batchItemFailures is malformed or names another message: a batch failure"
        )
    return InvokeResult(True, "function returned successfully")


def invoke_target(
    lambda_client: Any,
    function_name: str,
    event: Mapping[str, Any],
    *,
    report_batch_item_failures: bool,
) -> InvokeResult:
    """Invoke synchronously once and classify; raise only for the breaker's misconfiguration."""
    message_id = event["Records"][0]["messageId"]
    try:
        response = lambda_client.invoke(
            FunctionName=function_name,
            InvocationType="RequestResponse",
            Payload=json.dumps(event).encode("utf-8"),
        )
        payload = _read_payload(response)
    except ClientError as exc:
        code = aws.error_code(exc)
        if code in UNHEALTHY_INVOKE_ERRORS:
            return InvokeResult(False, f"invoke failed: {aws.error_message(exc)}")
        raise
    except (HTTPClientError, ConnectionError) as exc:
        # Read timeout, connection reset, endpoint unreachable: the function did not answer.
        return InvokeResult(False, f"invoke did not complete: {aws.error_message(exc)}")
    function_error = response.get("FunctionError")
    if function_error:
        return InvokeResult(
            False, f"function error ({function_error}): {_error_summary(payload)}".rstrip(": ")
        )
    return classify_payload(
        payload, message_id, report_batch_item_failures=report_batch_item_failures
    )


def _invoke(lambda_client: Any, request: ProbeRequest, event: Mapping[str, Any]) -> InvokeResult:
    function_name = request.function_name
    try:
        return invoke_target(
            lambda_client,
            function_name,
            event,
            report_batch_item_failures=request.reports_batch_item_failures,
        )
    except Exception as exc:
        raise ProbeAwsError(
            f"Invoke of {function_name} failed ({aws.error_message(exc)}): this is the breaker's"
            " configuration or permissions, not the function's health; any probe message is"
            " made visible again"
        ) from exc


def invoke_read_timeout(remaining_ms: int | None, wait_time_seconds: int) -> int:
    """Seconds the probe waits for the protected function's answer.

    The probe's remaining time at its start, less the receive's long poll and the reserve for
    handing the message back: if Lambda ended the probe mid-invoke, the task would fail and the
    breaker would take its failure path (close) while the function hangs. A function that has not
    answered by then is unhealthy (the plan refuses a probe_timeout_seconds that cannot cover the
    protected function's timeout). At least 1 s; without a Lambda context, past Lambda's maximum.
    """
    if remaining_ms is None:
        return LAMBDA_MAX_TIMEOUT_S + VISIBILITY_MARGIN_S
    budget = max(remaining_ms, 0) // 1000 - wait_time_seconds - AFTER_INVOKE_RESERVE_S
    return max(1, min(budget, LAMBDA_MAX_TIMEOUT_S + VISIBILITY_MARGIN_S))


_INVOKE_CLIENTS: dict[tuple[str, int], Any] = {}


def invoke_client(region: str, read_timeout: int) -> Any:
    """The Lambda client for invokes with this read timeout (one per container and timeout: the
    probe's remaining time at its start is the same from one invocation to the next)."""
    key = (region, read_timeout)
    if key not in _INVOKE_CLIENTS:
        config = INVOKE_CONFIG.merge(Config(read_timeout=read_timeout))
        _INVOKE_CLIENTS[key] = boto3.client("lambda", region_name=region, config=config)
    return _INVOKE_CLIENTS[key]


# ---- SQS side -----------------------------------------------------------------------------------
def receive_visibility_timeout(remaining_ms: int | None) -> int:
    """Visibility timeout for the probe message while the probe holds it.

    The receipt handle must still be valid when we delete the message or change its visibility
    after the invoke, i.e. at the latest just before this probe's own deadline. So: the probe's
    remaining time plus a margin, never more than Lambda's 900 s maximum plus the margin (no
    invoke outlives that) and never less than the margin. Shorter is better: if the probe dies
    mid-way, the message reappears when this expires. Without a Lambda context, assume the worst.
    """
    if remaining_ms is None:
        return LAMBDA_MAX_TIMEOUT_S + VISIBILITY_MARGIN_S
    remaining_s = -(-max(remaining_ms, 0) // 1000)  # ceil
    return min(remaining_s, LAMBDA_MAX_TIMEOUT_S) + VISIBILITY_MARGIN_S


def _supports(client: Any, operation: str, parameter: str) -> bool:
    """Whether this client's service model knows an input parameter."""
    try:
        shape = client.meta.service_model.operation_model(operation).input_shape
        return parameter in shape.members
    except (AttributeError, LookupError):
        return False


def receive_one(
    sqs: Any, request: ProbeRequest, visibility_timeout: int
) -> Mapping[str, Any] | None:
    messages = receive(sqs, request, visibility_timeout, 1, request.wait_time_seconds)
    return messages[0] if messages else None


def receive(
    sqs: Any, request: ProbeRequest, visibility_timeout: int, count: int, wait_seconds: int
) -> list[Mapping[str, Any]]:
    params: dict[str, Any] = {
        "QueueUrl": request.queue_url,
        "MaxNumberOfMessages": count,
        "AttributeNames": ["All"],  # deprecated spelling, understood by every SDK release
        "MessageAttributeNames": ["All"],
        "WaitTimeSeconds": wait_seconds,
        "VisibilityTimeout": visibility_timeout,
    }
    if _supports(sqs, "ReceiveMessage", "MessageSystemAttributeNames"):
        # botocore >= 1.34.9x; an older SDK bundled with the runtime would reject the parameter
        params["MessageSystemAttributeNames"] = ["All"]
    try:
        response = sqs.receive_message(**params)
    except ClientError as exc:
        raise ProbeAwsError(
            f"ReceiveMessage on {request.queue_url} failed: {aws.error_message(exc)}"
        ) from exc
    return list(response.get("Messages") or [])


def parse_queue_counts(attributes: Mapping[str, Any]) -> QueueCounts:
    """QueueCounts from GetQueueAttributes' Attributes; ValueError if one is missing or not a
    non-negative integer."""
    values: list[int] = []
    for name in QUEUE_COUNT_ATTRIBUTES:
        raw = attributes.get(name)
        try:
            value = int(str(raw), 10)
        except ValueError:
            raise ValueError(f"{name} is {raw!r}, not an integer") from None
        if value < 0:
            raise ValueError(f"{name} is negative ({value})")
        values.append(value)
    return QueueCounts(*values)


def read_queue_counts(sqs: Any, queue_url: str) -> QueueCounts:
    """GetQueueAttributes for the three approximate counts; ProbeAwsError if it fails."""
    try:
        response = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=list(QUEUE_COUNT_ATTRIBUTES)
        )
        return parse_queue_counts(response.get("Attributes") or {})
    except (ClientError, BotoCoreError, ValueError) as exc:
        raise ProbeAwsError(
            f"GetQueueAttributes on {queue_url} failed after an empty receive"
            f" ({aws.error_message(exc)}): cannot tell an empty queue from one whose messages"
            " are hidden"
        ) from exc


def nothing_received(counts: QueueCounts) -> tuple[str, str]:
    """(outcome, reason) when ReceiveMessage returned nothing and there is no syntheticBody.

    Only a queue with no visible, not visible (in flight: hidden by a failed probe) or delayed
    message is empty. Anything else: a short poll missed a message, or every message is hidden
    or delayed; the function's health is unknown, so the circuit must not close.
    """
    if counts.empty:
        return "empty", "queue is empty (0 visible, 0 not visible, 0 delayed)"
    return "unhealthy", (
        f"no message could be received, but the queue holds {counts.visible} visible,"
        f" {counts.not_visible} not visible (hidden by failed probes or in flight),"
        f" {counts.delayed} delayed: not empty, probe again"
    )


def failure_visibility(requested: int, seconds_since_receive: float) -> tuple[int, bool]:
    """(visibility timeout to give an unhealthy message, whether it was clamped).

    SQS counts the 12-hour maximum from the receive and rejects a ChangeMessageVisibility that
    would go past it, so at most 43200 - ceil(seconds since the receive) - 5, never below 0.
    """
    limit = SQS_MAX_VISIBILITY_S - math.ceil(max(seconds_since_receive, 0.0))
    limit = max(0, limit - VISIBILITY_LIMIT_MARGIN_S)
    if requested > limit:
        return limit, True
    return requested, False


def release(sqs: Any, queue_url: str, receipt_handle: str, visibility_timeout: int) -> str | None:
    """ChangeMessageVisibility; returns an error description instead of raising.

    If this fails the message is still not lost: it reappears when the visibility timeout set
    at receive expires.
    """
    try:
        sqs.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=visibility_timeout
        )
    except ClientError as exc:
        log.error(
            "could not change the probe message's visibility; it reappears when its visibility"
            " timeout expires",
            queueUrl=queue_url,
            error=aws.error_message(exc),
        )
        return aws.error_message(exc)
    return None


def delete(sqs: Any, queue_url: str, receipt_handle: str, message_id: str) -> str | None:
    """DeleteMessage; returns a note when the handle went stale (message will be redelivered)."""
    try:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=receipt_handle)
    except ClientError as exc:
        if aws.error_code(exc) in RECEIPT_HANDLE_INVALID:
            log.warning(
                "probe message could not be deleted (receipt handle no longer valid); it will"
                " be delivered again",
                messageId=message_id,
                error=aws.error_message(exc),
            )
            return f"delete failed ({aws.error_message(exc)}); the message will be redelivered"
        raise ProbeAwsError(
            f"DeleteMessage of {message_id} on {queue_url} failed after a healthy invoke:"
            f" {aws.error_message(exc)} (the message will be redelivered)"
        ) from exc
    return None


# ---- The mapping's filters ----------------------------------------------------------------------
def _admitted(
    events_client: Any, request: ProbeRequest, records: list[dict[str, Any]]
) -> int | None:
    if events_client is None:
        raise ProbeAwsError("the mapping has FilterCriteria, and the probe no EventBridge client")
    try:
        return first_admitted(
            events_client,
            request.filters,
            records,
            account=request.account,
            region=request.region,
        )
    except FilterCheckError as exc:
        raise ProbeAwsError(str(exc)) from exc


def receive_admitted(
    sqs: Any, events_client: Any, request: ProbeRequest, visibility_timeout: int
) -> tuple[Mapping[str, Any] | None, list[Mapping[str, Any]]]:
    """(the first message the mapping's filters admit or None, the other messages received).

    Receives up to FILTERED_MAX_RECEIVES batches, keeping excluded messages hidden meanwhile so
    that the next receive sees others (the first receive long-polls, the next ones do not). The
    caller makes every message of the second list visible again (release_all), whatever happens.
    Messages received after the chosen one in its batch are in that list too (marked admitted:
    they are not counted as excluded)."""
    held: list[Mapping[str, Any]] = []
    try:
        for attempt in range(FILTERED_MAX_RECEIVES):
            wait = request.wait_time_seconds if attempt == 0 else 0
            batch = receive(sqs, request, visibility_timeout, FILTERED_RECEIVE_BATCH, wait)
            if not batch:
                break
            records = [esm_record(m, request.queue_arn, request.region) for m in batch]
            held += batch  # hidden by this probe from here on: handed back whatever happens
            index = _admitted(events_client, request, records)
            if index is None:
                continue
            del held[len(held) - len(batch) :]
            held += batch[:index]
            held += [{**m, "_sqscbAdmitted": True} for m in batch[index + 1 :]]
            return batch[index], held
    except BaseException:
        release_all(sqs, request.queue_url, held)
        raise
    return None, held


def nothing_admitted(counts: QueueCounts, excluded: int) -> tuple[str, str]:
    """(outcome, reason) when every message received was excluded by the mapping's filters.

    While the probe holds them hidden, they are among the queue's not-visible messages: when the
    queue holds nothing else, the mapping would give the function nothing (it deletes excluded
    messages), so there is nothing to protect ("empty"). Otherwise a message the filters admit
    may be further back, hidden or delayed: the function's health is unknown ("unhealthy")."""
    if counts.visible == 0 and counts.delayed == 0 and counts.not_visible <= excluded:
        return "empty", (
            f"every message in the queue ({excluded}) is excluded by the mapping's filters: the"
            " function would get none of them (the mapping deletes them when it resumes)"
        )
    return "unhealthy", (
        f"none of the {excluded} message(s) received is admitted by the mapping's filters, and"
        f" the queue holds more ({counts.visible} visible, {counts.not_visible} not visible,"
        f" {counts.delayed} delayed): probe again"
    )


def release_all(sqs: Any, queue_url: str, messages: list[Mapping[str, Any]]) -> None:
    """Make messages visible again (ChangeMessageVisibilityBatch, 10 at a time). A failure is
    logged: the messages reappear when the probe's visibility timeout expires anyway."""
    for start in range(0, len(messages), 10):
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(messages[start : start + 10])
        ]
        try:
            response = sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
        except (ClientError, BotoCoreError) as exc:
            log.error(
                "could not make passed-over messages visible again; they reappear when their"
                " visibility timeout expires",
                queueUrl=queue_url,
                error=aws.error_message(exc),
            )
            continue
        for failed in response.get("Failed") or []:
            log.error(
                "could not make a passed-over message visible again; it reappears when its"
                " visibility timeout expires",
                queueUrl=queue_url,
                error=f"{failed.get('Code')}: {failed.get('Message')}",
            )


# ---- The probe ----------------------------------------------------------------------------------
def _result(
    outcome: str,
    source: str | None,
    message_id: str | None,
    receive_count: int | None,
    reason: str,
    *,
    duration_ms: int,
    message_age_seconds: int = 0,
    original_message_id: str | None = None,
    queue: QueueCounts | None = None,
    excluded: int = 0,
) -> dict[str, Any]:
    return {
        "outcome": outcome,
        "source": source,
        "messageId": message_id,
        "originalMessageId": original_message_id,
        "receiveCount": receive_count,
        "messageAgeSeconds": max(0, message_age_seconds),
        "queue": queue.as_dict() if queue is not None else None,
        "excluded": excluded,
        "reason": reason,
        "durationMs": max(0, duration_ms),
    }


def run_probe(
    request: ProbeRequest,
    *,
    sqs: Any,
    lambda_client: Any,
    remaining_ms: Callable[[], int] | None = None,
    clock: Callable[[], float] = time.monotonic,
    now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    events_client: Any = None,
) -> dict[str, Any]:
    started = clock()

    def elapsed_ms() -> int:
        return int((clock() - started) * 1000)

    message = None
    received_at = started
    skipped = 0
    if request.probe_mode == "message":
        visibility = receive_visibility_timeout(remaining_ms() if remaining_ms else None)
        # Taken before the call: SQS counts the 12 h limit from the receive, which happens at
        # the latest when the call returns, so this errs on the short side.
        received_at = clock()
        held: list[Mapping[str, Any]] = []
        try:
            if request.filters:
                message, held = receive_admitted(sqs, events_client, request, visibility)
                skipped = sum(1 for m in held if not m.get("_sqscbAdmitted"))
            else:
                message = receive_one(sqs, request, visibility)
            if message is None and request.synthetic_body is None:
                counts = read_queue_counts(sqs, request.queue_url)
                if skipped:
                    outcome, reason = nothing_admitted(counts, skipped)
                else:
                    outcome, reason = nothing_received(counts)
                log.info(
                    "nothing to probe with",
                    outcome=outcome,
                    queueUrl=request.queue_url,
                    queue=counts.as_dict(),
                    excluded=skipped,
                    reason=reason,
                )
                return _result(
                    outcome,
                    None,
                    None,
                    None,
                    reason,
                    duration_ms=elapsed_ms(),
                    queue=counts,
                    excluded=skipped,
                )
        finally:
            release_all(sqs, request.queue_url, held)

    if message is None:
        body = request.synthetic_body if request.synthetic_body is not None else ""
        record = synthetic_record(
            body, request.queue_arn, request.region, now_ms=now_ms(), message_id=new_id()
        )
        if request.filters and _admitted(events_client, request, [record]) is None:
            raise ProbeConfigError(
                "syntheticBody is excluded by the mapping's FilterCriteria: the function would"
                " never receive such a message, so it cannot tell whether the function is"
                " healthy (set probe_synthetic_body to a body the filters admit)"
            )
        event = {"Records": [record]}
        verdict = _invoke(lambda_client, request, event)
        outcome = "healthy" if verdict.healthy else "unhealthy"
        log.info(
            "probe finished",
            outcome=outcome,
            source="synthetic",
            messageId=record["messageId"],
            reason=verdict.reason,
        )
        return _result(
            outcome,
            "synthetic",
            record["messageId"],
            None,
            verdict.reason,
            duration_ms=elapsed_ms(),
        )

    record = esm_record(message, request.queue_arn, request.region)
    message_id = record["messageId"]
    receipt_handle = record["receiptHandle"]
    receive_count = _receive_count(record["attributes"])
    origin = message_origin(message)
    try:
        verdict = _invoke(lambda_client, request, {"Records": [record]})
    except ProbeAwsError:
        # Misconfiguration (or an unexpected failure): hand the message back at once, then raise.
        release(sqs, request.queue_url, receipt_handle, 0)
        raise

    reason = verdict.reason
    if skipped:
        reason = (
            f"{reason}; {skipped} message(s) the mapping's filters exclude were passed over"
            " (visible again: the mapping deletes them when it resumes)"
        )
    if verdict.healthy:
        note = delete(sqs, request.queue_url, receipt_handle, message_id)
        if note:
            reason = f"{reason}; {note}"
    else:
        hide_for, clamped = failure_visibility(
            request.failure_visibility_timeout, clock() - received_at
        )
        if clamped:
            log.warning(
                "failure visibility clamped to the 12 h SQS limit counted from the receive",
                messageId=message_id,
                requested=request.failure_visibility_timeout,
                visibilityTimeout=hide_for,
            )
            reason = (
                f"{reason}; failure visibility clamped to {hide_for} s (requested"
                f" {request.failure_visibility_timeout} s): SQS allows at most"
                f" {SQS_MAX_VISIBILITY_S} s from the receive"
            )
        error = release(sqs, request.queue_url, receipt_handle, hide_for)
        if error:
            reason = f"{reason}; visibility change failed ({error})"
    outcome = "healthy" if verdict.healthy else "unhealthy"
    original_message_id = origin.message_id if origin else message_id
    log.info(
        "probe finished",
        outcome=outcome,
        source="message",
        messageId=message_id,
        originalMessageId=original_message_id,
        receiveCount=receive_count,
        reason=reason,
    )
    return _result(
        outcome,
        "message",
        message_id,
        receive_count,
        reason,
        duration_ms=elapsed_ms(),
        message_age_seconds=message_age_seconds(
            record["attributes"], now_ms(), origin.sent_ms if origin else None
        ),
        original_message_id=original_message_id,
        excluded=skipped,
    )


def parse_origin(attribute: Mapping[str, Any]) -> Origin:
    """The sqscb-origin message attribute (ReceiveMessage form); ValueError when malformed.

    Well-formed: a String attribute whose value is a JSON object with a non-empty string "id"
    and a non-negative integer "sentMs" (other keys are ignored).
    """
    data_type = attribute.get("DataType")
    value = attribute.get("StringValue")
    if not isinstance(data_type, str) or not data_type.startswith("String"):
        raise ValueError(f"DataType is {data_type!r}, not String")
    if not isinstance(value, str):
        raise ValueError("no StringValue")
    try:
        data = json.loads(value)
    except ValueError:
        raise ValueError(f"StringValue is not JSON: {value[:200]!r}") from None
    if not isinstance(data, dict):
        raise ValueError(f"StringValue is not a JSON object: {value[:200]!r}")
    origin_id = data.get("id")
    sent_ms = data.get("sentMs")
    if not isinstance(origin_id, str) or not origin_id:
        raise ValueError(f"id is {origin_id!r}, not a non-empty string")
    if isinstance(sent_ms, bool) or not isinstance(sent_ms, int) or sent_ms < 0:
        raise ValueError(f"sentMs is {sent_ms!r}, not a non-negative integer")
    return Origin(message_id=origin_id, sent_ms=sent_ms)


def message_origin(message: Mapping[str, Any]) -> Origin | None:
    """The message's sqscb-origin, or None when absent or malformed (a malformed one is logged
    and ignored: the message is then judged by its own id and SentTimestamp)."""
    attribute = (message.get("MessageAttributes") or {}).get(ORIGIN_ATTRIBUTE)
    if attribute is None:
        return None
    try:
        return parse_origin(attribute)
    except ValueError as exc:
        log.warning(
            "ignoring a malformed sqscb-origin message attribute",
            messageId=message.get("MessageId"),
            error=str(exc),
        )
        return None


def message_age_seconds(
    attributes: Mapping[str, str], now_ms: int, origin_sent_ms: int | None = None
) -> int:
    """Seconds since the message was first sent: the older of its SentTimestamp and, for a
    message the rejitter re-sent, the original send (sqscb-origin's sentMs). 0 when unknown.
    The state machine's retention guard counts from the older of this and the episode's start."""
    sent: list[int] = []
    with contextlib.suppress(KeyError, ValueError):
        sent.append(int(attributes["SentTimestamp"]))
    if origin_sent_ms is not None:
        sent.append(origin_sent_ms)
    if not sent:
        return 0
    return max(0, (now_ms - min(sent)) // 1000)


def _receive_count(attributes: Mapping[str, str]) -> int | None:
    try:
        return int(attributes["ApproximateReceiveCount"])
    except (KeyError, ValueError):
        return None


def _lambda_region(function_name: str, default: str) -> str:
    match = _LAMBDA_ARN_REGION.match(function_name)
    return match["region"] if match else default


def handler(event: Any, context: Any) -> dict[str, Any]:
    request = parse_event(event)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    read_timeout = invoke_read_timeout(
        remaining() if remaining else None, request.wait_time_seconds
    )
    return run_probe(
        request,
        sqs=aws.client("sqs", request.region),
        lambda_client=invoke_client(
            _lambda_region(request.function_name, request.region), read_timeout
        ),
        remaining_ms=remaining,
        events_client=aws.client("events", request.region) if request.filters else None,
    )
