"""Half-open probe of the SQS circuit breaker.

Invoked by the breaker's state machine with the circuit's context (see lambda_src/README.md for
the exact input/output contract). It takes at most one message from the protected queue, invokes
the protected function with it exactly as the SQS event source mapping (ESM) would, and reports
whether the function handled it. The message is deleted only after the function handled it (a
healthy invoke, or one slower than the slow-call threshold) and made visible again after an
unhealthy one: a probe never loses a message. When nothing can be
received, the queue's counts decide: "empty" only when it holds no visible, in-flight or delayed
message at all, else "unhealthy" (probe again; the circuit must not close on a hidden backlog).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from claim import claim_handler
from common import aws
from common.log import get_logger
from esm_event import esm_record, synthetic_record
from invoke import invoke_client, invoke_function, invoke_read_timeout
from look import look_handler
from messages import (
    SQS_MAX_VISIBILITY_S,
    QueueCounts,
    admitted_index,
    delete,
    failure_visibility,
    message_age_seconds,
    message_origin,
    nothing_admitted,
    nothing_received,
    read_queue_counts,
    receive_admitted,
    receive_count_of,
    receive_one,
    receive_visibility_timeout,
    release,
    release_all,
)
from opening import open_handler
from probe_input import ProbeAwsError, ProbeConfigError, ProbeRequest, parse_event
from probe_task import checked, probe_step
from step import check_handler
from transitions import EVENTS_RESERVE_S, PUT_EVENTS_CONFIG, around_probe
from verify import verify_handler

log = get_logger("sqs-circuit-breaker.probe")


_LAMBDA_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:lambda:(?P<region>[a-z0-9-]+):")


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
        if request.filters and admitted_index(events_client, request, [record]) is None:
            raise ProbeConfigError(
                "syntheticBody is excluded by the mapping's FilterCriteria: the function would"
                " never receive such a message, so it cannot tell whether the function is"
                " healthy (set probe_synthetic_body to a body the filters admit)"
            )
        event = {"Records": [record]}
        verdict = invoke_function(lambda_client, request, event)
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
    receive_count = receive_count_of(record["attributes"])
    origin = message_origin(message)
    try:
        verdict = invoke_function(lambda_client, request, {"Records": [record]})
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
    if verdict.processed:  # healthy, or handled but slow: deleted, as the mapping would
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
    original_message_id = origin.id if origin else message_id
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


def _lambda_region(function_name: str, default: str) -> str:
    match = _LAMBDA_ARN_REGION.match(function_name)
    return match["region"] if match else default


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The state machine's ClaimEpisode task (claim.py, then opening.py), its VerifyAfterCommand
    task (verify.py), its Probe task (the check: step.py, then the probe and the decision:
    probe_task.py), its LookAtAlarm task (look.py), or one probe on its own (the probe's input
    alone: the contract in lambda_src/README.md). A definition older than this code claims
    (`claim` alone) and reads (`open` alone) in two tasks, and checks (`check` alone) in a task
    before its Probe task (`loop` alone)."""
    if isinstance(event, Mapping) and "open" in event:
        return open_handler(event)
    if isinstance(event, Mapping) and "claim" in event:
        return claim_handler(event)
    if isinstance(event, Mapping) and "verify" in event:
        return verify_handler(event)
    if isinstance(event, Mapping) and "loop" in event:
        return probe_step(
            checked(event),
            lambda request: probe_once(request, context),
            remaining_ms=getattr(context, "get_remaining_time_in_millis", None),
        )
    if isinstance(event, Mapping) and "check" in event:
        return check_handler(event)
    if isinstance(event, Mapping) and "watch" in event:
        return look_handler(event)
    return probe_once(event, context)


def probe_once(event: Any, context: Any) -> dict[str, Any]:
    request = parse_event(event)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    transitions = request.transition_events
    # Counted at the start, the events' time left out: an event never shortens the function's.
    read_timeout = invoke_read_timeout(
        remaining() if remaining else None,
        request.wait_time_seconds,
        EVENTS_RESERVE_S if transitions else 0,
    )
    events = aws.client("events", request.region) if request.filters else None

    def probe() -> dict[str, Any]:
        return run_probe(
            request,
            sqs=aws.client("sqs", request.region),
            lambda_client=invoke_client(
                _lambda_region(request.function_name, request.region), read_timeout
            ),
            remaining_ms=remaining,
            events_client=events,
        )

    publisher = aws.client("events", request.region, PUT_EVENTS_CONFIG) if transitions else None
    return around_probe(publisher, transitions, request.queue_arn, probe, remaining_ms=remaining)
