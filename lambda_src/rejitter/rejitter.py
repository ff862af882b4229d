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

import base64
import binascii
import json
import math
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from common import aws
from common.env import ConfigError, bounded_int, required_str
from common.log import get_logger

log = get_logger("sqs-circuit-breaker.rejitter")

ORIGIN_ATTRIBUTE = "sqscb-origin"
ORIGIN_VERSION = 1
# Written by earlier versions; dropped from the copies (it carried no delivery count).
LEGACY_PASSES_ATTRIBUTE = "sqscb-rejitter-passes"
MAX_MESSAGE_ATTRIBUTES = 10  # SQS limit per message
MAX_BATCH_ENTRIES = 10  # SendMessageBatch limit
MAX_DELAY_SECONDS = 900  # SQS DelaySeconds limit
BATCH_TOO_LONG = "BatchRequestTooLong"
DEFAULT_WINDOW_SECONDS = 300
MAX_WINDOW_SECONDS = 43200
# A copy of this window is hidden until its window is surely over: WINDOW_SECONDS after it was
# sent, plus this margin for the state machine's delay in disabling the mapping.
WINDOW_MARGIN_SECONDS = 30
# SQS refuses a visibility timeout reaching beyond 12 h after the message's receive; the ESM
# received it a little before this invocation, hence the margin. A copy hidden for less than the
# rest of a long window is simply hidden again when it reappears.
MAX_HIDE_SECONDS = 43200 - 900
# A copy's SentTimestamp is set by SQS while the rejitter sends it, at most a function timeout
# (Lambda's maximum: 900 s) after resentMs; one more minute for clock skew. A message sent later
# carries a sqscb-origin it did not get from the rejitter (e.g. a dead-letter queue redrive,
# which SQS treats as a new message): its deliveries count afresh, as SQS counts them.
OWN_COPY_TOLERANCE_MS = 960_000


class RejitterConfigError(ConfigError):
    """Invalid configuration (environment variable) or a queue the rejitter cannot serve."""


class RejitterEventError(ValueError):
    """The ESM event is malformed; the whole batch fails and SQS delivers it again."""


class RedrivePolicyError(RuntimeError):
    """The queue's RedrivePolicy cannot be read; the whole batch fails and is delivered again."""


class RecordError(ValueError):
    """One record cannot be re-sent as it is (left in the queue, reported as a failure)."""


@dataclass(frozen=True)
class RejitterConfig:
    queue_url: str
    min_delay: int
    max_delay: int
    window_seconds: int = DEFAULT_WINDOW_SECONDS


@dataclass(frozen=True)
class Redrive:
    """The protected queue's redrive policy."""

    dlq_arn: str
    dlq_url: str
    max_receive_count: int


@dataclass(frozen=True)
class Origin:
    """The ``sqscb-origin`` attribute: what SQS resets when the rejitter re-sends a message."""

    id: str  # MessageId of the very first message
    sent_ms: int  # SentTimestamp of the very first send (epoch ms)
    receives: int  # deliveries of all the previous incarnations
    resent_ms: int  # when this copy was sent (epoch ms)
    passes: int  # copies made by the rejitter so far

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": ORIGIN_VERSION,
                "id": self.id,
                "sentMs": self.sent_ms,
                "receives": self.receives,
                "resentMs": self.resent_ms,
                "passes": self.passes,
            },
            separators=(",", ":"),
        )


