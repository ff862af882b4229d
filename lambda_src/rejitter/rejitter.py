"""Rejitter of the SQS circuit breaker.

Driven by its own (normally disabled) event source mapping on the protected queue, with
ReportBatchItemFailures. When the circuit closes it spreads the backlog out: every record is
sent again to the same queue with a random DelaySeconds, keeping its body, message attributes and
X-Ray trace header, plus the ``sqscb-origin`` attribute that carries what SQS resets on a new
message (first MessageId, first SentTimestamp, deliveries so far), so that:

* the queue's redrive policy still applies: a message whose deliveries over all its copies reach
  maxReceiveCount goes to the dead-letter queue instead of being re-sent;
* a copy is re-sent at most once per rejitter window: a copy of this window seen again is hidden
  (visibility timeout) until the window is over, and the main mapping then processes it.

A record is reported successful (so the ESM deletes the original) only when its copy, to the
queue or to the dead-letter queue, was accepted by SQS; every other record is reported in
batchItemFailures and SQS keeps it. Nothing is lost; a message may at worst be duplicated
(at-least-once, as with SQS itself).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from common import aws
from common.log import get_logger
from common.origin import Origin
from common.sqs import change_visibility
from copies import (
    WINDOW_MARGIN_SECONDS,
    Hide,
    RecordError,
    build_entry,
    plan_record,
    visibility_seconds,
)
from rejitter_config import Redrive, RejitterConfig, RejitterConfigError, load_config, load_redrive

log = get_logger("sqs-circuit-breaker.rejitter")


MAX_BATCH_ENTRIES = 10  # SendMessageBatch limit


BATCH_TOO_LONG = "BatchRequestTooLong"


class RejitterEventError(ValueError):
    """The ESM event is malformed; the whole batch fails and SQS delivers it again."""


def validate_records(event: Any) -> list[Mapping[str, Any]]:
    """The event's records; raise RejitterEventError / RejitterConfigError for the whole batch."""
    if not isinstance(event, Mapping) or not isinstance(event.get("Records"), list):
        raise RejitterEventError("event must be an SQS ESM event with a Records list")
    records = event["Records"]
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise RejitterEventError(f"Records[{index}] is not an object")
        if not isinstance(record.get("messageId"), str) or not record["messageId"]:
            raise RejitterEventError(f"Records[{index}].messageId is missing or not a string")
        if not isinstance(record.get("body"), str):
            raise RejitterEventError(
                f"Records[{index}].body is missing or not a string"
                f" (messageId {record['messageId']})"
            )
        source_arn = record.get("eventSourceARN")
        if isinstance(source_arn, str) and source_arn.endswith(".fifo"):
            raise RejitterConfigError(
                "QUEUE_URL",
                f"record {record['messageId']} comes from FIFO queue {source_arn}; SQS refuses"
                " per-message DelaySeconds on FIFO queues, so the rejitter cannot serve it",
            )
    return records


def send_batch(sqs: Any, queue_url: str, entries: Sequence[Mapping[str, Any]]) -> set[str]:
    """Send up to 10 entries; return the Ids of the entries SQS did NOT accept.

    A call that raises fails all of its entries, except when the batch is too long in bytes:
    then it is split in halves so that the entries which fit still go through.
    """
    try:
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=list(entries))
    except Exception as exc:
        if aws.error_code(exc) == BATCH_TOO_LONG and len(entries) > 1:
            middle = len(entries) // 2
            return send_batch(sqs, queue_url, entries[:middle]) | send_batch(
                sqs, queue_url, entries[middle:]
            )
        log.error(
            "SendMessageBatch failed; its records stay in the queue",
            queueUrl=queue_url,
            entryIds=[e["Id"] for e in entries],
            error=aws.error_message(exc),
        )
        return {e["Id"] for e in entries}
    failed = {f["Id"] for f in response.get("Failed") or []}
    for failure in response.get("Failed") or []:
        log.error(
            "SQS refused a copy; the record stays in the queue",
            queueUrl=queue_url,
            entryId=failure.get("Id"),
            code=failure.get("Code"),
            senderFault=failure.get("SenderFault"),
            error=failure.get("Message"),
        )
    # Anything neither listed as successful nor as failed is treated as failed: never assume.
    succeeded = {s["Id"] for s in response.get("Successful") or []}
    return failed | ({e["Id"] for e in entries} - succeeded)


def send_all(sqs: Any, queue_url: str, entries: Sequence[Mapping[str, Any]]) -> set[str]:
    """Send entries 10 a call; return the Ids of those SQS did not accept."""
    failed: set[str] = set()
    for start in range(0, len(entries), MAX_BATCH_ENTRIES):
        failed |= send_batch(sqs, queue_url, entries[start : start + MAX_BATCH_ENTRIES])
    return failed


def hide(sqs: Any, queue_url: str, record: Mapping[str, Any], seconds: int, reason: str) -> bool:
    """Make the record invisible for ``seconds`` (it stays in the queue); False if that failed."""
    receipt_handle = record.get("receiptHandle")
    if not isinstance(receipt_handle, str) or not receipt_handle:
        log.error(
            "record has no receiptHandle and cannot be hidden; it stays in the queue and may be"
            " seen again in this window",
            messageId=record["messageId"],
            reason=reason,
        )
        return False
    error = change_visibility(sqs, queue_url, receipt_handle, seconds)
    if error:
        log.error(
            "ChangeMessageVisibility failed; the record stays in the queue and may be seen again"
            " in this window",
            messageId=record["messageId"],
            reason=reason,
            visibilityTimeout=seconds,
            error=error,
        )
        return False
    log.debug(
        "record left in the queue, hidden",
        messageId=record["messageId"],
        reason=reason,
        visibilityTimeout=seconds,
    )
    return True


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _entry_index(entry: Mapping[str, Any]) -> int:
    return int(entry["Id"][1:])  # entry Id r<record index>


