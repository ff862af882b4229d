"""Pure helpers of the request recorder (recorder.py): tested without LocalStack."""

from __future__ import annotations

import json
import re
from typing import Any

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


def access_key(authorization: str | None) -> str | None:
    """The access key id of a SigV4 `Authorization` header, or None."""
    match = _CREDENTIAL.search(authorization or "")
    return match.group(1) if match else None


def payload_records(payload: Any) -> int | None:
    """The number of records of an event source mapping's payload (`{"Records": [...]}`), or
    None for any other payload."""
    if payload is None:
        return None
    try:
        event = json.loads(payload)
    except (TypeError, ValueError):
        return None
    records = event.get("Records") if isinstance(event, dict) else None
    return len(records) if isinstance(records, list) else None
