"""The probe and the mapping's FilterCriteria: it judges messages as the mapping does and never
invokes the function with one that the filters exclude; excluded messages are left in the queue.

EventBridge's TestEventPattern is played by moto's implementation of the pattern language (moto's
own TestEventPattern answers without matching); the e2e test judges with the emulator's
EventBridge."""

from __future__ import annotations

import json
from typing import Any

import filters
import messages
import probe
import probe_input
import pytest
from moto.events.models import EventPattern
from sqscb_fakes import FakeLambda, client_error

ACCOUNT = "123456789012"
ORDERS = {"Filters": [{"Pattern": json.dumps({"body": {"kind": ["order"]}})}]}


class FakeEvents:
    """TestEventPattern with moto's pattern matcher; records every call."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[tuple[dict, dict]] = []
        self.fail = fail

    def test_event_pattern(self, EventPattern: str, Event: str) -> dict[str, Any]:
        if self.fail:
            raise self.fail
        pattern, event = json.loads(EventPattern), json.loads(Event)
        self.calls.append((pattern, event))
        for field in ("id", "account", "source", "time", "region", "resources", "detail-type"):
            assert field in event, field  # AWS refuses an event without them
        return {"Result": _matches(pattern, event)}


def _matches(pattern: dict, event: dict) -> bool:
    return EventPattern.load(json.dumps(pattern)).matches_event(event)


def record(body: str, **extra: Any) -> dict[str, Any]:
    return {"messageId": "m-1", "receiptHandle": "r", "body": body, "attributes": {}, **extra}


# ---- parsing the mapping's filters --------------------------------------------------------------
def test_a_mapping_without_filters_admits_everything():
    assert not filters.parse_filters({"FunctionArn": "x"})
    assert not filters.parse_filters(None)
    assert filters.admits(None, filters.Filters(), record("x"), account=ACCOUNT, region="eu")


def test_patterns_are_read_from_the_mapping():
    parsed = filters.parse_filters({"FilterCriteria": ORDERS})
    assert parsed.patterns == ({"body": {"kind": ["order"]}},)


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        ({"Filters": [{"Pattern": "{not json"}]}, "not JSON"),
        ({"Filters": [{"Pattern": "[1]"}]}, "not an object"),
        ({"Filters": [{}]}, "no Pattern"),
    ],
)
def test_unusable_patterns_are_refused_with_the_filter_named(criteria, message):
    with pytest.raises(filters.FilterConfigError, match=message):
        filters.parse_filters({"FilterCriteria": criteria})


def test_filters_that_could_not_be_decrypted_are_refused_with_what_to_grant():
    mapping = {
        "KMSKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/k",
        "FilterCriteriaError": {"ErrorCode": "KMSAccessDeniedException", "Message": "denied"},
    }
    with pytest.raises(filters.FilterConfigError, match="kms:Decrypt on the mapping's KMSKeyArn"):
        filters.parse_filters(mapping)


# ---- Lambda's rules ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pattern", "body", "expected"),
    [
        # a pattern for JSON properties needs a JSON body
        ({"body": {"kind": ["order"]}}, '{"kind": "order"}', True),
        ({"body": {"kind": ["order"]}}, "kind=order", False),
        # a plain-string pattern needs a body that is not JSON
        ({"body": ["hello"]}, "hello", True),
        ({"body": ["hello"]}, '"hello"', False),
        # no body key: no format check
        ({"messageAttributes": {"a": {"stringValue": ["1"]}}}, "anything", True),
    ],
)
def test_the_body_format_decides_before_the_pattern(pattern, body, expected):
    assert filters.body_format_admits(pattern, body) is expected


def test_filters_are_ored_and_judged_by_eventbridge():
    events = FakeEvents()
    either = filters.Filters(({"body": {"kind": ["audit"]}}, {"body": {"kind": ["order"]}}))
    assert filters.admits(events, either, record('{"kind": "order"}'), account=ACCOUNT, region="eu")
    assert not filters.admits(
        events, either, record('{"kind": "refund"}'), account=ACCOUNT, region="eu"
    )
    pattern, event = events.calls[0]
    assert pattern == {"detail": {"body": {"kind": ["audit"]}}}
    assert event["detail"]["body"] == {"kind": "order"}  # the body's JSON, not its text
    assert event["account"] == ACCOUNT


def test_a_json_body_keeps_its_number_text_in_the_event():
    """Lambda compares numbers by their text (300 and 300.0 differ): the body is spliced in as
    received, not re-serialised."""
    text = filters.filter_event(record('{"n": 300.0, "k": "a"}'), account=ACCOUNT, region="eu")
    assert '"body":{"n": 300.0, "k": "a"}' in text
    assert json.loads(text)["detail"]["body"] == {"n": 300.0, "k": "a"}
    plain = filters.filter_event(record("300.0 euros"), account=ACCOUNT, region="eu")
    assert json.loads(plain)["detail"]["body"] == "300.0 euros"


def test_a_failed_test_event_pattern_is_not_a_verdict():
    events = FakeEvents(fail=client_error("InvalidEventPatternException", "TestEventPattern"))
    parsed = filters.parse_filters({"FilterCriteria": ORDERS})
    with pytest.raises(filters.FilterCheckError, match="cannot tell"):
        filters.admits(events, parsed, record('{"kind": "x"}'), account=ACCOUNT, region="eu")


# ---- the probe with filters -------------------------------------------------------------------
def filtered_run(queue, sqs, lam, events, mapping=None, **event) -> dict[str, Any]:
    request = probe_input.parse_event(
        {
            "queueUrl": queue["url"],
            "queueArn": queue["arn"],
            "functionName": "protected-fn",
            "waitTimeSeconds": 0,
            "mapping": mapping if mapping is not None else {"FilterCriteria": ORDERS},
            **event,
        }
    )
    return probe.run_probe(request, sqs=sqs, lambda_client=lam, events_client=events)


def visible_bodies(sqs, url: str) -> list[str]:
    bodies = []
    while messages := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=30
    ).get("Messages"):
        bodies += [m["Body"] for m in messages]
    return bodies


def test_the_probe_passes_over_excluded_messages_and_leaves_them_in_the_queue(sqs, queue):
    for i in range(7):
        sqs.send_message(QueueUrl=queue["url"], MessageBody=json.dumps({"kind": "audit", "i": i}))
    sqs.send_message(QueueUrl=queue["url"], MessageBody=json.dumps({"kind": "order", "i": 7}))
    lam = FakeLambda()

    result = filtered_run(queue, sqs, lam, FakeEvents())

    assert result["outcome"] == "healthy"
    (invoked,) = lam.events
    assert json.loads(invoked["Records"][0]["body"])["kind"] == "order"
    assert result["excluded"] == 7
    assert "7 message(s) the mapping's filters exclude were passed over" in result["reason"]
    # the order message was deleted; every audit message is visible again (the mapping, not the
    # breaker, deletes them when it resumes)
    remaining = [json.loads(b)["kind"] for b in visible_bodies(sqs, queue["url"])]
    assert remaining == ["audit"] * 7


def test_a_queue_of_excluded_messages_only_is_empty_to_the_function(sqs, queue):
    for i in range(3):
        sqs.send_message(QueueUrl=queue["url"], MessageBody=json.dumps({"kind": "audit", "i": i}))
    lam = FakeLambda()

    result = filtered_run(queue, sqs, lam, FakeEvents())

    assert result["outcome"] == "empty" and result["excluded"] == 3
    assert lam.events == []
    assert len(visible_bodies(sqs, queue["url"])) == 3


def test_excluded_messages_in_front_of_a_hidden_backlog_are_no_reason_to_close(sqs, queue):
    """More than the probe looks at: a message the filters admit may be further back."""
    for i in range(messages.FILTERED_RECEIVE_BATCH * messages.FILTERED_MAX_RECEIVES + 5):
        sqs.send_message(QueueUrl=queue["url"], MessageBody=json.dumps({"kind": "audit", "i": i}))
    lam = FakeLambda()

    result = filtered_run(queue, sqs, lam, FakeEvents())

    assert result["outcome"] == "unhealthy" and lam.events == []
    assert result["excluded"] == messages.FILTERED_RECEIVE_BATCH * messages.FILTERED_MAX_RECEIVES
    assert "probe again" in result["reason"]
    assert len(visible_bodies(sqs, queue["url"])) == 55


def test_a_synthetic_body_the_filters_exclude_is_refused(sqs, queue):
    lam = FakeLambda()
    with pytest.raises(probe_input.ProbeConfigError, match="syntheticBody is excluded"):
        filtered_run(
            queue,
            sqs,
            lam,
            FakeEvents(),
            probeMode="synthetic",
            syntheticBody=json.dumps({"kind": "ping"}),
        )
    assert lam.events == []


def test_a_synthetic_body_the_filters_admit_probes(sqs, queue):
    lam = FakeLambda()
    result = filtered_run(
        queue,
        sqs,
        lam,
        FakeEvents(),
        probeMode="synthetic",
        syntheticBody=json.dumps({"kind": "order", "ping": True}),
    )
    assert result["outcome"] == "healthy" and len(lam.events) == 1


def test_a_failed_filter_check_hands_every_message_back(sqs, queue):
    for i in range(3):
        sqs.send_message(QueueUrl=queue["url"], MessageBody=json.dumps({"kind": "order", "i": i}))
    events = FakeEvents(fail=client_error("ThrottlingException", "TestEventPattern"))
    with pytest.raises(probe_input.ProbeAwsError, match="TestEventPattern failed"):
        filtered_run(queue, sqs, FakeLambda(), events)
    assert len(visible_bodies(sqs, queue["url"])) == 3


def test_an_unreadable_filter_is_a_configuration_error_before_anything_is_received(sqs, queue):
    sqs.send_message(QueueUrl=queue["url"], MessageBody="x")
    bad = {"FilterCriteriaError": {"ErrorCode": "KMSAccessDeniedException", "Message": "no"}}
    with pytest.raises(probe_input.ProbeConfigError, match="FilterCriteria could not be read"):
        filtered_run(queue, sqs, FakeLambda(), FakeEvents(), mapping=bad)
    assert visible_bodies(sqs, queue["url"]) == ["x"]


def test_without_filters_no_eventbridge_call_is_made(sqs, queue):
    sqs.send_message(QueueUrl=queue["url"], MessageBody="plain")
    events = FakeEvents()
    result = filtered_run(queue, sqs, FakeLambda(), events, mapping={"FunctionArn": "x"})
    assert result["outcome"] == "healthy" and result["excluded"] == 0
    assert events.calls == []