def load_config(env: Mapping[str, str]) -> RejitterConfig:
    queue_url = required_str(env, "QUEUE_URL")
    if queue_url.endswith(".fifo"):
        raise RejitterConfigError(
            "QUEUE_URL",
            f"{queue_url} is a FIFO queue; SQS refuses per-message DelaySeconds on FIFO queues,"
            " so the rejitter cannot serve it",
        )
    min_delay = bounded_int(env, "MIN_DELAY_SECONDS", 0, 0, MAX_DELAY_SECONDS)
    max_delay = bounded_int(env, "MAX_DELAY_SECONDS", MAX_DELAY_SECONDS, 0, MAX_DELAY_SECONDS)
    if min_delay > max_delay:
        raise RejitterConfigError(
            "MIN_DELAY_SECONDS",
            f"must not exceed MAX_DELAY_SECONDS ({min_delay} > {max_delay})",
        )
    window = bounded_int(env, "WINDOW_SECONDS", DEFAULT_WINDOW_SECONDS, 1, MAX_WINDOW_SECONDS)
    return RejitterConfig(
        queue_url=queue_url, min_delay=min_delay, max_delay=max_delay, window_seconds=window
    )


# ---- Redrive policy -----------------------------------------------------------------------------
def _whole_number(value: Any) -> int | None:
    """An int, or a string of decimal digits, as an int; None for anything else (bool too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


def dlq_url(queue_url: str, dlq_arn: str) -> str:
    """URL of the dead-letter queue: SQS requires it in the queue's account and region, so it is
    the queue's URL with its last path segment replaced by the DLQ's name."""
    return queue_url.rstrip("/").rsplit("/", 1)[0] + "/" + dlq_arn.rsplit(":", 1)[-1]


def parse_redrive_policy(raw: Any, queue_url: str) -> Redrive | None:
    """The RedrivePolicy attribute (JSON) -> Redrive; None when the queue has none."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    problem = f"the RedrivePolicy of {queue_url} is not usable: {raw!r}"
    try:
        policy = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise RedrivePolicyError(problem + " (not JSON)") from None
    if not isinstance(policy, Mapping):
        raise RedrivePolicyError(problem + " (not a JSON object)")
    arn = policy.get("deadLetterTargetArn")
    if not isinstance(arn, str) or len(arn.split(":")) < 6 or not arn.rsplit(":", 1)[-1]:
        raise RedrivePolicyError(problem + " (deadLetterTargetArn is not a queue ARN)")
    max_receive_count = _whole_number(policy.get("maxReceiveCount"))
    if max_receive_count is None or max_receive_count < 1:
        raise RedrivePolicyError(problem + " (maxReceiveCount is not a positive integer)")
    return Redrive(
        dlq_arn=arn, dlq_url=dlq_url(queue_url, arn), max_receive_count=max_receive_count
    )


def load_redrive(sqs: Any, queue_url: str) -> Redrive | None:
    """Read the queue's redrive policy; RedrivePolicyError (for the whole batch) if impossible."""
    try:
        response = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
    except Exception as exc:
        raise RedrivePolicyError(
            f"cannot read the RedrivePolicy of {queue_url} ({aws.error_message(exc)}): the"
            " rejitter must know it to send spent messages to the dead-letter queue instead of"
            " re-sending them; the whole batch fails and is delivered again, nothing is deleted"
            " (the function needs sqs:GetQueueAttributes on the queue)"
        ) from exc
    return parse_redrive_policy((response.get("Attributes") or {}).get("RedrivePolicy"), queue_url)


