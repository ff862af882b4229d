"""The ``sqscb-origin`` message attribute: one codec for the Lambdas that write and read it.

When the rejitter re-sends a message, SQS gives the copy a new MessageId, SentTimestamp and
ApproximateReceiveCount. The copy carries what it lost in this String attribute, a JSON object:

    {"v": 1, "id": first MessageId, "sentMs": first SentTimestamp (epoch ms),
     "receives": deliveries of the earlier copies, "resentMs": when this copy was sent,
     "passes": copies made so far (>= 1)}

The rejitter writes it and reads it back (to keep counting); the probe reads it (the message's real
age for the retention guard, its first id in the result). Both read it with ``decode``, so a value
one accepts the other accepts. An unusable value raises ValueError saying why; callers log it and
treat the message as an original (nothing is lost: the message itself is still delivered).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ATTRIBUTE = "sqscb-origin"
VERSION = 1
# The integer fields and their lowest valid value.
_NUMBERS = (("sentMs", 0), ("receives", 0), ("resentMs", 0), ("passes", 1))


@dataclass(frozen=True)
class Origin:
    id: str  # MessageId of the very first message
    sent_ms: int  # SentTimestamp of the very first send (epoch ms)
    receives: int  # deliveries of all the previous copies
    resent_ms: int  # when this copy was sent (epoch ms)
    passes: int  # copies made by the rejitter so far

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": VERSION,
                "id": self.id,
                "sentMs": self.sent_ms,
                "receives": self.receives,
                "resentMs": self.resent_ms,
                "passes": self.passes,
            },
            separators=(",", ":"),
        )

    def to_attribute(self) -> dict[str, str]:
        """The attribute as SendMessage takes it."""
        return {"DataType": "String", "StringValue": self.to_json()}


def _strict_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def decode(attribute: Any) -> Origin:
    """The origin from the attribute as ReceiveMessage (``DataType``, ``StringValue``) or an event
    source mapping's record (``dataType``, ``stringValue``) gives it; ValueError saying why not."""
    if not isinstance(attribute, Mapping):
        raise ValueError("is not a String attribute")
    data_type = attribute.get("DataType", attribute.get("dataType"))
    if data_type != "String":
        raise ValueError("is not a String attribute")
    text = attribute.get("StringValue", attribute.get("stringValue"))
    if not isinstance(text, str):
        raise ValueError("has no string value")
    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError("is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("is not a JSON object")
    if _strict_int(data.get("v")) != VERSION:
        raise ValueError(f"has no version {VERSION}")
    if not isinstance(data.get("id"), str) or not data["id"]:
        raise ValueError("has no id")
    numbers: dict[str, int] = {}
    for key, low in _NUMBERS:
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


def read(attributes: Mapping[str, Any] | None, message_id: Any, log: Any) -> Origin | None:
    """The origin among a message's attributes (either form), or None: absent, or unusable (then
    logged as a warning: the message is treated as an original, judged by its own id and age)."""
    attribute = (attributes or {}).get(ATTRIBUTE)
    if attribute is None:
        return None
    try:
        return decode(attribute)
    except ValueError as exc:
        log.warning(
            f"{ATTRIBUTE} attribute is unusable; the message is treated as an original",
            messageId=message_id,
            error=f"{ATTRIBUTE} {exc}",
        )
        return None
