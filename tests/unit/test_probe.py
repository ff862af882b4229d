"""Probe: ESM-shaped event, health classification, and what happens to the probe message."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import boto3
import botocore.exceptions
import esm_event
import invoke
import messages
import probe
import probe_input
import pytest
from botocore.stub import ANY, Stubber
from sqscb_fakes import FakeLambda, Recording, client_error, streaming

REGION = "us-east-1"
FUNCTION = "protected-fn"
RBIF = {"functionResponseTypes": ["ReportBatchItemFailures"]}


def probe_event(queue: dict[str, str], **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "queueUrl": queue["url"],
        "queueArn": queue["arn"],
        "functionName": FUNCTION,
        "waitTimeSeconds": 0,
    }
    event.update(overrides)
    return event


def run(
    queue: dict[str, str], sqs: Any, lam: Any, remaining_ms: Any = None, **event: Any
) -> dict[str, Any]:
    request = probe_input.parse_event(probe_event(queue, **event))
    return probe.run_probe(request, sqs=sqs, lambda_client=lam, remaining_ms=remaining_ms)


def receive_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    response = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["All"],
        WaitTimeSeconds=0,
    )
    return response.get("Messages", [])


def queue_depth(sqs: Any, url: str) -> tuple[int, int]:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attrs["ApproximateNumberOfMessages"]),
        int(attrs["ApproximateNumberOfMessagesNotVisible"]),
    )


# ---- ESM event shape ----------------------------------------------------------------------------
def test_string_number_binary_and_custom_type_attributes_take_the_esm_form(sqs, queue):
    sqs.send_message(
        QueueUrl=queue["url"],
        MessageBody="payload",
        MessageAttributes={
            "s": {"DataType": "String", "StringValue": "text"},
            "n": {"DataType": "Number", "StringValue": "42"},
            "f": {"DataType": "Number.float", "StringValue": "1.5"},
            "b": {"DataType": "Binary", "BinaryValue": b"\x00\xffbin"},
        },
    )
    lam = FakeLambda()
    run(queue, sqs, lam)
    attrs = lam.events[0]["Records"][0]["messageAttributes"]
    empty = {"stringListValues": [], "binaryListValues": []}
    assert attrs == {
        "s": {"stringValue": "text", **empty, "dataType": "String"},
        "n": {"stringValue": "42", **empty, "dataType": "Number"},
        "f": {"stringValue": "1.5", **empty, "dataType": "Number.float"},
        "b": {
            "binaryValue": base64.b64encode(b"\x00\xffbin").decode(),
            **empty,
            "dataType": "Binary",
        },
    }


def test_attribute_list_values_are_carried_over_with_binary_ones_base64_encoded():
    converted = esm_event.esm_message_attribute(
        {"DataType": "String", "StringListValues": ["a"], "BinaryListValues": [b"\x01"]}
    )
    assert converted == {
        "stringListValues": ["a"],
        "binaryListValues": ["AQ=="],
        "dataType": "String",
    }


def test_record_has_the_esm_keys_and_values_of_the_received_message(sqs, queue):
    sent = sqs.send_message(
        QueueUrl=queue["url"],
        MessageBody="hello",
        MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}},
    )
    lam = FakeLambda()
    run(queue, sqs, lam)
    (record,) = lam.events[0]["Records"]
    assert list(record) == [
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "md5OfMessageAttributes",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    ]
    assert record["messageId"] == sent["MessageId"]
    assert record["body"] == "hello"
    assert record["md5OfBody"] == hashlib.md5(b"hello").hexdigest()
    assert record["md5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queue["arn"]
    assert record["awsRegion"] == REGION
    attributes = record["attributes"]
    for key in ("ApproximateReceiveCount", "SentTimestamp", "SenderId"):
        assert isinstance(attributes[key], str)
    assert attributes["ApproximateReceiveCount"] == "1"
    assert "ApproximateFirstReceiveTimestamp" in attributes


def test_record_has_no_md5_of_message_attributes_when_the_message_has_none(sqs, queue):
    sqs.send_message(QueueUrl=queue["url"], MessageBody="plain")
    lam = FakeLambda()
    run(queue, sqs, lam)
    record = lam.events[0]["Records"][0]
    assert "md5OfMessageAttributes" not in record
    assert record["messageAttributes"] == {}


def test_trace_header_is_passed_in_the_record_attributes(sqs, queue):
    sqs.send_message(
        QueueUrl=queue["url"],
        MessageBody="traced",
        MessageSystemAttributes={
            "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5e1b4151-abc"}
        },
    )
    lam = FakeLambda()
    run(queue, sqs, lam)
    assert lam.events[0]["Records"][0]["attributes"]["AWSTraceHeader"] == "Root=1-5e1b4151-abc"


def test_fifo_record_carries_message_group_and_deduplication_ids(sqs, fifo_queue):
    sqs.send_message(
        QueueUrl=fifo_queue["url"],
        MessageBody="ordered",
        MessageGroupId="group-1",
        MessageDeduplicationId="dedup-1",
    )
    lam = FakeLambda()
    result = run(fifo_queue, sqs, lam)
    record = lam.events[0]["Records"][0]
    assert record["eventSourceARN"] == fifo_queue["arn"]
    assert record["attributes"]["MessageGroupId"] == "group-1"
    assert record["attributes"]["MessageDeduplicationId"] == "dedup-1"
    # moto quirk: moto's ReceiveMessage does not return SequenceNumber for FIFO messages (AWS
    # does); test_fifo_sequence_number_is_passed_through covers it with a ReceiveMessage entry.
    assert result["outcome"] == "healthy"
    assert queue_depth(sqs, fifo_queue["url"]) == (0, 0)


def test_fifo_sequence_number_is_passed_through_as_received():
    message = {
        "MessageId": "m-1",
        "ReceiptHandle": "rh",
        "Body": "b",
        "MD5OfBody": hashlib.md5(b"b").hexdigest(),
        "Attributes": {
            "SenderId": "AIDA",
            "ApproximateFirstReceiveTimestamp": "2",
            "MessageDeduplicationId": "d",
            "SequenceNumber": "18849496460467696128",
            "ApproximateReceiveCount": "3",
            "SentTimestamp": "1",
            "MessageGroupId": "g",
            "DeadLetterQueueSourceArn": "arn:aws:sqs:us-east-1:123456789012:src.fifo",
        },
    }
    record = esm_event.esm_record(message, "arn:aws:sqs:us-east-1:123456789012:q.fifo", "us-east-1")
    assert record["attributes"] == {
        "ApproximateReceiveCount": "3",
        "SentTimestamp": "1",
        "SequenceNumber": "18849496460467696128",
        "MessageGroupId": "g",
        "SenderId": "AIDA",
        "MessageDeduplicationId": "d",
        "ApproximateFirstReceiveTimestamp": "2",
        "DeadLetterQueueSourceArn": "arn:aws:sqs:us-east-1:123456789012:src.fifo",
    }
    assert list(record["attributes"])[:3] == [
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SequenceNumber",
    ]


def test_receive_asks_for_one_message_with_all_attributes_and_a_covering_visibility(sqs, queue):
    sqs.send_message(QueueUrl=queue["url"], MessageBody="x")
    rec = Recording(sqs)
    run(queue, rec, FakeLambda(), remaining_ms=lambda: 120_500, waitTimeSeconds=7)
    (call,) = rec.calls["receive_message"]
    assert call == {
        "QueueUrl": queue["url"],
        "MaxNumberOfMessages": 1,
        "AttributeNames": ["All"],
        "MessageSystemAttributeNames": ["All"],
        "MessageAttributeNames": ["All"],
        "WaitTimeSeconds": 7,
        "VisibilityTimeout": 121 + 60,
    }


@pytest.mark.parametrize(
    ("remaining_ms", "expected"),
    [(None, 960), (0, 60), (1, 61), (300_000, 360), (900_000, 960), (2_000_000, 960)],
)
def test_receive_visibility_outlasts_the_probe_so_the_receipt_handle_stays_valid(
    remaining_ms, expected
):
    assert messages.receive_visibility_timeout(remaining_ms) == expected


# ---- Healthy / unhealthy ------------------------------------------------------------------------
def test_healthy_invoke_deletes_the_probe_message(sqs, queue):
    sent = sqs.send_message(QueueUrl=queue["url"], MessageBody="x")
    result = run(queue, sqs, FakeLambda())
    assert result["outcome"] == "healthy"
    assert result["source"] == "message"
    assert result["messageId"] == sent["MessageId"]
    assert result["receiveCount"] == 1
    assert result["originalMessageId"] == sent["MessageId"]
    assert result["queue"] is None  # counts are read only when nothing was received
    assert isinstance(result["durationMs"], int)
    assert queue_depth(sqs, queue["url"]) == (0, 0)


def test_invoke_is_synchronous_with_the_event_as_payload(sqs, queue):
    sqs.send_message(QueueUrl=queue["url"], MessageBody="x")
    lam = FakeLambda()
    run(queue, sqs, lam, functionName="arn:aws:lambda:us-east-1:123456789012:function:f:live")
    (call,) = lam.calls
    assert call["FunctionName"] == "arn:aws:lambda:us-east-1:123456789012:function:f:live"
    assert call["InvocationType"] == "RequestResponse"
    assert json.loads(call["Payload"])["Records"][0]["body"] == "x"


def test_invoke_parameters_are_valid_for_the_real_lambda_client(sqs, queue):
    sqs.send_message(QueueUrl=queue["url"], MessageBody="x")
    lam = boto3.client("lambda", region_name=REGION, config=invoke.INVOKE_CONFIG)
    with Stubber(lam) as stub:
        stub.add_response(
            "invoke",
            {"StatusCode": 200, "Payload": streaming(b"{}")},
            {
                "FunctionName": FUNCTION,
                "InvocationType": "RequestResponse",
                "Payload": ANY,
            },
        )
        result = run(queue, sqs, lam)
        stub.assert_no_pending_responses()
    assert result["outcome"] == "healthy"


def test_invoke_client_never_retries_and_waits_longer_than_lambdas_maximum_timeout():
    lam = boto3.client("lambda", region_name=REGION, config=invoke.INVOKE_CONFIG)
    assert lam.meta.config.retries["total_max_attempts"] == 1
    assert lam.meta.config.read_timeout > 900
    assert lam.meta.config.tcp_keepalive is True


@pytest.mark.parametrize(
    ("remaining_ms", "wait", "expected"),
    [
        (120_000, 2, 108),  # the default probe: 120 s, 2 s long poll, 10 s to hand back
        (119_400, 20, 89),  # whole seconds, rounded down
        (900_000, 0, 890),
        (5_000, 2, 1),  # never below 1 s
        (None, 2, 960),  # no Lambda context: past Lambda's maximum
    ],
)
def test_the_invoke_waits_no_longer_than_the_probe_can(remaining_ms, wait, expected):
    assert invoke.invoke_read_timeout(remaining_ms, wait) == expected


def test_transition_events_time_is_left_out_of_the_invoke():
    """With transition events, 4 s more are kept (the module's plan check counts them too)."""
    assert invoke.invoke_read_timeout(120_000, 2, 4) == 104


def test_the_handlers_invoke_client_times_out_before_the_probe_would_be_killed(sqs, queue):
    class Short:
        def get_remaining_time_in_millis(self) -> int:
            return 40_000

    invoke._INVOKE_CLIENTS.clear()
    probe.handler(probe_event(queue, waitTimeSeconds=5), Short())  # empty queue: no invoke
    ((_, read_timeout), client) = next(iter(invoke._INVOKE_CLIENTS.items()))
    assert read_timeout == 25 and client.meta.config.read_timeout == 25
    assert client.meta.config.retries["total_max_attempts"] == 1  # still never retried
    assert invoke.invoke_client(REGION, 25) is invoke.invoke_client(REGION, 25)


def test_function_error_is_unhealthy_and_the_message_is_visible_again_at_once(sqs, queue):
    sent = sqs.send_message(QueueUrl=queue["url"], MessageBody="x")
    lam = FakeLambda(
        lambda event: {
            "function_error": "Unhandled",
            "payload": {"errorType": "KeyError", "errorMessage": "'id'"},
        }
    )
    result = run(queue, sqs, lam, failureVisibilityTimeout=0)
    assert result["outcome"] == "unhealthy"
    assert "Unhandled" in result["reason"]
    assert "KeyError" in result["reason"]
    (again,) = receive_all(sqs, queue["url"])
    assert again["MessageId"] == sent["MessageId"]


def test_function_error_with_a_non_json_payload_is_unhealthy(sqs, queue):
    sqs.send_message(QueueUrl=queue["url"], MessageBody="x")
    lam = FakeLambda(lambda event: {"function_error": "Unhandled", "payload": b"Task timed out"})
    result = run(queue, sqs, lam)
    assert result["outcome"] == "unhealthy"
    assert "Task timed out" in result["reason"]


def test_function_error_with_a_non_object_json_payload_is_unhealthy(sqs, queue):
    sqs.send_message(QueueUrl=queue["url"], MessageBody="x")
    lam = FakeLambda(lambda event: {"function_error": "Handled", "payload": ["x"]})
    assert run(queue, sqs, lam)["outcome"] == "unhealthy"


def test_unhealthy_message_gets_the_failure_visibility_timeout(sqs, queue):
    sqs.send_message(QueueUrl=queue["url"], MessageBody="x")
    rec = Recording(sqs)
    lam = FakeLambda(lambda event: {"function_error": "Unhandled"})
    result = run(queue, rec, lam, failureVisibilityTimeout=300)
    assert result["outcome"] == "unhealthy"
    (call,) = rec.calls["change_message_visibility"]
    assert call["VisibilityTimeout"] == 300
    assert receive_all(sqs, queue["url"]) == []
    assert queue_depth(sqs, queue["url"]) == (0, 1)


def test_throttled_invoke_is_unhealthy_and_keeps_the_message(sqs, queue):
    sqs.send_message(QueueUrl=queue["url"], MessageBody="x")

    def throttled(event):
        raise client_error("TooManyRequestsException", "Invoke", "Rate exceeded")

    result = run(queue, sqs, FakeLambda(throttled))
    assert result["outcome"] == "unhealthy"
    assert "TooManyRequestsException" in result["reason"]
    assert len(receive_all(sqs, queue["url"])) == 1


@pytest.mark.parametrize(
    "error",
    [
        botocore.exceptions.ReadTimeoutError(endpoint_url="https://lambda"),
        botocore.exceptions.ConnectTimeoutError(endpoint_url="https://lambda"),
        botocore.exceptions.EndpointConnectionError(endpoint_url="https://lambda"),
        botocore.exceptions.ConnectionClosedError(endpoint_url="https://lambda"),
    ],
    ids=["read-timeout", "connect-timeout", "endpoint-connection", "connection-closed"],
)
def test_invoke_timeout_or_connection_error_is_unhealthy_and_keeps_the_message(sqs, queue, error):
    sqs.send_message(QueueUrl=queue["url"], MessageBody="x")

    def fail(event):
        raise error

    result = run(queue, sqs, FakeLambda(fail))
    assert result["outcome"] == "unhealthy"
    assert len(receive_all(sqs, queue["url"])) == 1


def test_function_side_service_errors_are_unhealthy(sqs, queue):
    sqs.send_message(QueueUrl=queue["url"], MessageBody="x")

    def fail(event):
        raise client_error("KMSAccessDeniedException", "Invoke")

    assert run(queue, sqs, FakeLambda(fail))["outcome"] == "unhealthy"


def test_batch_item_failures_naming_the_probe_message_is_unhealthy(sqs, queue):
    sent = sqs.send_message(QueueUrl=queue["url"], MessageBody="x")
    lam = FakeLambda(
        lambda event: {
            "payload": {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
        }
    )
    result = run(queue, sqs, lam, **RBIF)
    assert result["outcome"] == "unhealthy"
    assert "batchItemFailures" in result["reason"]
    (again,) = receive_all(sqs, queue["url"])
    assert again["MessageId"] == sent["MessageId"]


@pytest.mark.parametrize(
    "failures",
    [
        [{"itemIdentifier": "another-id"}],
        [{"itemIdentifier": ""}],
        [{"itemIdentifier": None}],
        ["x"],
    ],
    ids=["unknown-id", "empty-id", "null-id", "not-an-object"],
)
def test_malformed_batch_item_failures_fail_the_whole_batch_so_unhealthy(sqs, queue, failures):
    # AWS: an empty, null or unknown itemIdentifier makes the ESM fail the whole batch.
    sqs.send_message(QueueUrl=queue["url"], MessageBody="x")
    lam = FakeLambda(lambda event: {"payload": {"batchItemFailures": failures}})
    result = run(queue, sqs, lam, **RBIF)
    assert result["outcome"] == "unhealthy"
    assert "batch failure" in result["reason"]
    assert queue_depth(sqs, queue["url"]) == (1, 0)  # released, not deleted


@pytest.mark.parametrize(
    "payload",
    [b"", b"null", b"not json", b'"ok"', b"{}", b'{"batchItemFailures": []}', b"[1, 2]"],
    ids=["empty", "null", "non-json", "string", "empty-object", "no-failures", "list"],
)
def test_successful_invoke_without_a_failure_naming_the_message_is_healthy(sqs, queue, payload):
    sqs.send_message(QueueUrl=queue["url"], MessageBody="x")
    result = run(queue, sqs, FakeLambda(lambda event: {"payload": payload}), **RBIF)
    assert result["outcome"] == "healthy"
    assert queue_depth(sqs, queue["url"]) == (0, 0)


@pytest.mark.parametrize(
    "response_types", [None, [], ["SomethingElse"]], ids=["absent", "empty", "other"]
)
def test_without_report_batch_item_failures_batch_item_failures_are_not_read(
    sqs, queue, response_types
):
    # The ESM reads batchItemFailures only when the mapping has ReportBatchItemFailures: without
    # it, a successful invoke deletes the batch whatever the function returned.
    sqs.send_message(QueueUrl=queue["url"], MessageBody="x")
    lam = FakeLambda(
        lambda event: {
            "payload": {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
        }
    )
    overrides = {} if response_types is None else {"functionResponseTypes": response_types}
    result = run(queue, sqs, lam, **overrides)
    assert result["outcome"] == "healthy"
    assert "not read as a partial batch response" in result["reason"]
    assert "does not report batch item failures" in result["reason"]
    assert queue_depth(sqs, queue["url"]) == (0, 0)


def test_synthetic_probe_reads_batch_item_failures_only_with_report_batch_item_failures(sqs, queue):
    def failing(event):
        return {"payload": {"batchItemFailures": [{"itemIdentifier": "x"}]}}

    plain = run(queue, sqs, FakeLambda(failing), probeMode="synthetic", syntheticBody="s")
    assert plain["outcome"] == "healthy"
    reported = run(
        queue, sqs, FakeLambda(failing), probeMode="synthetic", syntheticBody="s", **RBIF
    )
    assert reported["outcome"] == "unhealthy"


def test_classify_payload_follows_the_mapping_response_types():
    payload = b'{"batchItemFailures": [{"itemIdentifier": "m"}]}'
    assert invoke.classify_payload(payload, "m", report_batch_item_failures=False).healthy
    assert not invoke.classify_payload(payload, "m", report_batch_item_failures=True).healthy


def test_invoke_response_without_payload_is_healthy():
    class NoPayload:
        def invoke(self, **kwargs):
            return {"StatusCode": 200}

    event = {"Records": [{"messageId": "m"}]}
    assert invoke.invoke_target(
        NoPayload(), FUNCTION, event, report_batch_item_failures=True
    ).healthy


def test_invoke_response_with_an_already_read_payload_is_classified():
    class BytesPayload:
        def invoke(self, **kwargs):
            return {
                "StatusCode": 200,
                "Payload": b'{"batchItemFailures": [{"itemIdentifier": "m"}]}',
            }

    event = {"Records": [{"messageId": "m"}]}
    assert not invoke.invoke_target(
        BytesPayload(), FUNCTION, event, report_batch_item_failures=True
    ).healthy


def test_receive_count_is_null_when_the_attribute_is_missing_or_not_a_number():
    assert messages.receive_count_of({}) is None
    assert messages.receive_count_of({"ApproximateReceiveCount": "many"}) is None
    assert messages.receive_count_of({"ApproximateReceiveCount": "4"}) == 4


# ---- Empty queue and synthetic probes -----------------------------------------------------------
def test_empty_queue_without_synthetic_body_is_empty_and_invokes_nothing(sqs, queue):
    rec = Recording(sqs)
    lam = FakeLambda()
    result = run(queue, rec, lam)
    assert result == {
        "outcome": "empty",
        "source": None,
        "messageId": None,
        "originalMessageId": None,
        "receiveCount": None,
        "messageAgeSeconds": 0,
        "queue": {"visible": 0, "notVisible": 0, "delayed": 0},
        "excluded": 0,
        "reason": "queue is empty (0 visible, 0 not visible, 0 delayed)",
        "durationMs": result["durationMs"],
    }
    assert lam.calls == []
    (call,) = rec.calls["get_queue_attributes"]
    assert call == {
        "QueueUrl": queue["url"],
        "AttributeNames": [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    }


def test_message_hidden_by_a_failed_probe_is_not_an_empty_queue(sqs, queue):
    sent = sqs.send_message(QueueUrl=queue["url"], MessageBody="x")
    failing = FakeLambda(lambda event: {"function_error": "Unhandled"})
    first = run(queue, sqs, failing, failureVisibilityTimeout=600)
    assert first["outcome"] == "unhealthy"
    assert first["messageId"] == sent["MessageId"]
    # The next probe receives nothing (the message is hidden for 600 s), but must not close.
    lam = FakeLambda()
    result = run(queue, sqs, lam, failureVisibilityTimeout=600)
    assert result["outcome"] == "unhealthy"
    assert result["source"] is None
    assert result["messageId"] is None
    assert result["originalMessageId"] is None
    assert result["receiveCount"] is None
    assert result["messageAgeSeconds"] == 0
    assert result["queue"] == {"visible": 0, "notVisible": 1, "delayed": 0}
    assert result["reason"] == (
        "no message could be received, but the queue holds 0 visible, 1 not visible (hidden by"
        " failed probes or in flight), 0 delayed: not empty, probe again"
    )
    assert lam.calls == []
    assert queue_depth(sqs, queue["url"]) == (0, 1)


def test_delayed_message_is_not_an_empty_queue(sqs, queue):
    sqs.send_message(QueueUrl=queue["url"], MessageBody="later", DelaySeconds=60)
    lam = FakeLambda()
    result = run(queue, sqs, lam)
    assert result["outcome"] == "unhealthy"
    assert result["queue"] == {"visible": 0, "notVisible": 0, "delayed": 1}
    assert "1 delayed" in result["reason"]
    assert lam.calls == []


def test_short_poll_that_misses_a_visible_message_is_not_an_empty_queue(queue):
    # waitTimeSeconds 0 samples only some SQS servers: ReceiveMessage may return nothing from a
    # queue that holds visible messages (moto always returns them, so stub the real client).
    client = boto3.client("sqs", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_response(
            "receive_message",
            {},
            {
                "QueueUrl": queue["url"],
                "MaxNumberOfMessages": 1,
                "AttributeNames": ["All"],
                "MessageSystemAttributeNames": ["All"],
                "MessageAttributeNames": ["All"],
                "WaitTimeSeconds": 0,
                "VisibilityTimeout": 960,
            },
        )
        stub.add_response(
            "get_queue_attributes",
            {
                "Attributes": {
                    "ApproximateNumberOfMessages": "3",
                    "ApproximateNumberOfMessagesNotVisible": "0",
                    "ApproximateNumberOfMessagesDelayed": "0",
                }
            },
            {
                "QueueUrl": queue["url"],
                "AttributeNames": [
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            },
        )
        lam = FakeLambda()
        result = run(queue, client, lam, waitTimeSeconds=0)
        stub.assert_no_pending_responses()
    assert result["outcome"] == "unhealthy"
    assert result["queue"] == {"visible": 3, "notVisible": 0, "delayed": 0}
    assert "3 visible" in result["reason"]
    assert "probe again" in result["reason"]
    assert lam.calls == []


def test_failed_get_queue_attributes_after_an_empty_receive_raises(sqs, queue):
    error = client_error("AccessDenied", "GetQueueAttributes", "not authorized")
    rec = Recording(sqs, fail={"get_queue_attributes": error})
    lam = FakeLambda()
    with pytest.raises(probe_input.ProbeAwsError, match=r"GetQueueAttributes on .*AccessDenied"):
        run(queue, rec, lam)
    assert lam.calls == []


def test_unreadable_queue_counts_raise(queue):
    client = boto3.client("sqs", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_response("receive_message", {})
        stub.add_response(
            "get_queue_attributes", {"Attributes": {"ApproximateNumberOfMessages": "0"}}
        )
        with pytest.raises(
            probe_input.ProbeAwsError, match="ApproximateNumberOfMessagesNotVisible"
        ):
            run(queue, client, FakeLambda())


@pytest.mark.parametrize(
    "attributes",
    [
        {},
        {
            "ApproximateNumberOfMessages": "x",
            "ApproximateNumberOfMessagesNotVisible": "0",
            "ApproximateNumberOfMessagesDelayed": "0",
        },
        {
            "ApproximateNumberOfMessages": "0",
            "ApproximateNumberOfMessagesNotVisible": "-1",
            "ApproximateNumberOfMessagesDelayed": "0",
        },
    ],
    ids=["missing", "not-a-number", "negative"],
)
def test_parse_queue_counts_refuses_malformed_attributes(attributes):
    with pytest.raises(ValueError, match="ApproximateNumberOf"):
        messages.parse_queue_counts(attributes)


def test_queue_counts_are_read_as_integers():
    counts = messages.parse_queue_counts(
        {
            "ApproximateNumberOfMessages": "4",
            "ApproximateNumberOfMessagesNotVisible": "2",
            "ApproximateNumberOfMessagesDelayed": "1",
        }
    )
    assert counts.as_dict() == {"visible": 4, "notVisible": 2, "delayed": 1}
    assert not counts.empty
    assert messages.nothing_received(counts)[0] == "unhealthy"
    assert messages.nothing_received(messages.QueueCounts(0, 0, 0))[0] == "empty"


def test_empty_queue_with_synthetic_body_probes_with_it_and_leaves_the_queue_alone(sqs, queue):
    rec = Recording(sqs)
    lam = FakeLambda()
    result = run(queue, rec, lam, syntheticBody='{"ping": true}')
    assert result["outcome"] == "healthy"
    assert result["source"] == "synthetic"
    assert result["receiveCount"] is None
    (record,) = lam.events[0]["Records"]
    assert record["body"] == '{"ping": true}'
    assert record["messageId"] == result["messageId"]
    assert record["receiptHandle"].startswith(esm_event.SYNTHETIC_RECEIPT_PREFIX)
    assert record["md5OfBody"] == hashlib.md5(b'{"ping": true}').hexdigest()
    assert record["messageAttributes"] == {}
    assert record["eventSourceARN"] == queue["arn"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["attributes"]["SenderId"] == "sqs-circuit-breaker-probe"
    assert set(rec.calls) == {"receive_message"}  # no queue counts: the synthetic body is used
    assert result["queue"] is None
    assert result["originalMessageId"] is None
    assert queue_depth(sqs, queue["url"]) == (0, 0)


def test_synthetic_mode_never_receives_and_the_target_gets_the_synthetic_body(sqs, queue):
    sqs.send_message(QueueUrl=queue["url"], MessageBody="real")
    rec = Recording(sqs)
    lam = FakeLambda(lambda event: {"function_error": "Unhandled"})
    result = run(queue, rec, lam, probeMode="synthetic", syntheticBody="synthetic")
    assert result["outcome"] == "unhealthy"
    assert result["source"] == "synthetic"
    assert lam.events[0]["Records"][0]["body"] == "synthetic"
    assert rec.calls == {}
    assert queue_depth(sqs, queue["url"]) == (1, 0)


def test_synthetic_record_fields_are_deterministic_given_the_clock_and_id():
    record = esm_event.synthetic_record(
        "b", "arn:aws:sqs:eu-west-1:123456789012:q", "eu-west-1", now_ms=1700, message_id="id-1"
    )
    assert record["messageId"] == "id-1"
    assert record["attributes"] == {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": "1700",
        "SenderId": "sqs-circuit-breaker-probe",
        "ApproximateFirstReceiveTimestamp": "1700",
    }
    assert record["awsRegion"] == "eu-west-1"


def test_synthetic_record_for_a_fifo_queue_has_group_and_deduplication_ids(sqs, fifo_queue):
    lam = FakeLambda()
    run(fifo_queue, sqs, lam, probeMode="synthetic", syntheticBody="s")
    attributes = lam.events[0]["Records"][0]["attributes"]
    assert attributes["MessageGroupId"] == "sqs-circuit-breaker-probe"
    assert attributes["MessageDeduplicationId"] == lam.events[0]["Records"][0]["messageId"]
    assert attributes["SequenceNumber"].isdigit()


# ---- Failures of the surrounding AWS calls ------------------------------------------------------
def test_misconfigured_invoke_makes_the_message_visible_again_then_raises(sqs, queue):
    sent = sqs.send_message(QueueUrl=queue["url"], MessageBody="x")

    def missing(event):
        raise client_error("ResourceNotFoundException", "Invoke", "Function not found")

    with pytest.raises(
        probe_input.ProbeAwsError, match=r"ResourceNotFoundException.*configuration"
    ):
        run(queue, sqs, FakeLambda(missing), failureVisibilityTimeout=600)
    (again,) = receive_all(sqs, queue["url"])
    assert again["MessageId"] == sent["MessageId"]


def test_misconfigured_synthetic_invoke_raises(sqs, queue):
    def denied(event):
        raise client_error("AccessDeniedException", "Invoke")

    with pytest.raises(probe_input.ProbeAwsError, match="AccessDeniedException"):
        run(queue, sqs, FakeLambda(denied), probeMode="synthetic", syntheticBody="s")


def test_stale_receipt_handle_on_delete_still_reports_healthy_with_the_reason(sqs, queue):
    sqs.send_message(QueueUrl=queue["url"], MessageBody="x")
    rec = Recording(
        sqs, fail={"delete_message": client_error("ReceiptHandleIsInvalid", "DeleteMessage")}
    )
    result = run(queue, rec, FakeLambda())
    assert result["outcome"] == "healthy"
    assert "ReceiptHandleIsInvalid" in result["reason"]
    assert "redelivered" in result["reason"]


def test_stale_receipt_handle_in_the_query_compatible_spelling_is_recognised(sqs, queue):
    sqs.send_message(QueueUrl=queue["url"], MessageBody="x")
    error = client_error("AWS.SimpleQueueService.ReceiptHandleIsInvalid", "DeleteMessage")
    result = run(queue, Recording(sqs, fail={"delete_message": error}), FakeLambda())
    assert result["outcome"] == "healthy"


def test_other_delete_failures_raise_a_clear_error(sqs, queue):
    sqs.send_message(QueueUrl=queue["url"], MessageBody="x")
    rec = Recording(sqs, fail={"delete_message": client_error("AccessDenied", "DeleteMessage")})
    with pytest.raises(probe_input.ProbeAwsError, match=r"DeleteMessage.*AccessDenied"):
        run(queue, rec, FakeLambda())


def test_failed_visibility_change_still_returns_the_unhealthy_result(sqs, queue):
    sqs.send_message(QueueUrl=queue["url"], MessageBody="x")
    error = client_error("AccessDenied", "ChangeMessageVisibility")
    rec = Recording(sqs, fail={"change_message_visibility": error})
    result = run(queue, rec, FakeLambda(lambda event: {"function_error": "Unhandled"}))
    assert result["outcome"] == "unhealthy"
    assert "visibility change failed" in result["reason"]
    # Not lost: still in flight, it reappears when the receive's visibility timeout expires.
    assert queue_depth(sqs, queue["url"]) == (0, 1)


def test_receive_failure_raises_a_clear_error(sqs, queue):
    missing = {
        "url": queue["url"].replace("protected", "missing"),
        "arn": queue["arn"].replace("protected", "missing"),
    }
    with pytest.raises(probe_input.ProbeAwsError, match=r"ReceiveMessage on .*missing"):
        run(missing, sqs, FakeLambda())


# ---- Input validation ---------------------------------------------------------------------------
QUEUE = {
    "url": "https://sqs.us-east-1.amazonaws.com/123456789012/protected",
    "arn": "arn:aws:sqs:us-east-1:123456789012:protected",
}


def test_defaults_are_applied_to_optional_fields():
    request = probe_input.parse_event(
        {"queueUrl": QUEUE["url"], "queueArn": QUEUE["arn"], "functionName": "f"}
    )
    assert request.probe_mode == "message"
    assert request.synthetic_body is None
    assert request.failure_visibility_timeout == 0
    assert request.wait_time_seconds == 2
    assert request.region == "us-east-1"
    assert request.fifo is False
    assert request.function_response_types == ()
    assert request.reports_batch_item_failures is False


@pytest.mark.parametrize(
    ("value", "expected", "reports"),
    [
        (None, (), False),
        ([], (), False),
        (["ReportBatchItemFailures"], ("ReportBatchItemFailures",), True),
        (["Other"], ("Other",), False),
    ],
)
def test_function_response_types_are_read_as_given(value, expected, reports):
    request = probe_input.parse_event(probe_event(QUEUE, functionResponseTypes=value))
    assert request.function_response_types == expected
    assert request.reports_batch_item_failures is reports


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"queueUrl": None}, "queueUrl"),
        ({"queueUrl": ""}, "queueUrl"),
        ({"queueArn": 5}, "queueArn"),
        ({"queueArn": "arn:aws:sns:us-east-1:123456789012:protected"}, "queueArn"),
        ({"queueUrl": QUEUE["url"] + "-other"}, "queueUrl"),
        ({"functionName": ""}, "functionName"),
        ({"probeMode": "poll"}, "probeMode"),
        ({"probeMode": "synthetic"}, "syntheticBody"),
        ({"syntheticBody": 3}, "syntheticBody"),
        ({"failureVisibilityTimeout": -1}, "failureVisibilityTimeout"),
        ({"failureVisibilityTimeout": 43201}, "failureVisibilityTimeout"),
        ({"failureVisibilityTimeout": "30"}, "failureVisibilityTimeout"),
        ({"failureVisibilityTimeout": True}, "failureVisibilityTimeout"),
        ({"waitTimeSeconds": 21}, "waitTimeSeconds"),
        ({"waitTimeSeconds": 1.5}, "waitTimeSeconds"),
        ({"functionResponseTypes": "ReportBatchItemFailures"}, "functionResponseTypes"),
        ({"functionResponseTypes": [1]}, "functionResponseTypes"),
        ({"functionResponseTypes": {"ReportBatchItemFailures": True}}, "functionResponseTypes"),
        ({"functionResponseTypes": ["ReportBatchItemFailures", None]}, "functionResponseTypes"),
    ],
)
def test_malformed_event_raises_probe_config_error_naming_the_field(change, field):
    event = probe_event(QUEUE, **change)
    with pytest.raises(probe_input.ProbeConfigError, match=field):
        probe_input.parse_event(event)


def test_non_object_event_raises_probe_config_error():
    with pytest.raises(probe_input.ProbeConfigError, match="JSON object"):
        probe_input.parse_event(["queueUrl"])


def test_probe_config_error_is_a_value_error():
    assert issubclass(probe_input.ProbeConfigError, ValueError)


def test_bounds_of_integer_fields_are_accepted():
    request = probe_input.parse_event(
        probe_event(QUEUE, failureVisibilityTimeout=43200, waitTimeSeconds=20)
    )
    assert (request.failure_visibility_timeout, request.wait_time_seconds) == (43200, 20)


def test_fifo_queue_is_recognised_from_its_arn():
    request = probe_input.parse_event(
        probe_event({"url": QUEUE["url"] + ".fifo", "arn": QUEUE["arn"] + ".fifo"})
    )
    assert request.fifo is True


# ---- Handler ------------------------------------------------------------------------------------
class Context:
    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def test_handler_validates_the_event_and_reports_an_empty_queue(sqs, queue):
    result = probe.handler(probe_event(queue), Context())
    assert result["outcome"] == "empty"


def test_handler_refuses_a_malformed_event_before_any_aws_call():
    with pytest.raises(probe_input.ProbeConfigError, match="queueArn"):
        probe.handler({"queueUrl": QUEUE["url"], "functionName": "f"}, Context())


def test_lambda_client_region_follows_a_function_arn():
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:f"
    assert probe._lambda_region(arn, "us-east-1") == "eu-west-1"
    assert probe._lambda_region("f", "us-east-1") == "us-east-1"


def test_supports_reads_the_client_service_model(sqs):
    assert messages._supports(sqs, "ReceiveMessage", "MessageAttributeNames")
    assert not messages._supports(sqs, "ReceiveMessage", "NoSuchParameter")
    assert not messages._supports(object(), "ReceiveMessage", "MessageAttributeNames")


def test_an_sdk_without_message_system_attribute_names_still_gets_system_attributes(
    sqs, queue, monkeypatch
):
    # An older boto3 bundled with the Lambda runtime does not know MessageSystemAttributeNames:
    # the probe then asks with AttributeNames only, which every SDK release understands.
    monkeypatch.setattr(messages, "_supports", lambda *args: False)
    sqs.send_message(QueueUrl=queue["url"], MessageBody="old-sdk")
    lam = FakeLambda()
    result = run(queue, sqs, lam)
    assert result["outcome"] == "healthy"
    record = lam.events[0]["Records"][0]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"


def test_result_reports_the_probed_message_age_for_the_retention_guard(sqs, queue):
    sqs.send_message(QueueUrl=queue["url"], MessageBody="old")
    sent_ms = int(receive_all_peek(sqs, queue["url"])["Attributes"]["SentTimestamp"])
    request = probe_input.parse_event(probe_event(queue))
    result = probe.run_probe(
        request,
        sqs=sqs,
        lambda_client=FakeLambda(lambda event: {"function_error": "Unhandled"}),
        now_ms=lambda: sent_ms + 3_600_500,
    )
    assert result["outcome"] == "unhealthy"
    assert result["messageAgeSeconds"] == 3600


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"SentTimestamp": "1000"}, 4),
        ({}, 0),
        ({"SentTimestamp": "x"}, 0),
        ({"SentTimestamp": "9000"}, 0),
    ],
)
def test_message_age_seconds(attributes, expected):
    assert messages.message_age_seconds(attributes, now_ms=5_999) == expected


