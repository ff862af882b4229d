"""Pure rules of the fault injector (faults.py): tested without LocalStack.

A rule says which calls fail and how:

    {"service": "lambda", "operation": "UpdateEventSourceMapping",
     "principal": "role/*-cb-sfn",          # glob on the caller's identity (default "*")
     "target": "orders-queue",              # optional: a text the request's parameters contain
     "error": "TooManyRequestsException",   # a code of ERRORS (or {"code", "status", "message"})
     "after": 0,                            # matching calls let through first
     "times": 1,                            # failures, then the rule is spent (null: for good)
     "start": 1767000000.0, "end": ...,     # optional window (epoch seconds)
     "kind": "error"}                       # or "partial" (SendMessageBatch: `entries` fail)
                                            # or "delay" (`seconds` before the call is served)

A caller's identity is `role/<name>` for a role's credentials (a Lambda's execution role, a state
machine's or an EventBridge target's role), `service/<principal>` for a service's own delivery
(CloudWatch alarm actions, EventBridge targets without a role), `user` for the tests' keys.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

# AWS's error for a fault, by service and code: (HTTP status, message). The codes are the
# services' own (the botocore service models' exception shapes, or the common errors every
# service can return: ThrottlingException, ServiceUnavailable, InternalFailure); the status is
# the one AWS sends, so the SDKs' retry classification (throttle, transient 5xx) sees what it
# would see on AWS.
ERRORS: dict[str, dict[str, tuple[int, str]]] = {
    "lambda": {
        "TooManyRequestsException": (429, "Rate exceeded"),
        "ServiceException": (500, "An internal error occurred"),
        "ResourceInUseException": (
            400,
            "Cannot update the event source mapping because it is in use.",
        ),
        "ResourceConflictException": (
            409,
            "The operation cannot be performed at this time. An update is in progress.",
        ),
        "KMSAccessDeniedException": (502, "Lambda was unable to decrypt the environment."),
        "ExpiredTokenException": (403, "The security token included in the request is expired"),
    },
    "sqs": {
        "RequestThrottled": (400, "Request is throttled."),
        "KmsThrottled": (400, "The request was denied due to request throttling."),
        "ServiceUnavailable": (503, "The request has failed due to a temporary failure."),
        "InternalFailure": (500, "The request processing has failed because of an unknown error."),
        "KmsDisabled": (400, "The request was rejected because the specified key is disabled."),
        "ExpiredToken": (403, "The security token included in the request is expired"),
    },
    "sns": {
        "Throttled": (429, "Rate exceeded"),
        "InternalError": (500, "An internal service error occurred."),
        "KMSDisabled": (400, "The request was rejected because the specified key is disabled."),
        "ServiceUnavailable": (503, "Service Unavailable"),
    },
    "stepfunctions": {
        "ThrottlingException": (400, "Rate exceeded"),
        "ServiceUnavailable": (503, "Service Unavailable"),
        "InternalFailure": (500, "An internal error occurred"),
        "ExecutionLimitExceeded": (400, "Execution limit exceeded"),
    },
    "dynamodb": {
        "ThrottlingException": (400, "Rate of requests exceeds the allowed throughput."),
        "ProvisionedThroughputExceededException": (
            400,
            "The level of configured provisioned throughput for the table was exceeded.",
        ),
        "InternalServerError": (500, "Internal server error"),
    },
    "cloudwatch": {
        "Throttling": (400, "Rate exceeded"),
        "InternalServiceError": (500, "Internal service error"),
    },
    "events": {
        "ThrottlingException": (400, "Rate exceeded"),
        "InternalException": (500, "An internal error occurred"),
    },
    "ssm": {
        "ThrottlingException": (400, "Rate exceeded"),
        "InternalServerError": (500, "An internal error occurred"),
    },
    "sts": {
        "Throttling": (400, "Rate exceeded"),
    },
}
KINDS = ("error", "partial", "delay")
FIELDS = frozenset(
    [
        "service",
        "operation",
        "principal",
        "target",
        "kind",
        "error",
        "after",
        "times",
        "start",
        "end",
        "entries",
        "seconds",
    ]
)


class RuleError(ValueError):
    """A fault rule the injector cannot apply (the message says why)."""


@dataclass
class Rule:
    id: int
    service: str
    operation: str
    principal: str = "*"
    target: str | None = None
    kind: str = "error"
    code: str = ""
    status: int = 400
    message: str = ""
    after: int = 0
    times: int | None = 1
    start: float | None = None
    end: float | None = None
    entries: int = 1  # partial: failed entries per batch
    seconds: float = 0.0  # delay
    matched: int = 0
    injected: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)

    def spent(self) -> bool:
        return self.times is not None and self.injected >= self.times

    def view(self) -> dict[str, Any]:
        return {**self.__dict__, "log": list(self.log)}


def parse_rule(spec: dict[str, Any], rule_id: int) -> Rule:
    """A Rule from a test's JSON, or RuleError saying what is wrong with it."""
    if not isinstance(spec, dict):
        raise RuleError(f"a fault rule is a JSON object, got {type(spec).__name__}")
    unknown = set(spec) - FIELDS
    if unknown:
        raise RuleError(f"unknown fault rule fields: {sorted(unknown)}")
    service, operation = spec.get("service"), spec.get("operation")
    if not all(isinstance(v, str) and v for v in (service, operation)):
        raise RuleError("a fault rule needs `service` and `operation` (strings)")
    kind = spec.get("kind", "error")
    if kind not in KINDS:
        raise RuleError(f"fault `kind` must be one of {KINDS}, got {kind!r}")
    rule = Rule(
        id=rule_id,
        service=service,
        operation=operation,
        principal=str(spec.get("principal") or "*"),
        kind=kind,
    )
    target = spec.get("target")
    if target is not None and (not isinstance(target, str) or not target):
        raise RuleError(f"`target` must be a non-empty string, got {target!r}")
    rule.target = target
    after, times = spec.get("after", 0), spec.get("times", 1)
    if not isinstance(after, int) or after < 0:
        raise RuleError(f"`after` must be an integer >= 0, got {after!r}")
    if times is not None and (not isinstance(times, int) or times < 1):
        raise RuleError(f"`times` must be an integer >= 1 or null (for good), got {times!r}")
    rule.after, rule.times = after, times
    for edge in ("start", "end"):
        value = spec.get(edge)
        if value is not None and not isinstance(value, int | float):
            raise RuleError(f"`{edge}` must be epoch seconds, got {value!r}")
        setattr(rule, edge, value)
    if kind == "error":
        rule.code, rule.status, rule.message = error_shape(service, spec.get("error"))
    elif kind == "partial":
        if (service, operation) != ("sqs", "SendMessageBatch"):
            raise RuleError("a `partial` fault applies to sqs SendMessageBatch only")
        entries = spec.get("entries", 1)
        if not isinstance(entries, int) or entries < 1:
            raise RuleError(f"`entries` must be an integer >= 1, got {entries!r}")
        rule.entries = entries
        rule.code, rule.status, rule.message = error_shape(
            "sqs", spec.get("error") or "InternalFailure"
        )
    else:
        seconds = spec.get("seconds")
        if not isinstance(seconds, int | float) or not 0 < seconds <= 900:
            raise RuleError(f"a `delay` needs `seconds` in (0, 900], got {seconds!r}")
        rule.seconds = float(seconds)
    return rule


