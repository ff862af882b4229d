"""The event the probe gives the protected function: exactly what the SQS event source
mapping would give it (one record of the ESM shape), for a real message or a synthetic one."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from common.log import get_logger

log = get_logger("sqs-circuit-breaker.probe")

SYNTHETIC_SENDER_ID = "sqs-circuit-breaker-probe"


SYNTHETIC_RECEIPT_PREFIX = "sqs-circuit-breaker-synthetic:"


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