@pytest.mark.parametrize(
    ("attributes", "origin_sent_ms", "expected"),
    [
        ({"SentTimestamp": "5000"}, 1000, 4),  # re-sent: the original send is older
        ({"SentTimestamp": "1000"}, 5000, 4),  # origin newer (clock skew): SentTimestamp wins
        ({}, 1000, 4),
        ({"SentTimestamp": "x"}, 2000, 3),
        ({}, None, 0),
    ],
)
def test_message_age_counts_from_the_older_of_sent_timestamp_and_origin(
    attributes, origin_sent_ms, expected
):
    assert messages.message_age_seconds(attributes, 5_999, origin_sent_ms) == expected


def origin_attribute(value: str, data_type: str = "String") -> dict[str, Any]:
    return {"sqscb-origin": {"DataType": data_type, "StringValue": value}}


def test_resent_message_age_and_original_id_come_from_sqscb_origin(sqs, queue):
    original_sent_ms = 1_700_000_000_000  # long before this copy's SentTimestamp
    origin = json.dumps(
        {
            "v": 1,
            "id": "original-id",
            "sentMs": original_sent_ms,
            "receives": 3,
            "resentMs": 1_700_000_900_000,
            "passes": 1,
        },
        separators=(",", ":"),
    )
    resent = sqs.send_message(
        QueueUrl=queue["url"], MessageBody="resent", MessageAttributes=origin_attribute(origin)
    )
    sent_ms = int(receive_all_peek(sqs, queue["url"])["Attributes"]["SentTimestamp"])
    assert sent_ms > original_sent_ms
    lam = FakeLambda(lambda event: {"function_error": "Unhandled"})
    request = probe_input.parse_event(probe_event(queue))
    now = sent_ms + 60_000
    result = probe.run_probe(request, sqs=sqs, lambda_client=lam, now_ms=lambda: now)
    assert result["messageId"] == resent["MessageId"]
    assert result["originalMessageId"] == "original-id"
    assert result["messageAgeSeconds"] == (now - original_sent_ms) // 1000
    # The protected function sees the attribute as the ESM would pass it.
    attrs = lam.events[0]["Records"][0]["messageAttributes"]
    assert attrs["sqscb-origin"]["stringValue"] == origin


