"""Pure logic behind the Step Functions fidelity hook (no LocalStack imports)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

# One step of a definite JSONPath: `.name`, `['name']`, `["name"]` or a single index `[3]`.
_DEFINITE_STEP = re.compile(r"""\.(?![.*])[^.\[\]]+|\['[^']*'\]|\["[^"]*"\]|\[-?\d+\]""")


def is_definite_path(path: str) -> bool:
    """True when a JSONPath can match at most one node (Jayway's "definite" path: only single
    names and single indexes). Step Functions evaluates paths with Jayway JsonPath: a definite
    path yields its value, any other path (wildcard `[*]` or `.*`, slice, union, filter, deep
    scan `..`) yields a JSON array of every match, even of one match or none."""
    rest = path.strip()
    if rest.startswith("$$"):
        rest = rest[2:]
    elif rest.startswith("$"):
        rest = rest[1:]
    else:
        return True  # not a path: left to LocalStack
    while rest:
        step = _DEFINITE_STEP.match(rest)
        if step is None:
            return False
        rest = rest[step.end() :]
    return True


# ---- History quota -------------------------------------------------------------------------------
# AWS: "Step Functions has a hard quota of 25,000 entries in the execution event history. When an
# execution reaches 24,999 events, it waits for the next event to happen. If the event number
# 25,000 is ExecutionSucceeded, the execution finishes successfully. If the event number 25,000
# isn't ExecutionSucceeded, the ExecutionFailed event is logged and the state machine execution
# fails" (Step Functions developer guide, "Avoid reaching the history quota"), with error
# States.Runtime and this cause (as AWS reports it).
MAX_HISTORY_EVENTS = 25_000
HISTORY_LIMIT_ERROR = "States.Runtime"


def history_limit_cause(limit: int = MAX_HISTORY_EVENTS) -> str:
    return f"The execution reached the maximum number of history events ({limit})."


def history_limit_reached(next_event_id: int, limit: int) -> bool:
    """Whether the event about to get `next_event_id` is the last one the history can hold."""
    return next_event_id >= limit


# ---- GetExecutionHistory paging ------------------------------------------------------------------
# AWS: "maxResults: The maximum number of results that are returned per call. ... The default is
# 100 and the maximum allowed page size is 1000. A value of 0 uses the default."
HISTORY_PAGE_DEFAULT = 100
HISTORY_PAGE_MAX = 1000


def history_page(
    events: list, max_results: int | None, reverse: bool, next_token: str | None
) -> tuple[list, str | None]:
    """One page of an execution's history as AWS serves it: (events, nextToken or None).

    The token is the index of the next event in the chosen order (opaque to callers); a token
    that is not such an index raises ValueError (AWS: InvalidToken)."""
    ordered = list(reversed(events)) if reverse else list(events)
    size = max_results or HISTORY_PAGE_DEFAULT
    if not 0 < size <= HISTORY_PAGE_MAX:
        raise ValueError(f"maxResults must be between 0 and {HISTORY_PAGE_MAX}, got {size}")
    start = 0
    if next_token:
        if not next_token.isdigit() or int(next_token) > len(ordered):
            raise ValueError(f"invalid nextToken {next_token!r}")
        start = int(next_token)
    end = start + size
    return ordered[start:end], (str(end) if end < len(ordered) else None)


# ---- Timestamps ----------------------------------------------------------------------------------
# ASL: "Timestamps are strings which MUST conform to the RFC3339 profile of ISO 8601, with the
# further restrictions that an uppercase T MUST be used to separate date and time, and an
# uppercase Z MUST be present in the absence of a numeric time zone offset." Fractions of a second
# are part of RFC 3339 (and of every timestamp Step Functions itself produces).
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
)


def parse_timestamp(value: object) -> datetime | None:
    """An ASL timestamp as an aware UTC datetime, or None when `value` is not one."""
    if not isinstance(value, str):
        return None
    match = _RFC3339.match(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micros = int((fraction or ".0")[1:7].ljust(6, "0"))
    if zone == "Z":
        tz = UTC
    else:
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        parsed = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tz
        )
    except ValueError:
        return None
    return parsed.astimezone(UTC)


def sfn_timestamp(value: datetime) -> str:
    """A timestamp as Step Functions writes it (context object, AWS SDK integration results):
    UTC, milliseconds, Z, e.g. 2019-03-26T20:14:13.192Z."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def timestamps_to_strings(value: object) -> object:
    """`value` with every datetime (nested in dicts and lists) written as Step Functions writes
    it; dicts and lists are changed in place and returned."""
    if isinstance(value, datetime):
        return sfn_timestamp(value)
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = timestamps_to_strings(item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            value[index] = timestamps_to_strings(item)
    return value


# ---- An eventually consistent ListExecutions ---------------------------------------------------
# AWS: "This API action is eventually consistent. The results are best effort and may not reflect
# very recent updates and changes." (ListExecutions). The harness can serve such a view, per state
# machine, so that a test shows that nothing depends on the list being current.
def listed_as(
    status: str, start: datetime, stop: datetime | None, now: datetime, lag_seconds: float
) -> tuple[str, datetime | None] | None:
    """(status, stopDate) that a list `lag_seconds` behind shows for an execution, or None when
    it does not list the execution yet. DescribeExecution is never behind."""
    lag = timedelta(seconds=lag_seconds)
    if now - start < lag:
        return None
    if status != "RUNNING" and stop is not None and now - stop < lag:
        return "RUNNING", None
    return status, stop


# ---- AWS SDK integration error names -------------------------------------------------------------
# AWS: "If an AWS SDK integration encounters an error, the resulting Error field will be composed
# of the service name and the error name, separated by a period character: ServiceName.ErrorName.
# Both the service name and error name are in Pascal case ... include the Exception suffix"
# (Step Functions developer guide, "AWS SDK service integrations"; e.g. AcmPca.ResourceNot-
# FoundException). The service name is the AWS SDK for Java 2.x client's prefix, which is the
# service ID with every acronym in Pascal case: SQS -> Sqs, SFN -> Sfn, DynamoDB -> DynamoDb,
# ACM PCA -> AcmPca, CloudWatch -> CloudWatch. LocalStack took the service ID as it is (SQS.X,
# SNS.X, SSM.X), so a Retry written for AWS never matched on the emulator.
_PASCAL_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z][a-z]*|[a-z]+|\d+")


def aws_sdk_error_service(service_id: str) -> str:
    """The service part of an AWS SDK integration's error name, from the service's ID."""
    return "".join(w[:1].upper() + w[1:].lower() for w in _PASCAL_WORDS.findall(service_id))
