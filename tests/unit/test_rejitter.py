"""Rejitter: re-send with a random delay, keep everything, report exactly what was not re-sent."""

from __future__ import annotations

import base64
import random
from typing import Any

import boto3
import pytest
import rejitter
from botocore.stub import ANY, Stubber
from common.env import ConfigError
from sqscb_fakes import Recording, client_error

REGION = "us-east-1"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/protected"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:protected"


def config(url: str = QUEUE_URL, low: int = 0, high: int = 0) -> rejitter.RejitterConfig:
    return rejitter.RejitterConfig(queue_url=url, min_delay=low, max_delay=high)


def record(
    message_id: str = "m-1",
    body: str = "body",
    attributes: dict[str, Any] | None = None,
    trace_header: str | None = None,
    source_arn: str = QUEUE_ARN,
) -> dict[str, Any]:
    system = {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": "1700000000000",
        "SenderId": "AIDAEXAMPLE",
        "ApproximateFirstReceiveTimestamp": "1700000000001",
    }
    if trace_header:
        system["AWSTraceHeader"] = trace_header
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": body,
        "attributes": system,
        "messageAttributes": attributes or {},
        "md5OfBody": "ignored",
        "eventSource": "aws:sqs",
        "eventSourceARN": source_arn,
        "awsRegion": REGION,
    }


def esm_string(value: str, data_type: str = "String") -> dict[str, Any]:
    return {
        "stringValue": value,
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": data_type,
    }


def esm_binary(value: bytes, data_type: str = "Binary") -> dict[str, Any]:
    return {
        "binaryValue": base64.b64encode(value).decode(),
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": data_type,
    }


def receive_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not batch:
            return messages
        messages += batch


def stubbed_sqs() -> tuple[Any, Stubber]:
    client = boto3.client("sqs", region_name=REGION)
    return client, Stubber(client)


def all_entries(rec: Recording) -> list[dict[str, Any]]:
    return [e for call in rec.calls["send_message_batch"] for e in call["Entries"]]


# ---- Configuration ------------------------------------------------------------------------------
def test_config_defaults_to_delays_between_0_and_900_seconds():
    assert rejitter.load_config({"QUEUE_URL": QUEUE_URL}) == config(QUEUE_URL, 0, 900)


def test_config_reads_the_delay_bounds():
    env = {"QUEUE_URL": QUEUE_URL, "MIN_DELAY_SECONDS": "5", "MAX_DELAY_SECONDS": "5"}
    assert rejitter.load_config(env) == config(QUEUE_URL, 5, 5)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "QUEUE_URL"),
        ({"QUEUE_URL": "  "}, "QUEUE_URL"),
        ({"QUEUE_URL": QUEUE_URL, "MIN_DELAY_SECONDS": "soon"}, "MIN_DELAY_SECONDS"),
        ({"QUEUE_URL": QUEUE_URL, "MIN_DELAY_SECONDS": "-1"}, "MIN_DELAY_SECONDS"),
        ({"QUEUE_URL": QUEUE_URL, "MAX_DELAY_SECONDS": "901"}, "MAX_DELAY_SECONDS"),
        ({"QUEUE_URL": QUEUE_URL, "MAX_DELAY_SECONDS": "1.5"}, "MAX_DELAY_SECONDS"),
        (
            {"QUEUE_URL": QUEUE_URL, "MIN_DELAY_SECONDS": "10", "MAX_DELAY_SECONDS": "9"},
            "MIN_DELAY_SECONDS",
        ),
    ],
)
def test_invalid_config_raises_an_error_naming_the_variable(env, variable):
    with pytest.raises(ConfigError, match=variable) as caught:
        rejitter.load_config(env)
    assert caught.value.name == variable


def test_fifo_queue_url_is_refused():
    with pytest.raises(rejitter.RejitterConfigError, match=r"QUEUE_URL.*FIFO.*DelaySeconds"):
        rejitter.load_config({"QUEUE_URL": QUEUE_URL + ".fifo"})