def test_malformed_sqscb_origin_is_ignored_and_logged(sqs, queue, capsys):
    sent = sqs.send_message(
        QueueUrl=queue["url"],
        MessageBody="x",
        MessageAttributes=origin_attribute('{"v":1,"id":"orig","sentMs":"yesterday"}'),
    )
    sent_ms = int(receive_all_peek(sqs, queue["url"])["Attributes"]["SentTimestamp"])
    request = probe_input.parse_event(probe_event(queue))
    result = probe.run_probe(
        request, sqs=sqs, lambda_client=FakeLambda(), now_ms=lambda: sent_ms + 10_000
    )
    assert result["outcome"] == "healthy"
    assert result["originalMessageId"] == sent["MessageId"]
    assert result["messageAgeSeconds"] == 10
    logs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (warning,) = [line for line in logs if line["level"] == "WARN"]
    assert "sqscb-origin" in warning["message"]
    assert warning["messageId"] == sent["MessageId"]
    assert (
        "sentMs" in warning["error"]
        or "passes" in warning["error"]
        or "receives" in warning["error"]
    )


def test_message_without_origin_has_none():
    assert messages.message_origin({"MessageId": "m"}) is None
    assert messages.message_origin({"MessageId": "m", "MessageAttributes": {}}) is None


def test_empty_and_synthetic_results_report_age_zero(sqs, queue):
    assert run(queue, sqs, FakeLambda())["messageAgeSeconds"] == 0
    assert run(queue, sqs, FakeLambda(), syntheticBody="s")["messageAgeSeconds"] == 0