# ---- The sqscb-origin attribute -----------------------------------------------------------------
def read_origin(esm_attribute: Any) -> Origin:
    """The record's sqscb-origin (ESM form); ValueError saying why it is unusable."""
    if not isinstance(esm_attribute, Mapping) or esm_attribute.get("dataType") != "String":
        raise ValueError("is not a String attribute")
    text = esm_attribute.get("stringValue")
    if not isinstance(text, str):
        raise ValueError("has no string value")
    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError("is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("is not a JSON object")
    if _strict_int(data.get("v")) != ORIGIN_VERSION:
        raise ValueError(f"has no version {ORIGIN_VERSION}")
    if not isinstance(data.get("id"), str) or not data["id"]:
        raise ValueError("has no id")
    numbers: dict[str, int] = {}
    for key, low in (("sentMs", 0), ("receives", 0), ("resentMs", 0), ("passes", 1)):
        value = _strict_int(data.get(key))
        if value is None or value < low:
            raise ValueError(f"has no {key} integer >= {low}")
        numbers[key] = value
    return Origin(
        id=data["id"],
        sent_ms=numbers["sentMs"],
        receives=numbers["receives"],
        resent_ms=numbers["resentMs"],
        passes=numbers["passes"],
    )


def _strict_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _system_int(record: Mapping[str, Any], name: str, low: int) -> int:
    value = (record.get("attributes") or {}).get(name)
    number = _whole_number(value)
    if number is None or number < low:
        raise RecordError(f"attributes.{name} is missing or not an integer >= {low}: {value!r}")
    return number


def previous_origin(record: Mapping[str, Any]) -> Origin | None:
    """The record's sqscb-origin; None when it has none or an unusable one (logged)."""
    attribute = (record.get("messageAttributes") or {}).get(ORIGIN_ATTRIBUTE)
    if attribute is None:
        return None
    try:
        return read_origin(attribute)
    except ValueError as exc:
        log.warning(
            f"{ORIGIN_ATTRIBUTE} attribute is unusable; the message is treated as an original",
            messageId=record["messageId"],
            problem=f"{ORIGIN_ATTRIBUTE} {exc}",
        )
        return None


def is_own_copy(record: Mapping[str, Any], origin: Origin) -> bool:
    """Whether this message is the copy the rejitter sent when it wrote ``origin``."""
    return _system_int(record, "SentTimestamp", 0) - origin.resent_ms <= OWN_COPY_TOLERANCE_MS


def next_origin(record: Mapping[str, Any], previous: Origin | None, now_ms: int) -> Origin:
    """The sqscb-origin of the record's copy sent at ``now_ms``.

    The rejitter's own receive is not a delivery to the function, hence the ``- 1``.
    """
    deliveries = _system_int(record, "ApproximateReceiveCount", 1) - 1
    if previous is None:
        return Origin(
            id=record["messageId"],
            sent_ms=_system_int(record, "SentTimestamp", 0),
            receives=deliveries,
            resent_ms=now_ms,
            passes=1,
        )
    earlier = previous.receives if is_own_copy(record, previous) else 0
    return Origin(
        id=previous.id,
        sent_ms=previous.sent_ms,
        receives=earlier + deliveries,
        resent_ms=now_ms,
        passes=previous.passes + 1,
    )


# ---- What to do with each record ----------------------------------------------------------------
@dataclass(frozen=True)
class Copy:
    """Copy the record: re-send it to the queue, or to the dead-letter queue."""

    origin: Origin  # the copy's sqscb-origin
    dead_letter: bool


@dataclass(frozen=True)
class Hide:
    """Do not copy the record: leave it in the queue, invisible for ``seconds``."""

    seconds: int
    reason: str


def visibility_seconds(seconds: float) -> int:
    """A visibility timeout SQS accepts: at least 1 s, at most MAX_HIDE_SECONDS."""
    return min(MAX_HIDE_SECONDS, max(1, math.ceil(seconds)))


def window_ms(window_seconds: int) -> int:
    """How long after its send a copy belongs to the current window (window + margin)."""
    return (window_seconds + WINDOW_MARGIN_SECONDS) * 1000


def plan_record(
    record: Mapping[str, Any], *, window_seconds: int, redrive: Redrive | None, now_ms: int
) -> Copy | Hide:
    """Decide what becomes of one record (pure apart from logging); RecordError if unusable."""
    previous = previous_origin(record)
    if (
        previous is not None
        and now_ms - previous.resent_ms < window_ms(window_seconds)
        and is_own_copy(record, previous)
    ):
        remaining_ms = previous.resent_ms + window_ms(window_seconds) - now_ms
        return Hide(visibility_seconds(remaining_ms / 1000), "copy of this rejitter window")
    own_attributes = [
        name
        for name in record.get("messageAttributes") or {}
        if name not in (ORIGIN_ATTRIBUTE, LEGACY_PASSES_ATTRIBUTE)
    ]
    if len(own_attributes) >= MAX_MESSAGE_ATTRIBUTES:
        log.warning(
            f"message cannot carry {ORIGIN_ATTRIBUTE} (it has 10 message attributes already) and"
            " a copy without it would restart its receive count: it is not re-sent but left in"
            " the queue, hidden until the window is over",
            messageId=record["messageId"],
        )
        return Hide(
            visibility_seconds(window_seconds + WINDOW_MARGIN_SECONDS),
            f"no room for {ORIGIN_ATTRIBUTE}",
        )
    origin = next_origin(record, previous, now_ms)
    spent = redrive is not None and origin.receives >= redrive.max_receive_count
    return Copy(origin, dead_letter=spent)


# ---- Records -> SendMessageBatch entries --------------------------------------------------------
def _b64decode(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise RecordError(f"{where} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RecordError(f"{where} is not valid base64") from None


def send_attribute(name: str, esm_attribute: Any) -> dict[str, Any]:
    """ESM message attribute -> SendMessage MessageAttributeValue (binary values decoded)."""
    if not isinstance(esm_attribute, Mapping) or not isinstance(esm_attribute.get("dataType"), str):
        raise RecordError(f"message attribute {name!r} has no dataType")
    out: dict[str, Any] = {"DataType": esm_attribute["dataType"]}
    if esm_attribute.get("stringValue") is not None:
        out["StringValue"] = esm_attribute["stringValue"]
    if esm_attribute.get("binaryValue") is not None:
        out["BinaryValue"] = _b64decode(esm_attribute["binaryValue"], f"{name}.binaryValue")
    # SQS reserves the list values ("not implemented"); the ESM always writes them empty. Carry
    # them over only if ever set, since SQS may refuse the keys otherwise.
    if esm_attribute.get("stringListValues"):
        out["StringListValues"] = list(esm_attribute["stringListValues"])
    if esm_attribute.get("binaryListValues"):
        out["BinaryListValues"] = [
            _b64decode(v, f"{name}.binaryListValues") for v in esm_attribute["binaryListValues"]
        ]
    if len(out) == 1:
        raise RecordError(f"message attribute {name!r} has no value")
    return out


def send_attributes(
    esm_attributes: Mapping[str, Any] | None, origin: Origin
) -> dict[str, dict[str, Any]]:
    """The record's own attributes (not the rejitter's) plus the copy's sqscb-origin."""
    attributes = {
        name: send_attribute(name, value)
        for name, value in (esm_attributes or {}).items()
        if name not in (ORIGIN_ATTRIBUTE, LEGACY_PASSES_ATTRIBUTE)
    }
    attributes[ORIGIN_ATTRIBUTE] = {"DataType": "String", "StringValue": origin.to_json()}
    return attributes


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


def build_entry(
    record: Mapping[str, Any], entry_id: str, origin: Origin, delay: int | None
) -> dict[str, Any]:
    """A SendMessageBatch entry copying the record; no DelaySeconds when ``delay`` is None."""
    entry: dict[str, Any] = {"Id": entry_id, "MessageBody": record["body"]}
    if delay is not None:
        entry["DelaySeconds"] = delay
    entry["MessageAttributes"] = send_attributes(record.get("messageAttributes"), origin)
    trace_header = (record.get("attributes") or {}).get("AWSTraceHeader")
    if trace_header:
        entry["MessageSystemAttributes"] = {
            "AWSTraceHeader": {"DataType": "String", "StringValue": trace_header}
        }
    return entry


# ---- Sending and hiding -------------------------------------------------------------------------
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
    try:
        sqs.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )
    except Exception as exc:
        log.error(
            "ChangeMessageVisibility failed; the record stays in the queue and may be seen again"
            " in this window",
            messageId=record["messageId"],
            reason=reason,
            visibilityTimeout=seconds,
            error=aws.error_message(exc),
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


# ---- Lambda entry point -------------------------------------------------------------------------
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