def test_record_from_a_fifo_queue_is_refused_and_nothing_is_sent(sqs, queue):
    rec = Recording(sqs)
    event = {"Records": [record(source_arn=QUEUE_ARN + ".fifo")]}
    with pytest.raises(rejitter.RejitterConfigError, match="FIFO"):
        rejitter.rejitter(event, sqs=rec, config=config(queue["url"]), rng=random.Random(1))
    assert rec.calls == {}


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://sqs.eu-west-1.amazonaws.com/123456789012/q", "eu-west-1"),
        ("https://ap-south-1.queue.amazonaws.com/123456789012/q", "ap-south-1"),
        ("http://localhost:4566/000000000000/q", None),
    ],
)
def test_queue_region_is_taken_from_the_queue_url(url, region):
    assert rejitter.queue_region(url) == region


# ---- Re-sending ---------------------------------------------------------------------------------
def test_body_and_string_number_binary_and_custom_type_attributes_are_preserved(sqs, queue):
    attributes = {
        "s": esm_string("text"),
        "n": esm_string("42", "Number"),
        "f": esm_string("1.5", "Number.float"),
        "b": esm_binary(b"\x00\xffbin"),
        "c": esm_binary(b"\x01", "Binary.gzip"),
    }
    event = {"Records": [record(body='{"order": 7}', attributes=attributes)]}
    result = rejitter.rejitter(event, sqs=sqs, config=config(queue["url"]), rng=random.Random(1))
    assert result == {"batchItemFailures": []}
    (message,) = receive_all(sqs, queue["url"])
    assert message["Body"] == '{"order": 7}'
    assert message["MessageAttributes"] == {
        "s": {"StringValue": "text", "DataType": "String"},
        "n": {"StringValue": "42", "DataType": "Number"},
        "f": {"StringValue": "1.5", "DataType": "Number.float"},
        "b": {"BinaryValue": b"\x00\xffbin", "DataType": "Binary"},
        "c": {"BinaryValue": b"\x01", "DataType": "Binary.gzip"},
        rejitter.PASSES_ATTRIBUTE: {"StringValue": "1", "DataType": "Number"},
    }


def test_trace_header_is_sent_as_the_aws_trace_header_system_attribute(sqs, queue):
    rec = Recording(sqs)
    event = {"Records": [record(trace_header="Root=1-5e1b4151-5ac6c58f5b5daa6532e2e1a1")]}
    result = rejitter.rejitter(event, sqs=rec, config=config(queue["url"]), rng=random.Random(1))
    assert result == {"batchItemFailures": []}
    (entry,) = all_entries(rec)
    assert entry["MessageSystemAttributes"] == {
        "AWSTraceHeader": {
            "DataType": "String",
            "StringValue": "Root=1-5e1b4151-5ac6c58f5b5daa6532e2e1a1",
        }
    }
    # moto quirk: moto's SendMessageBatch drops MessageSystemAttributes (its SendMessage keeps
    # them), so the re-sent message cannot be received back with its AWSTraceHeader here; AWS
    # keeps it. The request entry above is what AWS receives.
    (message,) = receive_all(sqs, queue["url"])
    assert message["Body"] == "body"


def test_record_without_trace_header_sends_no_system_attributes(sqs, queue):
    rec = Recording(sqs)
    rejitter.rejitter(
        {"Records": [record()]}, sqs=rec, config=config(queue["url"]), rng=random.Random(1)
    )
    assert "MessageSystemAttributes" not in all_entries(rec)[0]


def test_pass_counter_is_added_as_a_number_attribute_starting_at_one(sqs, queue):
    rec = Recording(sqs)
    rejitter.rejitter(
        {"Records": [record()]}, sqs=rec, config=config(queue["url"]), rng=random.Random(1)
    )
    assert all_entries(rec)[0]["MessageAttributes"] == {
        rejitter.PASSES_ATTRIBUTE: {"DataType": "Number", "StringValue": "1"}
    }