def error_shape(service: str, error: Any) -> tuple[str, int, str]:
    """(code, HTTP status, message) of a rule's `error`: a code of ERRORS, or an explicit
    {"code", "status", "message"}."""
    if isinstance(error, dict):
        code, status = error.get("code"), error.get("status", 400)
        if not isinstance(code, str) or not code or not isinstance(status, int):
            raise RuleError(f"an explicit error needs `code` (string) and `status` (int): {error}")
        return code, status, str(error.get("message") or code)
    known = ERRORS.get(service, {})
    if error not in known:
        raise RuleError(
            f"unknown {service} error {error!r}: one of {sorted(known)} or"
            ' {"code", "status", "message"}'
        )
    status, message = known[error]
    return error, status, message


def matches(  # noqa: PLR0917 (the call's facts, in order)
    rule: Rule, service: str, operation: str, identity: str, now: float, request: str = ""
) -> bool:
    """Does this call fall under the rule (service, operation, principal glob, target text in
    the request's parameters, window)?"""
    if rule.service != service or rule.operation != operation:
        return False
    if not fnmatch.fnmatchcase(identity, rule.principal):
        return False
    if rule.target is not None and rule.target not in request:
        return False
    if rule.start is not None and now < rule.start:
        return False
    return rule.end is None or now < rule.end


def decide(rule: Rule) -> bool:
    """Count a matching call and say whether it is the one (or one of those) to fail."""
    rule.matched += 1
    if rule.matched <= rule.after or rule.spent():
        return False
    rule.injected += 1
    return True


def identity_of(assumed_role_arn: str | None, service_principal: str | None) -> str:
    """`role/<name>`, `service/<principal>` or `user` (see the module docstring)."""
    if assumed_role_arn and ":assumed-role/" in assumed_role_arn:
        return "role/" + assumed_role_arn.split(":assumed-role/", 1)[1].split("/", 1)[0]
    if service_principal:
        return f"service/{service_principal}"
    return "user"