# ---- Failure visibility and the 12-hour limit ----------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run_with_clock(
    queue: dict[str, str], sqs: Any, invoke_seconds: float, **event: Any
) -> dict[str, Any]:
    clock = FakeClock()

    def slow_failure(record_event: dict[str, Any]) -> dict[str, Any]:
        clock.now += invoke_seconds
        return {"function_error": "Unhandled"}

    request = probe_input.parse_event(probe_event(queue, **event))
    return probe.run_probe(request, sqs=sqs, lambda_client=FakeLambda(slow_failure), clock=clock)


def test_failure_visibility_is_clamped_to_the_12_hour_limit_counted_from_the_receive(sqs, queue):
    sqs.send_message(QueueUrl=queue["url"], MessageBody="x")
    rec = Recording(sqs)
    result = run_with_clock(queue, rec, 899.2, failureVisibilityTimeout=43200)
    assert result["outcome"] == "unhealthy"
    (call,) = rec.calls["change_message_visibility"]
    assert call["VisibilityTimeout"] == 43200 - 900 - 5
    assert "clamped to 42295 s (requested 43200 s)" in result["reason"]
    assert "43200 s from the receive" in result["reason"]
    assert "visibility change failed" not in result["reason"]


def test_failure_visibility_within_the_limit_is_not_clamped(sqs, queue):
    sqs.send_message(QueueUrl=queue["url"], MessageBody="x")
    rec = Recording(sqs)
    result = run_with_clock(queue, rec, 899.2, failureVisibilityTimeout=42295)
    (call,) = rec.calls["change_message_visibility"]
    assert call["VisibilityTimeout"] == 42295
    assert "clamped" not in result["reason"]