def test_pass_counter_is_incremented_when_present(sqs, queue):
    attributes = {rejitter.PASSES_ATTRIBUTE: esm_string("3", "Number")}
    rejitter.rejitter(
        {"Records": [record(attributes=attributes)]},
        sqs=sqs,
        config=config(queue["url"]),
        rng=random.Random(1),
    )
    (message,) = receive_all(sqs, queue["url"])
    assert message["MessageAttributes"][rejitter.PASSES_ATTRIBUTE]["StringValue"] == "4"


def test_unreadable_pass_counter_restarts_at_one(sqs, queue):
    rec = Recording(sqs)
    attributes = {rejitter.PASSES_ATTRIBUTE: esm_string("many", "String")}
    rejitter.rejitter(
        {"Records": [record(attributes=attributes)]},
        sqs=rec,
        config=config(queue["url"]),
        rng=random.Random(1),
    )
    counter = all_entries(rec)[0]["MessageAttributes"][rejitter.PASSES_ATTRIBUTE]
    assert counter == {"DataType": "Number", "StringValue": "1"}


def test_message_with_ten_attributes_and_no_counter_is_resent_without_the_counter(
    sqs, queue, capsys
):
    attributes = {f"a{i}": esm_string(str(i)) for i in range(10)}
    result = rejitter.rejitter(
        {"Records": [record(attributes=attributes)]},
        sqs=sqs,
        config=config(queue["url"]),
        rng=random.Random(1),
    )
    assert result == {"batchItemFailures": []}
    (message,) = receive_all(sqs, queue["url"])
    assert sorted(message["MessageAttributes"]) == sorted(attributes)
    assert "without the sqscb-rejitter-passes counter" in capsys.readouterr().out


def test_message_with_ten_attributes_including_the_counter_has_it_incremented(sqs, queue):
    attributes = {f"a{i}": esm_string(str(i)) for i in range(9)}
    attributes[rejitter.PASSES_ATTRIBUTE] = esm_string("1", "Number")
    rejitter.rejitter(
        {"Records": [record(attributes=attributes)]},
        sqs=sqs,
        config=config(queue["url"]),
        rng=random.Random(1),
    )
    (message,) = receive_all(sqs, queue["url"])
    assert len(message["MessageAttributes"]) == 10
    assert message["MessageAttributes"][rejitter.PASSES_ATTRIBUTE]["StringValue"] == "2"


def test_attribute_list_values_are_converted_back_when_present():
    converted = rejitter.send_attribute(
        "l",
        {
            "stringValue": "v",
            "stringListValues": ["a"],
            "binaryListValues": ["AQ=="],
            "dataType": "String",
        },
    )
    assert converted == {
        "DataType": "String",
        "StringValue": "v",
        "StringListValues": ["a"],
        "BinaryListValues": [b"\x01"],
    }


def test_all_delays_lie_within_the_configured_bounds(sqs, queue):
    rec = Recording(sqs)
    event = {"Records": [record(f"m-{i}") for i in range(25)]}
    result = rejitter.rejitter(
        event, sqs=rec, config=config(queue["url"], 30, 90), rng=random.Random(7)
    )
    assert result == {"batchItemFailures": []}
    delays = [e["DelaySeconds"] for e in all_entries(rec)]
    assert len(delays) == 25
    assert all(30 <= d <= 90 for d in delays)
    assert len(set(delays)) > 1  # actually spread out


def test_equal_bounds_give_every_message_that_exact_delay(sqs, queue):
    rec = Recording(sqs)
    event = {"Records": [record(f"m-{i}") for i in range(5)]}
    rejitter.rejitter(event, sqs=rec, config=config(queue["url"], 12, 12), rng=random.Random(7))
    assert [e["DelaySeconds"] for e in all_entries(rec)] == [12] * 5


