"""Rejitter of the SQS circuit breaker.

Driven by its own (normally disabled) event source mapping on the protected queue, with
ReportBatchItemFailures. When the circuit closes it spreads the backlog out: every record is
sent again to the same queue with a random DelaySeconds, keeping its body, message attributes and
X-Ray trace header. A record is reported in batchItemFailures (so SQS keeps the original) unless
its copy was accepted by SQS; only then does the ESM delete the original. Nothing is lost; a
message may at worst be duplicated (at-least-once, as with SQS itself).
"""

from __future__ import annotations

import base64
import binascii
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from common import aws
from common.env import ConfigError, bounded_int, required_str
from common.log import get_logger

log = get_logger("sqs-circuit-breaker.rejitter")

PASSES_ATTRIBUTE = "sqscb-rejitter-passes"
MAX_MESSAGE_ATTRIBUTES = 10  # SQS limit per message
MAX_BATCH_ENTRIES = 10  # SendMessageBatch limit
MAX_DELAY_SECONDS = 900  # SQS DelaySeconds limit
BATCH_TOO_LONG = "BatchRequestTooLong"


class RejitterConfigError(ConfigError):
    """Invalid configuration (environment variable) or a queue the rejitter cannot serve."""


class RejitterEventError(ValueError):
    """The ESM event is malformed; the whole batch fails and SQS delivers it again."""


class RecordError(ValueError):
    """One record cannot be re-sent as it is (left in the queue, reported as a failure)."""


@dataclass(frozen=True)
class RejitterConfig:
    queue_url: str
    min_delay: int
    max_delay: int


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
    return RejitterConfig(queue_url=queue_url, min_delay=min_delay, max_delay=max_delay)


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


def _previous_passes(attribute: Mapping[str, Any] | None) -> int:
    if attribute is None:
        return 0
    try:
        return max(0, int(str(attribute.get("StringValue", "0"))))
    except ValueError:
        return 0


def send_attributes(
    esm_attributes: Mapping[str, Any] | None, message_id: str
) -> dict[str, dict[str, Any]]:
    """All the record's attributes, plus the pass counter incremented when there is room."""
    attributes = {
        name: send_attribute(name, value) for name, value in (esm_attributes or {}).items()
    }
    passes = _previous_passes(attributes.get(PASSES_ATTRIBUTE)) + 1
    if PASSES_ATTRIBUTE in attributes or len(attributes) < MAX_MESSAGE_ATTRIBUTES:
        attributes[PASSES_ATTRIBUTE] = {"DataType": "Number", "StringValue": str(passes)}
    else:
        log.warning(
            "message already has the maximum of 10 message attributes; re-sending it without"
            f" the {PASSES_ATTRIBUTE} counter",
            messageId=message_id,
        )
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


def build_entry(record: Mapping[str, Any], entry_id: str, delay: int) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "Id": entry_id,
        "MessageBody": record["body"],
        "DelaySeconds": delay,
        # Never empty: it holds at least the pass counter or the 10 original attributes.
        "MessageAttributes": send_attributes(record.get("messageAttributes"), record["messageId"]),
    }
    trace_header = (record.get("attributes") or {}).get("AWSTraceHeader")
    if trace_header:
        entry["MessageSystemAttributes"] = {
            "AWSTraceHeader": {"DataType": "String", "StringValue": trace_header}
        }
    return entry


# ---- Sending ------------------------------------------------------------------------------------
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
            "SQS refused a re-send; the record stays in the queue",
            entryId=failure.get("Id"),
            code=failure.get("Code"),
            senderFault=failure.get("SenderFault"),
            error=failure.get("Message"),
        )
    # Anything neither listed as successful nor as failed is treated as failed: never assume.
    succeeded = {s["Id"] for s in response.get("Successful") or []}
    return failed | ({e["Id"] for e in entries} - succeeded)


def rejitter(
    event: Any, *, sqs: Any, config: RejitterConfig, rng: random.Random
) -> dict[str, list[dict[str, str]]]:
    records = validate_records(event)
    failures: list[str] = []  # messageIds, in record order
    entries: list[dict[str, Any]] = []
    id_to_message: dict[str, str] = {}
    for index, record in enumerate(records):
        entry_id = f"r{index}"
        try:
            entry = build_entry(record, entry_id, rng.randint(config.min_delay, config.max_delay))
        except RecordError as exc:
            log.error(
                "record cannot be re-sent as it is; it stays in the queue",
                messageId=record["messageId"],
                error=str(exc),
            )
            failures.append(record["messageId"])
            continue
        entries.append(entry)
        id_to_message[entry_id] = record["messageId"]

    failed_ids: set[str] = set()
    for start in range(0, len(entries), MAX_BATCH_ENTRIES):
        failed_ids |= send_batch(sqs, config.queue_url, entries[start : start + MAX_BATCH_ENTRIES])
    failures.extend(id_to_message[e["Id"]] for e in entries if e["Id"] in failed_ids)

    log.info(
        "rejitter batch done",
        records=len(records),
        resent=len(records) - len(failures),
        failed=len(failures),
        minDelay=config.min_delay,
        maxDelay=config.max_delay,
    )
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}


# ---- Lambda entry point -------------------------------------------------------------------------
_config: RejitterConfig | None = None
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
        )
    return _config


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
    return rejitter(event, sqs=sqs, config=config, rng=_rng)


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):  # pragma: no cover - only inside Lambda
    # Fail the init phase itself on bad configuration: every invocation then reports it clearly.
    _cold_start_config()
