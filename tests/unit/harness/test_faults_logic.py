"""The fault injector's rules (tests/harness/localstack_harness/faults_logic.py)."""

from __future__ import annotations

import pytest
from localstack_harness.faults_logic import (
    ERRORS,
    RuleError,
    decide,
    error_shape,
    identity_of,
    matches,
    parse_rule,
)


def rule(**spec):
    return parse_rule(
        {"service": "lambda", "operation": "UpdateEventSourceMapping", **spec}, rule_id=1
    )


def test_a_rule_fails_the_nth_call_once():
    r = rule(error="TooManyRequestsException", after=2, times=1)
    assert [decide(r) for _ in range(5)] == [False, False, True, False, False]
    assert (r.code, r.status) == ("TooManyRequestsException", 429)
    assert (r.matched, r.injected) == (5, 1)


def test_a_rule_without_times_fails_for_good():
    r = rule(error="ServiceException", times=None)
    assert all(decide(r) for _ in range(20))
    assert r.status == 500


def test_matching_by_service_operation_principal_and_window():
    r = rule(error="ServiceException", principal="role/*-cb-sfn", start=100.0, end=200.0)
    assert matches(r, "lambda", "UpdateEventSourceMapping", "role/x-cb-sfn", 150.0)
    assert not matches(r, "lambda", "UpdateEventSourceMapping", "role/x-cb-probe", 150.0)
    assert not matches(r, "lambda", "Invoke", "role/x-cb-sfn", 150.0)
    assert not matches(r, "sqs", "UpdateEventSourceMapping", "role/x-cb-sfn", 150.0)
    assert not matches(r, "lambda", "UpdateEventSourceMapping", "role/x-cb-sfn", 99.0)
    assert not matches(r, "lambda", "UpdateEventSourceMapping", "role/x-cb-sfn", 200.0)


def test_every_catalogued_error_has_an_aws_status():
    for service, errors in ERRORS.items():
        for code, (status, message) in errors.items():
            assert error_shape(service, code) == (code, status, message)
            assert status in (400, 403, 409, 429, 500, 502, 503), (service, code)


def test_an_explicit_error_is_taken_as_given():
    assert error_shape("kms", {"code": "KMSInvalidStateException", "status": 400}) == (
        "KMSInvalidStateException",
        400,
        "KMSInvalidStateException",
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"error": "NoSuchError"}, "unknown lambda error 'NoSuchError'"),
        ({"error": "ServiceException", "times": 0}, "`times` must be"),
        ({"error": "ServiceException", "after": -1}, "`after` must be"),
        ({"error": "ServiceException", "start": "soon"}, "`start` must be"),
        ({"kind": "partial"}, "sqs SendMessageBatch only"),
        ({"kind": "delay"}, "a `delay` needs `seconds`"),
        ({"kind": "explode"}, "fault `kind` must be"),
        ({"error": "ServiceException", "colour": "red"}, "unknown fault rule fields"),
    ],
)
def test_bad_rules_are_refused_with_a_reason(spec, message):
    with pytest.raises(RuleError, match=message.replace("(", r"\(").replace("`", "`")):
        rule(**spec)


def test_a_rule_needs_service_and_operation():
    with pytest.raises(RuleError, match="needs `service` and `operation`"):
        parse_rule({"service": "sqs"}, rule_id=1)
    with pytest.raises(RuleError, match="JSON object"):
        parse_rule(["sqs"], rule_id=1)


def test_a_partial_batch_fault():
    r = parse_rule(
        {"service": "sqs", "operation": "SendMessageBatch", "kind": "partial", "entries": 3}, 7
    )
    assert (r.entries, r.code, r.status) == (3, "InternalFailure", 500)


def test_identities():
    assert identity_of("arn:aws:sts::1:assumed-role/app-cb-probe/sess", None) == "role/app-cb-probe"
    assert identity_of(None, "cloudwatch") == "service/cloudwatch"
    assert identity_of(None, None) == "user"


def test_a_target_narrows_a_rule_to_requests_that_name_it():
    r = rule(error="ServiceException", target="orders")
    assert matches(r, "lambda", "UpdateEventSourceMapping", "user", 0.0, '{"UUID": "orders-1"}')
    assert not matches(r, "lambda", "UpdateEventSourceMapping", "user", 0.0, '{"UUID": "x"}')
    with pytest.raises(RuleError, match="`target` must be"):
        rule(error="ServiceException", target="")
