"""Invoking the protected function once (never retried) and judging its answer as the event source
mapping would: what counts as a healthy probe is decided here."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError
from common import aws
from common.log import get_logger
from probe_input import (
    LAMBDA_MAX_TIMEOUT_S,
    REPORT_BATCH_ITEM_FAILURES,
    VISIBILITY_MARGIN_S,
    ProbeAwsError,
    ProbeRequest,
)

log = get_logger("sqs-circuit-breaker.probe")

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


@dataclass(frozen=True)
class InvokeResult:
    healthy: bool
    reason: str
    # Handled as the mapping judges a response, but slower than the slow-call threshold.
    slow: bool = False

    @property
    def processed(self) -> bool:
        """The function handled the message as the mapping would count it: the mapping would
        delete it, so the probe does too (a slow answer is unhealthy, not a failed message)."""
        return self.healthy or self.slow


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


def judge_duration(
    result: InvokeResult, elapsed_ms: float, slow_call_ms: int | None
) -> InvokeResult:
    """A healthy answer that took longer than the slow-call threshold is unhealthy: a function
    that answers, but too slowly for its callers, has not recovered (Resilience4j's slow calls).
    `elapsed_ms` is the probe's own measure of the invoke: the function's Duration plus the
    invoke's round trip and any cold start, so it errs towards "slow", never towards closing."""
    if not result.healthy or slow_call_ms is None or elapsed_ms <= slow_call_ms:
        return result
    return InvokeResult(
        False,
        f"function answered in {elapsed_ms:.0f} ms, slower than the slow-call threshold of"
        f" {slow_call_ms} ms ({result.reason})",
        slow=True,
    )


def invoke_function(
    lambda_client: Any, request: ProbeRequest, event: Mapping[str, Any]
) -> InvokeResult:
    function_name = request.function_name
    started = time.monotonic()
    try:
        result = invoke_target(
            lambda_client,
            function_name,
            event,
            report_batch_item_failures=request.reports_batch_item_failures,
        )
        return judge_duration(result, (time.monotonic() - started) * 1000, request.slow_call_ms)
    except Exception as exc:
        raise ProbeAwsError(
            f"Invoke of {function_name} failed ({aws.error_message(exc)}): this is the breaker's"
            " configuration or permissions, not the function's health; any probe message is"
            " made visible again"
        ) from exc


def invoke_read_timeout(
    remaining_ms: int | None, wait_time_seconds: int, extra_reserve_s: int = 0
) -> int:
    """Seconds the probe waits for the protected function's answer.

    The probe's remaining time at its start, less the receive's long poll and the reserve for
    handing the message back (and `extra_reserve_s`, the transition events' time): if Lambda ended
    the probe mid-invoke, the task would fail and the
    breaker would take its failure path (close) while the function hangs. A function that has not
    answered by then is unhealthy (the plan refuses a probe_timeout_seconds that cannot cover the
    protected function's timeout). At least 1 s; without a Lambda context, past Lambda's maximum.
    """
    if remaining_ms is None:
        return LAMBDA_MAX_TIMEOUT_S + VISIBILITY_MARGIN_S
    reserve = AFTER_INVOKE_RESERVE_S + extra_reserve_s
    budget = max(remaining_ms, 0) // 1000 - wait_time_seconds - reserve
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