@pytest.mark.parametrize(
    ("requested", "elapsed", "expected"),
    [
        (43200, 0.0, (43195, True)),
        (43195, 0.0, (43195, False)),
        (43200, 960.0, (42235, True)),
        (43200, 0.1, (43194, True)),
        (300, 960.0, (300, False)),
        (0, 50_000.0, (0, False)),
        (100, 43_199.5, (0, True)),
        (43200, -1.0, (43195, True)),
    ],
)
def test_failure_visibility(requested, elapsed, expected):
    assert messages.failure_visibility(requested, elapsed) == expected


def receive_all_peek(sqs: Any, url: str) -> dict[str, Any]:
    (message,) = sqs.receive_message(
        QueueUrl=url, AttributeNames=["All"], VisibilityTimeout=0, WaitTimeSeconds=0
    )["Messages"]
    return message


# ---- slow calls --------------------------------------------------------------------------------
def test_a_handled_answer_slower_than_the_threshold_is_unhealthy_and_deletes_the_message(
    sqs, queue
):
    sent = sqs.send_message(QueueUrl=queue["url"], MessageBody="slow")

    def respond(event: dict[str, Any]) -> dict[str, Any]:
        time.sleep(0.08)
        return {"payload": {"batchItemFailures": []}}

    result = run(queue, sqs, FakeLambda(respond), slowCallMs=40, **RBIF)
    assert result["outcome"] == "unhealthy"
    assert "slower than the slow-call threshold of 40 ms" in result["reason"]
    assert result["messageId"] == sent["MessageId"]
    # the function processed it: deleted, as the mapping would (kept, it would be processed twice)
    assert queue_depth(sqs, queue["url"]) == (0, 0)


