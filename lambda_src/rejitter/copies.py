"""What the rejitter does with each record, decided without AWS: copy it (to the queue, or to the
dead-letter queue when its deliveries over all copies reach maxReceiveCount) or hide it, and the
copy's message attributes and sqscb-origin."""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.log import get_logger
from common.origin import ATTRIBUTE as ORIGIN_ATTRIBUTE
from common.origin import Origin
from common.origin import read as read_origin
from rejitter_config import Redrive, whole_number

log = get_logger("sqs-circuit-breaker.rejitter")

# Written by earlier versions; dropped from the copies (it carried no delivery count).
LEGACY_PASSES_ATTRIBUTE = "sqscb-rejitter-passes"


MAX_MESSAGE_ATTRIBUTES = 10  # SQS limit per message


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


class RecordError(ValueError):
    """One record cannot be re-sent as it is (left in the queue, reported as a failure)."""


def _system_int(record: Mapping[str, Any], name: str, low: int) -> int:
    value = (record.get("attributes") or {}).get(name)
    number = whole_number(value)
    if number is None or number < low:
        raise RecordError(f"attributes.{name} is missing or not an integer >= {low}: {value!r}")
    return number


def previous_origin(record: Mapping[str, Any]) -> Origin | None:
    """The record's sqscb-origin (event source mapping form), or None (see common.origin.read)."""
    return read_origin(record.get("messageAttributes"), record["messageId"], log)


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
    attributes[ORIGIN_ATTRIBUTE] = origin.to_attribute()
    return attributes


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
