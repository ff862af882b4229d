"""The queue side of a probe: receive one message (one the mapping's filters admit), read the
queue's counts, delete a message or hand it back, and read a message's age and origin."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from common import aws
from common.aws import AWS_ERRORS
from common.log import get_logger
from common.origin import Origin
from common.origin import read as read_origin
from common.sqs import change_visibility
from esm_event import esm_record
from filters import FilterCheckError, first_admitted
from probe_input import LAMBDA_MAX_TIMEOUT_S, VISIBILITY_MARGIN_S, ProbeAwsError, ProbeRequest

log = get_logger("sqs-circuit-breaker.probe")

# SQS refuses a ChangeMessageVisibility that would keep a message invisible past 12 hours after
# the ReceiveMessage that returned it. The failure visibility is clamped to what is left of that,
# minus a margin for the ChangeMessageVisibility call itself.
SQS_MAX_VISIBILITY_S = 43200


VISIBILITY_LIMIT_MARGIN_S = 5


# Read when nothing was received, to tell an empty queue from one whose messages are hidden.
QUEUE_COUNT_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


RECEIPT_HANDLE_INVALID = frozenset({"ReceiptHandleIsInvalid", "InvalidReceiptHandle"})


# With FilterCriteria on the mapping: messages per ReceiveMessage, and receives per probe, while
# the probe looks for one that the filters admit (excluded ones stay hidden meanwhile, then are
# made visible again: the mapping deletes them itself when it resumes, as it always does).
FILTERED_RECEIVE_BATCH = 10


FILTERED_MAX_RECEIVES = 5


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
    except (*AWS_ERRORS, ValueError) as exc:
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
    error = change_visibility(sqs, queue_url, receipt_handle, visibility_timeout)
    if error:
        log.error(
            "could not change the probe message's visibility; it reappears when its visibility"
            " timeout expires",
            queueUrl=queue_url,
            error=error,
        )
    return error


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


def admitted_index(
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
            index = admitted_index(events_client, request, records)
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
        except AWS_ERRORS as exc:
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


def message_origin(message: Mapping[str, Any]) -> Origin | None:
    """The message's sqscb-origin (ReceiveMessage form), or None (see common.origin.read)."""
    return read_origin(message.get("MessageAttributes"), message.get("MessageId"), log)


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


def receive_count_of(attributes: Mapping[str, str]) -> int | None:
    try:
        return int(attributes["ApproximateReceiveCount"])
    except (KeyError, ValueError):
        return None