def test_delayed_messages_are_not_receivable_before_their_delay(sqs, queue):
    rejitter.rejitter(
        {"Records": [record()]},
        sqs=sqs,
        config=config(queue["url"], 600, 600),
        rng=random.Random(1),
    )
    assert receive_all(sqs, queue["url"]) == []


def test_records_are_sent_in_batches_of_at_most_ten_with_unique_entry_ids(sqs, queue):
    rec = Recording(sqs)
    event = {"Records": [record(f"m-{i}") for i in range(25)]}
    rejitter.rejitter(event, sqs=rec, config=config(queue["url"]), rng=random.Random(1))
    sizes = [len(call["Entries"]) for call in rec.calls["send_message_batch"]]
    assert sizes == [10, 10, 5]
    ids = [e["Id"] for e in all_entries(rec)]
    assert len(set(ids)) == 25
    assert len(receive_all(sqs, queue["url"])) == 25


def test_all_sent_returns_an_empty_failure_list(sqs, queue):
    event = {"Records": [record("a"), record("b")]}
    result = rejitter.rejitter(event, sqs=sqs, config=config(queue["url"]), rng=random.Random(1))
    assert result == {"batchItemFailures": []}


def test_empty_batch_sends_nothing(sqs, queue):
    rec = Recording(sqs)
    result = rejitter.rejitter(
        {"Records": []}, sqs=rec, config=config(queue["url"]), rng=random.Random(1)
    )
    assert result == {"batchItemFailures": []}
    assert rec.calls == {}


# ---- Failures: never lose a message -------------------------------------------------------------
def batch_ok(ids: list[str]) -> dict[str, Any]:
    return {
        "Successful": [
            {"Id": i, "MessageId": f"new-{i}", "MD5OfMessageBody": "0" * 32} for i in ids
        ],
        "Failed": [],
    }


def test_entries_that_fail_to_send_are_exactly_the_reported_failures():
    # Stubber: moto cannot make chosen entries of a batch fail.
    sqs, stub = stubbed_sqs()
    stub.add_response(
        "send_message_batch",
        {
            "Successful": batch_ok(["r0", "r2"])["Successful"],
            "Failed": [
                {"Id": "r1", "SenderFault": False, "Code": "InternalError", "Message": "x"},
                {"Id": "r3", "SenderFault": True, "Code": "InvalidParameterValue"},
            ],
        },
        {"QueueUrl": QUEUE_URL, "Entries": ANY},
    )
    event = {"Records": [record(f"m-{i}") for i in range(4)]}
    with stub:
        result = rejitter.rejitter(event, sqs=sqs, config=config(), rng=random.Random(1))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-3"}]}


def test_a_failing_call_fails_all_its_records_and_only_those():
    sqs, stub = stubbed_sqs()
    stub.add_client_error("send_message_batch", "ServiceUnavailable", http_status_code=503)
    stub.add_response("send_message_batch", batch_ok(["r10", "r11"]))
    event = {"Records": [record(f"m-{i}") for i in range(12)]}
    with stub:
        result = rejitter.rejitter(event, sqs=sqs, config=config(), rng=random.Random(1))
    assert result == {"batchItemFailures": [{"itemIdentifier": f"m-{i}"} for i in range(10)]}


def test_when_every_call_fails_every_record_is_reported(sqs, queue):
    error = client_error("AccessDenied", "SendMessageBatch")
    rec = Recording(sqs, fail={"send_message_batch": error})
    event = {"Records": [record(f"m-{i}") for i in range(3)]}
    result = rejitter.rejitter(event, sqs=rec, config=config(queue["url"]), rng=random.Random(1))
    assert result == {"batchItemFailures": [{"itemIdentifier": f"m-{i}"} for i in range(3)]}
    assert receive_all(sqs, queue["url"]) == []


def test_entry_missing_from_both_lists_of_the_response_counts_as_failed():
    sqs, stub = stubbed_sqs()
    stub.add_response("send_message_batch", batch_ok(["r0"]))
    event = {"Records": [record("m-0"), record("m-1")]}
    with stub:
        result = rejitter.rejitter(event, sqs=sqs, config=config(), rng=random.Random(1))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}


