"""The event source mapping's FilterCriteria, judged as Lambda judges them for SQS.

The mapping never gives the function a message that none of its filters admits; for SQS it deletes
such a message ("if a message doesn't satisfy your filter criteria, Lambda automatically removes
the message from the queue", Lambda developer guide, "Filtering events from an Amazon SQS event
source"). The probe must see the queue as the function does: it never invokes the function with an
excluded message (a false unhealthy verdict on a shared queue, or a side effect the function was
never meant to have).

How Lambda judges a record (Lambda developer guide, "Control which events Lambda sends to your
function"):

- Filters are ORed: a record passes when any filter's pattern matches it; with no filter, every
  record passes.
- Patterns use EventBridge's pattern language ("Lambda supports the Amazon EventBridge rules and
  uses the same syntax as EventBridge").
- The body's format decides first, for a pattern with a top-level ``body`` key: a plain-string body
  with a pattern for JSON properties, or a JSON body with a plain-string pattern, is dropped; a
  plain-string body is matched as a string, a JSON body by its properties.

The matching itself is EventBridge's own implementation, called through TestEventPattern (AWS's
maintained implementation of the language, not a home-made matcher): the record goes into an
event's ``detail``, the pattern under ``detail``. The body is spliced into the event as its raw
JSON text, so a number keeps the representation Lambda compares (300 and 300.0 differ).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from common import aws
from common.aws import AWS_ERRORS

# The envelope TestEventPattern requires ("the following fields are mandatory: id, account,
# source, time, region, resources, detail-type").
ENVELOPE_SOURCE = "sqs-circuit-breaker.probe"
ENVELOPE_DETAIL_TYPE = "SQS message (event source mapping filter check)"
_BODY_PLACEHOLDER = "\u0000sqscb-body\u0000"


class FilterConfigError(ValueError):
    """The mapping's filters cannot be used (unreadable, or not patterns)."""


class FilterCheckError(RuntimeError):
    """TestEventPattern failed: the probe cannot tell whether the mapping admits a message."""


@dataclass(frozen=True)
class Filters:
    """The mapping's filter patterns, parsed (an empty tuple: every message passes)."""

    patterns: tuple[dict[str, Any], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.patterns)


def parse_filters(mapping: Mapping[str, Any] | None) -> Filters:
    """The patterns of a GetEventSourceMapping response (as the state machine remembered it).

    A mapping whose filters are encrypted with a customer managed key and could not be decrypted
    for the state machine has FilterCriteriaError instead of FilterCriteria: the probe cannot judge
    as the mapping does, so it refuses to guess."""
    if not mapping:
        return Filters()
    error = mapping.get("FilterCriteriaError")
    if error:
        raise FilterConfigError(
            f"the mapping's FilterCriteria could not be read ({error.get('ErrorCode')}:"
            f" {error.get('Message')}): the probe cannot tell which messages the mapping admits."
            " Grant the state machine's role kms:Decrypt on the mapping's KMSKeyArn"
            f" ({mapping.get('KMSKeyArn')})"
        )
    criteria = mapping.get("FilterCriteria") or {}
    patterns = []
    for index, item in enumerate(criteria.get("Filters") or []):
        text = item.get("Pattern") if isinstance(item, Mapping) else None
        if not isinstance(text, str):
            raise FilterConfigError(f"FilterCriteria.Filters[{index}] has no Pattern string")
        try:
            pattern = json.loads(text)
        except ValueError:
            raise FilterConfigError(
                f"FilterCriteria.Filters[{index}].Pattern is not JSON: {text[:200]!r}"
            ) from None
        if not isinstance(pattern, dict):
            raise FilterConfigError(f"FilterCriteria.Filters[{index}].Pattern is not an object")
        patterns.append(pattern)
    return Filters(tuple(patterns))


def body_is_json(body: str) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def body_format_admits(pattern: Mapping[str, Any], body: str) -> bool:
    """Lambda's body-format rule: a pattern for JSON properties (an object under "body") needs a
    JSON body; a plain-string pattern (a list under "body") needs a body that is not JSON. A
    pattern without a top-level "body" key skips the check."""
    if "body" not in pattern:
        return True
    wanted = pattern["body"]
    if isinstance(wanted, Mapping):
        return body_is_json(body)
    return not body_is_json(body)


def filter_event(record: Mapping[str, Any], *, account: str, region: str) -> str:
    """The TestEventPattern event for an ESM record: the record as `detail`, its body the raw
    JSON text when it is JSON (else the string)."""
    body = record.get("body", "")
    detail = dict(record)
    json_body = body_is_json(body)
    detail["body"] = _BODY_PLACEHOLDER if json_body else body
    envelope = {
        "id": record.get("messageId") or "probe",
        "account": account,
        "source": ENVELOPE_SOURCE,
        "time": "1970-01-01T00:00:00Z",
        "region": region,
        "resources": [],
        "detail-type": ENVELOPE_DETAIL_TYPE,
        "detail": detail,
    }
    text = json.dumps(envelope, separators=(",", ":"))
    if json_body:
        text = text.replace(json.dumps(_BODY_PLACEHOLDER), body, 1)
    return text


def admits(
    events_client: Any,
    filters: Filters,
    record: Mapping[str, Any],
    *,
    account: str,
    region: str,
) -> bool:
    """Whether the mapping would give the function this record (True with no filters)."""
    if not filters:
        return True
    body = record.get("body", "")
    event: str | None = None
    for pattern in filters.patterns:
        if not body_format_admits(pattern, body):
            continue
        if event is None:
            event = filter_event(record, account=account, region=region)
        try:
            result = events_client.test_event_pattern(
                EventPattern=json.dumps({"detail": pattern}, separators=(",", ":")), Event=event
            )
        except AWS_ERRORS as exc:
            raise FilterCheckError(
                f"TestEventPattern failed ({aws.error_message(exc)}): cannot tell whether the"
                " mapping's filters admit the message"
            ) from exc
        if result.get("Result"):
            return True
    return False


def first_admitted(
    events_client: Any,
    filters: Filters,
    records: Sequence[Mapping[str, Any]],
    *,
    account: str,
    region: str,
) -> int | None:
    """The index of the first record the mapping admits, or None."""
    for index, record in enumerate(records):
        if admits(events_client, filters, record, account=account, region=region):
            return index
    return None
