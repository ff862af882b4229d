"""Probe: ESM-shaped event, health classification, and what happens to the probe message."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import boto3
import botocore.exceptions
import probe
import pytest
from botocore.stub import ANY, Stubber
from sqscb_fakes import FakeLambda, Recording, client_error, streaming

REGION = "us-east-1"
FUNCTION = "protected-fn"


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
    request = probe.parse_event(probe_event(queue, **event))
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
    converted = probe.esm_message_attribute(
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
    record = probe.esm_record(message, "arn:aws:sqs:us-east-1:123456789012:q.fifo", "us-east-1")
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
    assert probe.receive_visibility_timeout(remaining_ms) == expected


# ---- Healthy / unhealthy ------------------------------------------------------------------------
def test_healthy_invoke_deletes_the_probe_message(sqs, queue):
    sent = sqs.send_message(QueueUrl=queue["url"], MessageBody="x")
    result = run(queue, sqs, FakeLambda())
    assert result["outcome"] == "healthy"
    assert result["source"] == "message"
    assert result["messageId"] == sent["MessageId"]
    assert result["receiveCount"] == 1
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
    lam = boto3.client("lambda", region_name=REGION, config=probe.INVOKE_CONFIG)
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
    lam = boto3.client("lambda", region_name=REGION, config=probe.INVOKE_CONFIG)
    assert lam.meta.config.retries["total_max_attempts"] == 1
    assert lam.meta.config.read_timeout > 900
    assert lam.meta.config.tcp_keepalive is True


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
    result = run(queue, sqs, lam)
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
    result = run(queue, sqs, lam)
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
    result = run(queue, sqs, FakeLambda(lambda event: {"payload": payload}))
    assert result["outcome"] == "healthy"
    assert queue_depth(sqs, queue["url"]) == (0, 0)


def test_invoke_response_without_payload_is_healthy():
    class NoPayload:
        def invoke(self, **kwargs):
            return {"StatusCode": 200}

    event = {"Records": [{"messageId": "m"}]}
    assert probe.invoke_target(NoPayload(), FUNCTION, event).healthy


def test_invoke_response_with_an_already_read_payload_is_classified():
    class BytesPayload:
        def invoke(self, **kwargs):
            return {
                "StatusCode": 200,
                "Payload": b'{"batchItemFailures": [{"itemIdentifier": "m"}]}',
            }

    event = {"Records": [{"messageId": "m"}]}
    assert not probe.invoke_target(BytesPayload(), FUNCTION, event).healthy


def test_receive_count_is_null_when_the_attribute_is_missing_or_not_a_number():
    assert probe._receive_count({}) is None
    assert probe._receive_count({"ApproximateReceiveCount": "many"}) is None
    assert probe._receive_count({"ApproximateReceiveCount": "4"}) == 4


# ---- Empty queue and synthetic probes -----------------------------------------------------------
def test_empty_queue_without_synthetic_body_is_empty_and_invokes_nothing(sqs, queue):
    lam = FakeLambda()
    result = run(queue, sqs, lam)
    assert result == {
        "outcome": "empty",
        "source": None,
        "messageId": None,
        "receiveCount": None,
        "messageAgeSeconds": 0,
        "reason": "queue is empty",
        "durationMs": result["durationMs"],
    }
    assert lam.calls == []


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
    assert record["receiptHandle"].startswith(probe.SYNTHETIC_RECEIPT_PREFIX)
    assert record["md5OfBody"] == hashlib.md5(b'{"ping": true}').hexdigest()
    assert record["messageAttributes"] == {}
    assert record["eventSourceARN"] == queue["arn"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["attributes"]["SenderId"] == "sqs-circuit-breaker-probe"
    assert set(rec.calls) == {"receive_message"}
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
    record = probe.synthetic_record(
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

    with pytest.raises(probe.ProbeAwsError, match=r"ResourceNotFoundException.*configuration"):
        run(queue, sqs, FakeLambda(missing), failureVisibilityTimeout=600)
    (again,) = receive_all(sqs, queue["url"])
    assert again["MessageId"] == sent["MessageId"]


def test_misconfigured_synthetic_invoke_raises(sqs, queue):
    def denied(event):
        raise client_error("AccessDeniedException", "Invoke")

    with pytest.raises(probe.ProbeAwsError, match="AccessDeniedException"):
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
    with pytest.raises(probe.ProbeAwsError, match=r"DeleteMessage.*AccessDenied"):
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
    with pytest.raises(probe.ProbeAwsError, match=r"ReceiveMessage on .*missing"):
        run(missing, sqs, FakeLambda())


# ---- Input validation ---------------------------------------------------------------------------
QUEUE = {
    "url": "https://sqs.us-east-1.amazonaws.com/123456789012/protected",
    "arn": "arn:aws:sqs:us-east-1:123456789012:protected",
}


def test_defaults_are_applied_to_optional_fields():
    request = probe.parse_event(
        {"queueUrl": QUEUE["url"], "queueArn": QUEUE["arn"], "functionName": "f"}
    )
    assert request.probe_mode == "message"
    assert request.synthetic_body is None
    assert request.failure_visibility_timeout == 0
    assert request.wait_time_seconds == 2
    assert request.region == "us-east-1"
    assert request.fifo is False


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
    ],
)
def test_malformed_event_raises_probe_config_error_naming_the_field(change, field):
    event = probe_event(QUEUE, **change)
    with pytest.raises(probe.ProbeConfigError, match=field):
        probe.parse_event(event)


def test_non_object_event_raises_probe_config_error():
    with pytest.raises(probe.ProbeConfigError, match="JSON object"):
        probe.parse_event(["queueUrl"])


def test_probe_config_error_is_a_value_error():
    assert issubclass(probe.ProbeConfigError, ValueError)


def test_bounds_of_integer_fields_are_accepted():
    request = probe.parse_event(
        probe_event(QUEUE, failureVisibilityTimeout=43200, waitTimeSeconds=20)
    )
    assert (request.failure_visibility_timeout, request.wait_time_seconds) == (43200, 20)


def test_fifo_queue_is_recognised_from_its_arn():
    request = probe.parse_event(
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
    with pytest.raises(probe.ProbeConfigError, match="queueArn"):
        probe.handler({"queueUrl": QUEUE["url"], "functionName": "f"}, Context())


def test_lambda_client_region_follows_a_function_arn():
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:f"
    assert probe._lambda_region(arn, "us-east-1") == "eu-west-1"
    assert probe._lambda_region("f", "us-east-1") == "us-east-1"


def test_supports_reads_the_client_service_model(sqs):
    assert probe._supports(sqs, "ReceiveMessage", "MessageAttributeNames")
    assert not probe._supports(sqs, "ReceiveMessage", "NoSuchParameter")
    assert not probe._supports(object(), "ReceiveMessage", "MessageAttributeNames")


def test_an_sdk_without_message_system_attribute_names_still_gets_system_attributes(
    sqs, queue, monkeypatch
):
    # An older boto3 bundled with the Lambda runtime does not know MessageSystemAttributeNames:
    # the probe then asks with AttributeNames only, which every SDK release understands.
    monkeypatch.setattr(probe, "_supports", lambda *args: False)
    sqs.send_message(QueueUrl=queue["url"], MessageBody="old-sdk")
    lam = FakeLambda()
    result = run(queue, sqs, lam)
    assert result["outcome"] == "healthy"
    record = lam.events[0]["Records"][0]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"


def test_result_reports_the_probed_message_age_for_the_retention_guard(sqs, queue):
    sqs.send_message(QueueUrl=queue["url"], MessageBody="old")
    sent_ms = int(receive_all_peek(sqs, queue["url"])["Attributes"]["SentTimestamp"])
    request = probe.parse_event(probe_event(queue))
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
    assert probe.message_age_seconds(attributes, now_ms=5_999) == expected


def test_empty_and_synthetic_results_report_age_zero(sqs, queue):
    assert run(queue, sqs, FakeLambda())["messageAgeSeconds"] == 0
    assert run(queue, sqs, FakeLambda(), syntheticBody="s")["messageAgeSeconds"] == 0


def receive_all_peek(sqs: Any, url: str) -> dict[str, Any]:
    (message,) = sqs.receive_message(
        QueueUrl=url, AttributeNames=["All"], VisibilityTimeout=0, WaitTimeSeconds=0
    )["Messages"]
    return message