@pytest.mark.parametrize(
    "code", ["BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong"]
)
def test_a_batch_too_long_in_bytes_is_split_so_what_fits_still_goes(code):
    sqs, stub = stubbed_sqs()
    stub.add_client_error("send_message_batch", code)  # r0..r3
    stub.add_response("send_message_batch", batch_ok(["r0", "r1"]))
    stub.add_client_error("send_message_batch", code)  # r2, r3
    stub.add_response("send_message_batch", batch_ok(["r2"]))
    stub.add_client_error("send_message_batch", code)  # r3 alone: too long, give up
    event = {"Records": [record(f"m-{i}") for i in range(4)]}
    with stub:
        result = rejitter.rejitter(event, sqs=sqs, config=config(), rng=random.Random(1))
        stub.assert_no_pending_responses()
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-3"}]}


def test_record_with_an_unusable_attribute_stays_in_the_queue_and_the_rest_are_sent(sqs, queue):
    bad = {"b": {"binaryValue": "%%%not-base64", "dataType": "Binary"}}
    event = {"Records": [record("m-0"), record("m-1", attributes=bad)]}
    result = rejitter.rejitter(event, sqs=sqs, config=config(queue["url"]), rng=random.Random(1))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert len(receive_all(sqs, queue["url"])) == 1


@pytest.mark.parametrize(
    ("attribute", "problem"),
    [
        ({"stringValue": "v"}, "no dataType"),
        ("text", "no dataType"),
        ({"dataType": "String", "stringListValues": [], "binaryListValues": []}, "no value"),
        ({"binaryValue": 5, "dataType": "Binary"}, "base64"),
        ({"binaryListValues": ["@@"], "dataType": "Binary"}, "not valid base64"),
    ],
)
def test_unusable_attribute_is_described(attribute, problem):
    with pytest.raises(rejitter.RecordError, match=problem):
        rejitter.send_attribute("a", attribute)


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({}, "Records list"),
        ({"Records": "x"}, "Records list"),
        ([], "Records list"),
        ({"Records": ["x"]}, r"Records\[0\] is not an object"),
        ({"Records": [{"body": "b"}]}, r"Records\[0\]\.messageId"),
        ({"Records": [{"messageId": "", "body": "b"}]}, r"Records\[0\]\.messageId"),
        ({"Records": [record("ok"), {"messageId": "m"}]}, r"Records\[1\]\.body.*messageId m"),
    ],
)
def test_malformed_event_raises_so_the_whole_batch_is_retried(sqs, queue, event, problem):
    rec = Recording(sqs)
    with pytest.raises(rejitter.RejitterEventError, match=problem):
        rejitter.rejitter(event, sqs=rec, config=config(queue["url"]), rng=random.Random(1))
    assert rec.calls == {}


# ---- Handler ------------------------------------------------------------------------------------
def test_handler_validates_the_environment_once_and_resends(sqs, queue, monkeypatch):
    monkeypatch.setattr(rejitter, "_config", None)  # a fresh container
    monkeypatch.setenv("QUEUE_URL", queue["url"])
    monkeypatch.setenv("MIN_DELAY_SECONDS", "0")
    monkeypatch.setenv("MAX_DELAY_SECONDS", "0")
    result = rejitter.handler({"Records": [record()]}, None)
    assert result == {"batchItemFailures": []}
    assert len(receive_all(sqs, queue["url"])) == 1
    monkeypatch.setenv("MAX_DELAY_SECONDS", "not read again")
    assert rejitter.handler({"Records": []}, None) == {"batchItemFailures": []}


def test_handler_with_invalid_environment_fails_naming_the_variable(monkeypatch):
    monkeypatch.setattr(rejitter, "_config", None)
    monkeypatch.delenv("QUEUE_URL", raising=False)
    with pytest.raises(ConfigError, match="QUEUE_URL"):
        rejitter.handler({"Records": []}, None)