def test_an_answer_within_the_threshold_is_healthy(sqs, queue):
    sqs.send_message(QueueUrl=queue["url"], MessageBody="fast")
    result = run(queue, sqs, FakeLambda(), slowCallMs=5_000)
    assert result["outcome"] == "healthy"
    assert queue_depth(sqs, queue["url"]) == (0, 0)


@pytest.mark.parametrize(
    ("healthy", "elapsed_ms", "threshold", "judged_healthy"),
    [
        (True, 100.0, None, True),  # not judged
        (True, 100.0, 100, True),  # at the threshold: not slower
        (True, 100.4, 100, False),
        (False, 1.0, 100, False),  # an unhealthy answer stays unhealthy, with its reason
    ],
)
def test_judge_duration(healthy, elapsed_ms, threshold, judged_healthy):
    result = invoke.judge_duration(invoke.InvokeResult(healthy, "why"), elapsed_ms, threshold)
    assert result.healthy is judged_healthy
    assert result.processed is healthy  # a slow answer was handled; a failed one was not
    assert ("why" in result.reason) and (judged_healthy or not healthy or "slower" in result.reason)


@pytest.mark.parametrize("value", [0, -5, 900_001, 1.5, "100", True])
def test_a_bad_slow_call_threshold_is_refused(queue, value):
    with pytest.raises(probe_input.ProbeConfigError, match="slowCallMs"):
        probe_input.parse_event(probe_event(queue, slowCallMs=value))


def test_no_slow_call_threshold_by_default(queue):
    assert probe_input.parse_event(probe_event(queue)).slow_call_ms is None
    assert probe_input.parse_event(probe_event(queue, slowCallMs=None)).slow_call_ms is None
    assert probe_input.parse_event(probe_event(queue, slowCallMs=250)).slow_call_ms == 250