def rejitter(
    event: Any,
    *,
    sqs: Any,
    config: RejitterConfig,
    rng: random.Random,
    redrive: Redrive | None = None,
    now_ms: Callable[[], int] = wall_clock_ms,
) -> dict[str, list[dict[str, str]]]:
    records = validate_records(event)
    now = now_ms()
    failed: set[int] = set()  # indexes of the records reported in batchItemFailures
    to_hide: list[tuple[int, Hide]] = []
    resend: list[dict[str, Any]] = []
    dead_letter: list[tuple[dict[str, Any], Origin]] = []
    for index, record in enumerate(records):
        entry_id = f"r{index}"
        try:
            plan = plan_record(
                record, window_seconds=config.window_seconds, redrive=redrive, now_ms=now
            )
            if isinstance(plan, Hide):
                to_hide.append((index, plan))
            elif plan.dead_letter:
                dead_letter.append((build_entry(record, entry_id, plan.origin, None), plan.origin))
            else:
                delay = rng.randint(config.min_delay, config.max_delay)
                resend.append(build_entry(record, entry_id, plan.origin, delay))
        except RecordError as exc:
            log.error(
                "record cannot be re-sent as it is; it stays in the queue",
                messageId=record["messageId"],
                error=str(exc),
            )
            failed.add(index)

    failed_ids = send_all(sqs, config.queue_url, resend)
    not_resent = {_entry_index(e) for e in resend if e["Id"] in failed_ids}
    failed |= not_resent
    resent = len(resend) - len(not_resent)

    dead_lettered = 0
    if redrive is not None and dead_letter:
        failed_ids = send_all(sqs, redrive.dlq_url, [entry for entry, _ in dead_letter])
        for entry, origin in dead_letter:
            index = _entry_index(entry)
            fields = {
                "messageId": records[index]["messageId"],
                "originId": origin.id,
                "receives": origin.receives,
                "maxReceiveCount": redrive.max_receive_count,
                "deadLetterQueueArn": redrive.dlq_arn,
            }
            if entry["Id"] not in failed_ids:
                log.info("message moved to the dead-letter queue", **fields)
                dead_lettered += 1
                continue
            log.error(
                "could not move a message to the dead-letter queue; it stays in the queue, hidden"
                " until the window is over",
                **fields,
            )
            seconds = visibility_seconds(config.window_seconds + WINDOW_MARGIN_SECONDS)
            to_hide.append((index, Hide(seconds, "the dead-letter queue refused it")))

    hidden = 0
    for index, plan in to_hide:
        hidden += hide(sqs, config.queue_url, records[index], plan.seconds, plan.reason)
        failed.add(index)  # not copied: never deleted, whether hiding worked or not

    log.info(
        "rejitter batch done",
        records=len(records),
        resent=resent,
        deadLettered=dead_lettered,
        hidden=hidden,
        failed=len(failed),
        minDelay=config.min_delay,
        maxDelay=config.max_delay,
        windowSeconds=config.window_seconds,
    )
    return {
        "batchItemFailures": [
            {"itemIdentifier": records[index]["messageId"]} for index in sorted(failed)
        ]
    }


_config: RejitterConfig | None = None


_redrive_cache: dict[str, Redrive | None] = {}  # queue URL -> its redrive policy


_rng = random.SystemRandom()


def _cold_start_config() -> RejitterConfig:
    """Configuration read and validated once per container, on its first invocation."""
    global _config  # noqa: PLW0603 - once-per-container cache
    if _config is None:
        _config = load_config(os.environ)
        log.info(
            "rejitter configured",
            queueUrl=_config.queue_url,
            minDelay=_config.min_delay,
            maxDelay=_config.max_delay,
            windowSeconds=_config.window_seconds,
        )
    return _config


def _cold_start_redrive(sqs: Any, queue_url: str) -> Redrive | None:
    """The queue's redrive policy, read once per container (a failed read is retried)."""
    if queue_url not in _redrive_cache:
        redrive = load_redrive(sqs, queue_url)
        _redrive_cache[queue_url] = redrive
        log.info(
            "redrive policy read",
            queueUrl=queue_url,
            deadLetterQueueArn=redrive.dlq_arn if redrive else None,
            maxReceiveCount=redrive.max_receive_count if redrive else None,
        )
    return _redrive_cache[queue_url]


def queue_region(queue_url: str) -> str | None:
    """Region named by an SQS queue URL; None (the function's own region) when it names none.

    Forms: https://sqs.<region>.amazonaws.com/..., legacy https://<region>.queue.amazonaws.com/...
    """
    host = queue_url.split("://", 1)[-1].split("/", 1)[0]
    parts = host.split(".")
    if len(parts) >= 3 and parts[0] == "sqs":
        return parts[1]
    if len(parts) >= 3 and parts[1] == "queue":
        return parts[0]
    return None


def handler(event: Any, context: Any) -> dict[str, list[dict[str, str]]]:
    config = _cold_start_config()
    sqs = aws.client("sqs", queue_region(config.queue_url))
    redrive = _cold_start_redrive(sqs, config.queue_url)
    return rejitter(event, sqs=sqs, config=config, rng=_rng, redrive=redrive, now_ms=wall_clock_ms)


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):  # pragma: no cover - only inside Lambda
    # Fail the init phase itself on bad configuration: every invocation then reports it clearly.
    _cold_start_config()
