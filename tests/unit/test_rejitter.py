"""Rejitter: re-send with a random delay, keep everything, report exactly what was not re-sent."""

from __future__ import annotations

import base64
import json
import random
from typing import Any

import boto3
import copies
import pytest
import rejitter
import rejitter_config
from botocore.stub import ANY, Stubber
from common import origin as origin_codec
from common.env import ConfigError
from sqscb_fakes import Recording, client_error

REGION = "us-east-1"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/protected"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:protected"
DLQ_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/protected-dlq"
DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:protected-dlq"
SENT_MS = 1_700_000_000_000  # SentTimestamp of record()
NOW_MS = 1_700_000_600_000  # the injected clock of most tests
WINDOW = 300


def clock(value: int = NOW_MS) -> Any:
    return lambda: value


def config(
    url: str = QUEUE_URL, low: int = 0, high: int = 0, window: int = WINDOW
) -> rejitter_config.RejitterConfig:
    return rejitter_config.RejitterConfig(
        queue_url=url, min_delay=low, max_delay=high, window_seconds=window
    )


def redrive(max_receive_count: int = 3) -> rejitter_config.Redrive:
    return rejitter_config.Redrive(
        dlq_arn=DLQ_ARN, dlq_url=DLQ_URL, max_receive_count=max_receive_count
    )


def record(
    message_id: str = "m-1",
    body: str = "body",
    attributes: dict[str, Any] | None = None,
    trace_header: str | None = None,
    source_arn: str = QUEUE_ARN,
    *,
    receive_count: int = 1,
    sent_ms: int = SENT_MS,
) -> dict[str, Any]:
    system = {
        "ApproximateReceiveCount": str(receive_count),
        "SentTimestamp": str(sent_ms),
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


def origin_json(
    origin_id: str = "first",
    sent_ms: int = SENT_MS - 86_400_000,
    receives: int = 0,
    resent_ms: int = SENT_MS,
    passes: int = 1,
) -> str:
    return json.dumps(
        {
            "v": 1,
            "id": origin_id,
            "sentMs": sent_ms,
            "receives": receives,
            "resentMs": resent_ms,
            "passes": passes,
        },
        separators=(",", ":"),
    )


def origin_attribute(**fields: Any) -> dict[str, Any]:
    return {origin_codec.ATTRIBUTE: esm_string(origin_json(**fields))}


def origin_of(attributes: dict[str, Any]) -> dict[str, Any]:
    """The sqscb-origin of a SendMessageBatch entry's or a received message's attributes."""
    attribute = attributes[origin_codec.ATTRIBUTE]
    assert attribute["DataType"] == "String"
    return json.loads(attribute["StringValue"])


def esm_record(message: dict[str, Any], source_arn: str = QUEUE_ARN) -> dict[str, Any]:
    """A message received from (moto's) SQS as the ESM hands it to the function."""
    attributes: dict[str, Any] = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        converted: dict[str, Any] = {
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        if "StringValue" in value:
            converted["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            converted["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        attributes[name] = converted
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message["Attributes"]),
        "messageAttributes": attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": source_arn,
        "awsRegion": REGION,
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
    assert rejitter_config.load_config({"QUEUE_URL": QUEUE_URL}) == config(QUEUE_URL, 0, 900)


def test_config_reads_the_delay_bounds():
    env = {"QUEUE_URL": QUEUE_URL, "MIN_DELAY_SECONDS": "5", "MAX_DELAY_SECONDS": "5"}
    assert rejitter_config.load_config(env) == config(QUEUE_URL, 5, 5)


def test_config_window_defaults_to_300_seconds_and_is_read():
    assert rejitter_config.load_config({"QUEUE_URL": QUEUE_URL}).window_seconds == 300
    env = {"QUEUE_URL": QUEUE_URL, "WINDOW_SECONDS": "43200"}
    assert rejitter_config.load_config(env).window_seconds == 43200


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
        ({"QUEUE_URL": QUEUE_URL, "WINDOW_SECONDS": "0"}, "WINDOW_SECONDS"),
        ({"QUEUE_URL": QUEUE_URL, "WINDOW_SECONDS": "43201"}, "WINDOW_SECONDS"),
        ({"QUEUE_URL": QUEUE_URL, "WINDOW_SECONDS": "5m"}, "WINDOW_SECONDS"),
    ],
)
def test_invalid_config_raises_an_error_naming_the_variable(env, variable):
    with pytest.raises(ConfigError, match=variable) as caught:
        rejitter_config.load_config(env)
    assert caught.value.name == variable


def test_fifo_queue_url_is_refused():
    with pytest.raises(rejitter_config.RejitterConfigError, match=r"QUEUE_URL.*FIFO.*DelaySeconds"):
        rejitter_config.load_config({"QUEUE_URL": QUEUE_URL + ".fifo"})


def test_record_from_a_fifo_queue_is_refused_and_nothing_is_sent(sqs, queue):
    rec = Recording(sqs)
    event = {"Records": [record(source_arn=QUEUE_ARN + ".fifo")]}
    with pytest.raises(rejitter_config.RejitterConfigError, match="FIFO"):
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
    result = rejitter.rejitter(
        event, sqs=sqs, config=config(queue["url"]), rng=random.Random(1), now_ms=clock()
    )
    assert result == {"batchItemFailures": []}
    (message,) = receive_all(sqs, queue["url"])
    assert message["Body"] == '{"order": 7}'
    assert message["MessageAttributes"] == {
        "s": {"StringValue": "text", "DataType": "String"},
        "n": {"StringValue": "42", "DataType": "Number"},
        "f": {"StringValue": "1.5", "DataType": "Number.float"},
        "b": {"BinaryValue": b"\x00\xffbin", "DataType": "Binary"},
        "c": {"BinaryValue": b"\x01", "DataType": "Binary.gzip"},
        origin_codec.ATTRIBUTE: {
            "StringValue": origin_json("m-1", SENT_MS, 0, NOW_MS, 1),
            "DataType": "String",
        },
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


# ---- The sqscb-origin attribute -----------------------------------------------------------------
def test_first_pass_adds_the_origin_as_compact_json_string_attribute(sqs, queue):
    rec = Recording(sqs)
    rejitter.rejitter(
        {"Records": [record("m-1", receive_count=3)]},
        sqs=rec,
        config=config(queue["url"]),
        rng=random.Random(1),
        now_ms=clock(),
    )
    assert all_entries(rec)[0]["MessageAttributes"] == {
        origin_codec.ATTRIBUTE: {
            "DataType": "String",
            "StringValue": '{"v":1,"id":"m-1","sentMs":1700000000000,"receives":2,'
            '"resentMs":1700000600000,"passes":1}',
        }
    }


def test_second_pass_keeps_id_and_sent_time_and_accumulates_receives_and_passes(sqs, queue):
    # Round trip through (moto's) SQS: the copy of the first pass, delivered twice to the function
    # after the window, is seen by the rejitter of a later episode.
    original = record("first", receive_count=3)
    first_clock = rejitter.wall_clock_ms()
    rejitter.rejitter(
        {"Records": [original]},
        sqs=sqs,
        config=config(queue["url"]),
        rng=random.Random(1),
        now_ms=clock(first_clock),
    )
    (copy,) = receive_all(sqs, queue["url"])
    assert copy["MessageId"] != "first"  # SQS gives every copy a new MessageId
    assert origin_of(copy["MessageAttributes"]) == {
        "v": 1,
        "id": "first",
        "sentMs": SENT_MS,
        "receives": 2,
        "resentMs": first_clock,
        "passes": 1,
    }
    copy_record = esm_record(copy)
    copy_record["attributes"]["ApproximateReceiveCount"] = "4"  # 3 deliveries + the rejitter
    later = first_clock + (WINDOW + 30) * 1000 + 3_600_000
    sqs.delete_message(QueueUrl=queue["url"], ReceiptHandle=copy["ReceiptHandle"])
    result = rejitter.rejitter(
        {"Records": [copy_record]},
        sqs=sqs,
        config=config(queue["url"]),
        rng=random.Random(1),
        now_ms=clock(later),
    )
    assert result == {"batchItemFailures": []}
    (second,) = receive_all(sqs, queue["url"])
    assert origin_of(second["MessageAttributes"]) == {
        "v": 1,
        "id": "first",
        "sentMs": SENT_MS,
        "receives": 5,
        "resentMs": later,
        "passes": 2,
    }
    assert len(second["MessageAttributes"]) == 1  # still one origin attribute, nothing else


@pytest.mark.parametrize(
    ("receive_count", "previous_receives", "expected"),
    [
        (1, None, 0),  # never delivered to the function: only the rejitter's own receive
        (5, None, 4),
        (1, 7, 7),
        (2, 7, 8),
        (10, 0, 9),
    ],
)
def test_receives_are_earlier_deliveries_plus_this_incarnations_minus_the_rejitters_own(
    receive_count, previous_receives, expected
):
    attributes = None
    if previous_receives is not None:
        attributes = origin_attribute(receives=previous_receives, resent_ms=SENT_MS - 10)
    rec = record(attributes=attributes, receive_count=receive_count)
    previous = copies.previous_origin(rec)
    assert copies.next_origin(rec, previous, NOW_MS).receives == expected


@pytest.mark.parametrize(
    "value", ["not json", '{"v":1,"id":"x"}', '{"v":1,"id":"x","sentMs":"1","receives":0}']
)
def test_record_with_malformed_origin_is_treated_as_an_original_and_resent(
    sqs, queue, capsys, value
):
    rec = Recording(sqs)
    attributes = {"a": esm_string("kept"), origin_codec.ATTRIBUTE: esm_string(value)}
    result = rejitter.rejitter(
        {"Records": [record("m-7", attributes=attributes, receive_count=2)]},
        sqs=rec,
        config=config(queue["url"]),
        rng=random.Random(1),
        redrive=redrive(5),
        now_ms=clock(),
    )
    assert result == {"batchItemFailures": []}
    (entry,) = all_entries(rec)
    assert set(entry["MessageAttributes"]) == {"a", origin_codec.ATTRIBUTE}
    assert origin_of(entry["MessageAttributes"]) == {
        "v": 1,
        "id": "m-7",
        "sentMs": SENT_MS,
        "receives": 1,
        "resentMs": NOW_MS,
        "passes": 1,
    }
    logs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (warning,) = [line for line in logs if line["level"] == "WARN"]
    assert warning["messageId"] == "m-7"
    assert "treated as an original" in warning["message"]


def test_legacy_pass_counter_is_dropped_from_the_copy(sqs, queue):
    rec = Recording(sqs)
    attributes = {f"a{i}": esm_string(str(i)) for i in range(9)}
    attributes[copies.LEGACY_PASSES_ATTRIBUTE] = esm_string("3", "Number")
    result = rejitter.rejitter(
        {"Records": [record(attributes=attributes)]},
        sqs=rec,
        config=config(queue["url"]),
        rng=random.Random(1),
    )
    assert result == {"batchItemFailures": []}
    (entry,) = all_entries(rec)
    assert sorted(entry["MessageAttributes"]) == sorted(
        [f"a{i}" for i in range(9)] + [origin_codec.ATTRIBUTE]
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ApproximateReceiveCount", None),
        ("ApproximateReceiveCount", "0"),
        ("ApproximateReceiveCount", "²"),
        ("SentTimestamp", "yesterday"),
    ],
)
def test_record_without_usable_receive_count_or_sent_time_stays_in_the_queue(
    sqs, queue, capsys, field, value
):
    rec = Recording(sqs)
    bad = record("m-0")
    if value is None:
        del bad["attributes"][field]
    else:
        bad["attributes"][field] = value
    result = rejitter.rejitter(
        {"Records": [bad, record("m-1")]},
        sqs=rec,
        config=config(queue["url"]),
        rng=random.Random(1),
    )
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert [e["Id"] for e in all_entries(rec)] == ["r1"]
    assert f"attributes.{field}" in capsys.readouterr().out


# ---- Messages that cannot carry the origin ------------------------------------------------------
def test_message_with_ten_attributes_and_no_origin_is_not_resent_but_hidden(sqs, queue, capsys):
    attributes = {f"a{i}": {"DataType": "String", "StringValue": str(i)} for i in range(10)}
    sqs.send_message(QueueUrl=queue["url"], MessageBody="full", MessageAttributes=attributes)
    (message,) = receive_all(sqs, queue["url"])
    rec = Recording(sqs)
    result = rejitter.rejitter(
        {"Records": [esm_record(message)]},
        sqs=rec,
        config=config(queue["url"]),
        rng=random.Random(1),
        redrive=redrive(1),
        now_ms=clock(),
    )
    assert result == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert "send_message_batch" not in rec.calls  # a copy would restart its receive count
    assert rec.calls["change_message_visibility"] == [
        {
            "QueueUrl": queue["url"],
            "ReceiptHandle": message["ReceiptHandle"],
            "VisibilityTimeout": WINDOW + 30,
        }
    ]
    assert receive_all(sqs, queue["url"]) == []  # hidden, still in the queue
    attributes_of_queue = sqs.get_queue_attributes(
        QueueUrl=queue["url"], AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attributes_of_queue["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert "cannot carry sqscb-origin" in capsys.readouterr().out


def test_message_with_nine_attributes_and_the_origin_is_resent_with_ten(sqs, queue):
    attributes = {f"a{i}": esm_string(str(i)) for i in range(9)}
    attributes.update(origin_attribute(receives=1, resent_ms=SENT_MS - 5))
    result = rejitter.rejitter(
        {"Records": [record(attributes=attributes)]},
        sqs=sqs,
        config=config(queue["url"]),
        rng=random.Random(1),
        now_ms=clock(),
    )
    assert result == {"batchItemFailures": []}
    (message,) = receive_all(sqs, queue["url"])
    assert len(message["MessageAttributes"]) == 10
    assert origin_of(message["MessageAttributes"])["passes"] == 2


def test_attribute_list_values_are_converted_back_when_present():
    converted = copies.send_attribute(
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


# ---- Redrive: spent messages go to the dead-letter queue ----------------------------------------
@pytest.fixture
def dlq(sqs: Any, queue: dict[str, str]) -> dict[str, str]:
    """protected-dlq as the dead-letter queue of the protected queue (maxReceiveCount 3)."""
    url = sqs.create_queue(QueueName="protected-dlq")["QueueUrl"]
    arn = "arn:aws:sqs:us-east-1:123456789012:protected-dlq"
    policy = {"deadLetterTargetArn": arn, "maxReceiveCount": "3"}
    sqs.set_queue_attributes(
        QueueUrl=queue["url"], Attributes={"RedrivePolicy": json.dumps(policy)}
    )
    return {"url": url, "arn": arn}


def policy_json(rest: str) -> str:
    """A RedrivePolicy naming DLQ_ARN, then ``rest`` (more JSON members) verbatim."""
    return '{"deadLetterTargetArn":"' + DLQ_ARN + '"' + rest + "}"


def test_redrive_policy_is_read_from_the_queue(sqs, queue, dlq):
    assert rejitter_config.load_redrive(sqs, queue["url"]) == rejitter_config.Redrive(
        dlq_arn=dlq["arn"], dlq_url=dlq["url"], max_receive_count=3
    )


def test_queue_without_redrive_policy_has_none(sqs, queue):
    assert rejitter_config.load_redrive(sqs, queue["url"]) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        (policy_json(',"maxReceiveCount":5'), 5),
        (policy_json(',"maxReceiveCount":" 7"'), 7),
        ({"deadLetterTargetArn": DLQ_ARN, "maxReceiveCount": 2}, 2),
    ],
)
def test_redrive_policy_parsing(raw, expected):
    parsed = rejitter_config.parse_redrive_policy(raw, QUEUE_URL)
    if expected is None:
        assert parsed is None
    else:
        assert parsed == rejitter_config.Redrive(DLQ_ARN, DLQ_URL, expected)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("{", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"maxReceiveCount":5}', "deadLetterTargetArn"),
        ('{"deadLetterTargetArn":"protected-dlq","maxReceiveCount":5}', "deadLetterTargetArn"),
        ('{"deadLetterTargetArn":"arn:aws:sqs:r:1:","maxReceiveCount":5}', "deadLetterTargetArn"),
        (policy_json(""), "maxReceiveCount"),
        (policy_json(',"maxReceiveCount":0'), "maxReceiveCount"),
        (policy_json(',"maxReceiveCount":true'), "maxReceiveCount"),
        (policy_json(',"maxReceiveCount":"five"'), "maxReceiveCount"),
    ],
)
def test_unusable_redrive_policy_raises_for_the_whole_batch(raw, problem):
    with pytest.raises(rejitter_config.RedrivePolicyError, match=problem):
        rejitter_config.parse_redrive_policy(raw, QUEUE_URL)


@pytest.mark.parametrize(
    ("queue_url", "expected"),
    [
        (QUEUE_URL, DLQ_URL),
        (
            "https://eu-west-1.queue.amazonaws.com/123456789012/q",
            "https://eu-west-1.queue.amazonaws.com/123456789012/protected-dlq",
        ),
        (
            "http://localhost:4566/000000000000/q/",
            "http://localhost:4566/000000000000/protected-dlq",
        ),
    ],
)
def test_dead_letter_queue_url_is_the_queue_url_with_the_dlq_name(queue_url, expected):
    assert rejitter_config.dlq_url(queue_url, DLQ_ARN) == expected


def test_reading_the_redrive_policy_failing_raises_a_clear_error(sqs, queue):
    rec = Recording(sqs, fail={"get_queue_attributes": client_error("AccessDenied", "x")})
    with pytest.raises(
        rejitter_config.RedrivePolicyError,
        match=r"cannot read the RedrivePolicy.*"
        r"AccessDenied.*nothing is deleted.*sqs:GetQueueAttributes",
    ):
        rejitter_config.load_redrive(rec, queue["url"])


def test_spent_copy_goes_to_the_dead_letter_queue_with_its_attributes_not_back_to_the_queue(
    sqs, queue, dlq, capsys
):
    attributes = {"a": esm_string("kept"), "b": esm_binary(b"\x01")}
    attributes.update(origin_attribute(receives=2, resent_ms=SENT_MS - 5, passes=1))
    # 2 earlier deliveries + 1 of this copy = 3 = maxReceiveCount: SQS would not deliver it again.
    spent = record("copy-1", body="poison", attributes=attributes, receive_count=2)
    rec = Recording(sqs)
    result = rejitter.rejitter(
        {"Records": [spent, record("fresh")]},
        sqs=rec,
        config=config(queue["url"]),
        rng=random.Random(1),
        redrive=rejitter_config.load_redrive(sqs, queue["url"]),
        now_ms=clock(),
    )
    assert result == {"batchItemFailures": []}  # both copied: the ESM deletes both originals
    calls = rec.calls["send_message_batch"]
    assert [c["QueueUrl"] for c in calls] == [queue["url"], dlq["url"]]
    assert "DelaySeconds" not in calls[1]["Entries"][0]
    (dead,) = receive_all(sqs, dlq["url"])
    assert dead["Body"] == "poison"
    assert dead["MessageAttributes"]["a"] == {"StringValue": "kept", "DataType": "String"}
    assert dead["MessageAttributes"]["b"] == {"BinaryValue": b"\x01", "DataType": "Binary"}
    assert origin_of(dead["MessageAttributes"]) == {
        "v": 1,
        "id": "first",
        "sentMs": SENT_MS - 86_400_000,
        "receives": 3,
        "resentMs": NOW_MS,
        "passes": 2,
    }
    (resent,) = receive_all(sqs, queue["url"])
    assert origin_of(resent["MessageAttributes"])["id"] == "fresh"
    logs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (moved,) = [line for line in logs if "dead-letter" in line["message"]]
    assert moved["level"] == "INFO"
    assert (moved["messageId"], moved["originId"], moved["receives"], moved["maxReceiveCount"]) == (
        "copy-1",
        "first",
        3,
        3,
    )


def test_dead_letter_entry_keeps_the_trace_header_and_has_no_delay():
    sqs, stub = stubbed_sqs()
    entry = {
        "Id": "r0",
        "MessageBody": "body",
        "MessageAttributes": {
            origin_codec.ATTRIBUTE: {
                "DataType": "String",
                "StringValue": origin_json("m-1", SENT_MS, 3, NOW_MS, 1),
            }
        },
        "MessageSystemAttributes": {
            "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}
        },
    }
    stub.add_response(
        "send_message_batch", batch_ok(["r0"]), {"QueueUrl": DLQ_URL, "Entries": [entry]}
    )
    event = {"Records": [record(trace_header="Root=1-abc", receive_count=4)]}
    with stub:
        result = rejitter.rejitter(
            event,
            sqs=sqs,
            config=config(high=900),
            rng=random.Random(1),
            redrive=redrive(3),
            now_ms=clock(),
        )
        stub.assert_no_pending_responses()
    assert result == {"batchItemFailures": []}


@pytest.mark.parametrize(("receives", "moved"), [(2, False), (3, True), (9, True)])
def test_dead_letter_threshold_is_receives_reaching_max_receive_count(receives, moved):
    rec = record(
        attributes=origin_attribute(receives=receives - 1, resent_ms=SENT_MS), receive_count=2
    )
    plan = copies.plan_record(rec, window_seconds=WINDOW, redrive=redrive(3), now_ms=NOW_MS)
    assert isinstance(plan, copies.Copy)
    assert plan.origin.receives == receives
    assert plan.dead_letter is moved


def test_without_redrive_policy_nothing_ever_goes_to_a_dead_letter_queue(sqs, queue):
    rec = Recording(sqs)
    attributes = origin_attribute(receives=10_000, resent_ms=SENT_MS - 5)
    result = rejitter.rejitter(
        {"Records": [record(attributes=attributes, receive_count=50)]},
        sqs=rec,
        config=config(queue["url"]),
        rng=random.Random(1),
        redrive=None,
        now_ms=clock(),
    )
    assert result == {"batchItemFailures": []}
    assert [c["QueueUrl"] for c in rec.calls["send_message_batch"]] == [queue["url"]]
    (message,) = receive_all(sqs, queue["url"])
    assert origin_of(message["MessageAttributes"])["receives"] == 10_049


@pytest.mark.parametrize("failure", ["access-denied", "dlq-does-not-exist"])
def test_dead_letter_send_failure_keeps_the_record_hidden_and_reports_it(
    sqs, queue, capsys, failure
):
    # AccessDenied (the module user did not grant sqs:SendMessage on the DLQ), or moto's
    # QueueDoesNotExist for the DLQ named by the policy.
    sqs.send_message(
        QueueUrl=queue["url"],
        MessageBody="poison",
        MessageAttributes={
            origin_codec.ATTRIBUTE: {
                "DataType": "String",
                "StringValue": origin_json(receives=5, resent_ms=rejitter.wall_clock_ms()),
            }
        },
    )
    (message,) = receive_all(sqs, queue["url"])
    fail = {}
    if failure == "access-denied":
        fail = {"send_message_batch": client_error("AccessDenied", "SendMessageBatch")}
    rec = Recording(sqs, fail=fail)
    now = (
        rejitter.wall_clock_ms() + (WINDOW + 30) * 1000 + 1
    )  # a later window: not hidden as a copy
    result = rejitter.rejitter(
        {"Records": [esm_record(message)]},
        sqs=rec,
        config=config(queue["url"]),
        rng=random.Random(1),
        redrive=rejitter_config.Redrive(
            dlq_arn="arn:aws:sqs:us-east-1:123456789012:missing",
            dlq_url=queue["url"].rsplit("/", 1)[0] + "/missing",
            max_receive_count=3,
        ),
        now_ms=clock(now),
    )
    assert result == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert [c["QueueUrl"] for c in rec.calls["send_message_batch"]] == [
        queue["url"].rsplit("/", 1)[0] + "/missing"
    ]
    assert rec.calls["change_message_visibility"] == [
        {
            "QueueUrl": queue["url"],
            "ReceiptHandle": message["ReceiptHandle"],
            "VisibilityTimeout": WINDOW + 30,
        }
    ]
    assert receive_all(sqs, queue["url"]) == []  # hidden, not deleted
    logs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert any(line["level"] == "ERROR" and "could not move" in line["message"] for line in logs)


def test_dead_letter_failure_does_not_affect_the_re_sent_records():
    sqs, stub = stubbed_sqs()
    stub.add_response(
        "send_message_batch", batch_ok(["r1"]), {"QueueUrl": QUEUE_URL, "Entries": ANY}
    )
    stub.add_client_error(
        "send_message_batch", "AccessDenied", expected_params={"QueueUrl": DLQ_URL, "Entries": ANY}
    )
    stub.add_response(
        "change_message_visibility",
        {},
        {"QueueUrl": QUEUE_URL, "ReceiptHandle": "rh-spent", "VisibilityTimeout": WINDOW + 30},
    )
    spent = record("spent", attributes=origin_attribute(receives=3, resent_ms=SENT_MS))
    with stub:
        result = rejitter.rejitter(
            {"Records": [spent, record("ok")]},
            sqs=sqs,
            config=config(),
            rng=random.Random(1),
            redrive=redrive(3),
            now_ms=clock(),
        )
        stub.assert_no_pending_responses()
    assert result == {"batchItemFailures": [{"itemIdentifier": "spent"}]}


def test_copy_redriven_from_the_dead_letter_queue_counts_its_deliveries_afresh():
    # A DLQ redrive makes a new message (new MessageId, new SentTimestamp) that keeps the
    # attributes: its sqscb-origin was not written for it, so SQS's fresh count applies.
    attributes = origin_attribute(receives=3, resent_ms=SENT_MS - 3_600_000, passes=2)
    redriven = record(attributes=attributes, receive_count=2, sent_ms=SENT_MS)
    plan = copies.plan_record(redriven, window_seconds=WINDOW, redrive=redrive(3), now_ms=NOW_MS)
    assert plan == copies.Copy(
        origin_codec.Origin(
            id="first", sent_ms=SENT_MS - 86_400_000, receives=1, resent_ms=NOW_MS, passes=3
        ),
        dead_letter=False,
    )


@pytest.mark.parametrize(
    ("sent_after_resent_ms", "own"),
    [(-5_000, True), (0, True), (960_000, True), (960_001, False)],
)
def test_a_copy_is_the_rejitters_own_when_sent_within_a_lambda_timeout_of_resent_ms(
    sent_after_resent_ms, own
):
    origin = origin_codec.Origin("first", 0, 0, SENT_MS, 1)
    assert copies.is_own_copy(record(sent_ms=SENT_MS + sent_after_resent_ms), origin) is own


def test_message_redriven_from_the_dlq_during_a_window_is_not_hidden_as_a_copy():
    resent = NOW_MS - 1_000_000  # moved to the DLQ 1000 s ago, redriven back 10 s ago
    attributes = origin_attribute(receives=3, resent_ms=resent)
    redriven = record(attributes=attributes, sent_ms=NOW_MS - 10_000)
    plan = copies.plan_record(redriven, window_seconds=3600, redrive=redrive(3), now_ms=NOW_MS)
    assert isinstance(plan, copies.Copy)
    assert (plan.origin.receives, plan.dead_letter) == (0, False)


# ---- At most one re-send per message per window -------------------------------------------------
def test_copy_seen_again_within_the_window_is_hidden_until_after_it_not_resent(sqs, queue):
    first = rejitter.wall_clock_ms()
    rejitter.rejitter(
        {"Records": [record("first")]},
        sqs=sqs,
        config=config(queue["url"]),
        rng=random.Random(1),
        now_ms=clock(first),
    )
    (copy,) = receive_all(sqs, queue["url"])  # delay 0: visible again while the window is open
    rec = Recording(sqs)
    now = first + 10_500
    result = rejitter.rejitter(
        {"Records": [esm_record(copy)]},
        sqs=rec,
        config=config(queue["url"]),
        rng=random.Random(1),
        redrive=redrive(1),
        now_ms=clock(now),
    )
    assert result == {"batchItemFailures": [{"itemIdentifier": copy["MessageId"]}]}
    assert "send_message_batch" not in rec.calls
    # ceil((first + 330 000 - (first + 10 500)) / 1000) = 320
    assert rec.calls["change_message_visibility"] == [
        {"QueueUrl": queue["url"], "ReceiptHandle": copy["ReceiptHandle"], "VisibilityTimeout": 320}
    ]
    assert receive_all(sqs, queue["url"]) == []


@pytest.mark.parametrize(
    ("window", "resent_ago_ms", "expected"),
    [
        (300, 0, 330),
        (300, 329_001, 1),  # 999 ms left: rounded up
        (300, 329_999, 1),  # never 0 (that would make it visible at once)
        (60, 45_000, 45),
        (43200, 0, copies.MAX_HIDE_SECONDS),  # SQS's 12 h limit from the receive
    ],
)
def test_copy_of_this_window_is_hidden_for_the_rest_of_it(window, resent_ago_ms, expected):
    resent = NOW_MS - resent_ago_ms
    rec = record(attributes=origin_attribute(resent_ms=resent), sent_ms=resent + 40)
    plan = copies.plan_record(rec, window_seconds=window, redrive=None, now_ms=NOW_MS)
    assert plan == copies.Hide(expected, "copy of this rejitter window")


def test_copy_from_an_older_window_is_resent_once(sqs, queue):
    resent = NOW_MS - (WINDOW + 30) * 1000  # exactly one window + margin ago: an older window
    rec = Recording(sqs)
    attributes = origin_attribute(resent_ms=resent, receives=1, passes=1)
    result = rejitter.rejitter(
        {"Records": [record("copy", attributes=attributes, receive_count=2, sent_ms=resent + 20)]},
        sqs=rec,
        config=config(queue["url"]),
        rng=random.Random(1),
        now_ms=clock(),
    )
    assert result == {"batchItemFailures": []}
    assert "change_message_visibility" not in rec.calls
    (entry,) = all_entries(rec)
    assert origin_of(entry["MessageAttributes"])["passes"] == 2
    assert origin_of(entry["MessageAttributes"])["resentMs"] == NOW_MS


def test_hiding_failure_still_reports_the_record_and_is_logged(sqs, queue, capsys):
    resent = NOW_MS - 1000
    attributes = origin_attribute(resent_ms=resent)
    bad_handle = record("copy", attributes=attributes, sent_ms=resent)  # moto rejects rh-copy
    no_handle = record("copy2", attributes=attributes, sent_ms=resent)
    del no_handle["receiptHandle"]
    result = rejitter.rejitter(
        {"Records": [bad_handle, no_handle]},
        sqs=sqs,
        config=config(queue["url"]),
        rng=random.Random(1),
        now_ms=clock(),
    )
    assert result == {
        "batchItemFailures": [{"itemIdentifier": "copy"}, {"itemIdentifier": "copy2"}]
    }
    logs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    errors = [line for line in logs if line["level"] == "ERROR"]
    assert [e["messageId"] for e in errors] == ["copy", "copy2"]
    assert "ReceiptHandleIsInvalid" in errors[0]["error"]


def test_a_mixed_batch_reports_exactly_what_was_not_copied_in_record_order(sqs, queue, dlq):
    this_window = origin_attribute(resent_ms=NOW_MS - 1000)
    spent = origin_attribute(receives=3, resent_ms=SENT_MS)
    full = {f"a{i}": esm_string(str(i)) for i in range(10)}
    rec = Recording(sqs, fail={"change_message_visibility": client_error("Throttling", "x")})
    event = {
        "Records": [
            record("hidden", attributes=this_window, sent_ms=NOW_MS - 1000),
            record("resent"),
            record("dead", attributes=spent),
            record("full", attributes=full),
            record("bad", attributes={"b": {"binaryValue": "@@", "dataType": "Binary"}}),
        ]
    }
    result = rejitter.rejitter(
        event,
        sqs=rec,
        config=config(queue["url"]),
        rng=random.Random(1),
        redrive=rejitter_config.load_redrive(sqs, queue["url"]),
        now_ms=clock(),
    )
    assert result == {
        "batchItemFailures": [
            {"itemIdentifier": "hidden"},
            {"itemIdentifier": "full"},
            {"itemIdentifier": "bad"},
        ]
    }
    assert len(rec.calls["change_message_visibility"]) == 2
    assert len(receive_all(sqs, dlq["url"])) == 1


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
    with pytest.raises(copies.RecordError, match=problem):
        copies.send_attribute("a", attribute)


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
    monkeypatch.setattr(rejitter, "_redrive_cache", {})
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


def test_handler_reads_the_redrive_policy_once_and_moves_spent_messages(
    sqs, queue, dlq, monkeypatch
):
    monkeypatch.setattr(rejitter, "_config", None)
    monkeypatch.setattr(rejitter, "_redrive_cache", {})
    monkeypatch.setenv("QUEUE_URL", queue["url"])
    monkeypatch.setenv("WINDOW_SECONDS", "60")
    spent = record("spent", attributes=origin_attribute(receives=5, resent_ms=SENT_MS))
    assert rejitter.handler({"Records": [spent]}, None) == {"batchItemFailures": []}
    assert len(receive_all(sqs, dlq["url"])) == 1
    sqs.set_queue_attributes(QueueUrl=queue["url"], Attributes={"RedrivePolicy": ""})
    # cached for the container: still moved
    assert rejitter.handler({"Records": [spent]}, None) == {"batchItemFailures": []}
    assert len(receive_all(sqs, dlq["url"])) == 1


def test_handler_fails_the_whole_batch_when_the_redrive_policy_cannot_be_read(
    sqs, queue, monkeypatch
):
    monkeypatch.setattr(rejitter, "_config", None)
    monkeypatch.setattr(rejitter, "_redrive_cache", {})
    monkeypatch.setenv("QUEUE_URL", queue["url"].rsplit("/", 1)[0] + "/gone")
    with pytest.raises(rejitter_config.RedrivePolicyError, match="cannot read the RedrivePolicy"):
        rejitter.handler({"Records": [record()]}, None)
    assert rejitter._redrive_cache == {}  # not cached: the next invocation reads it again
    assert receive_all(sqs, queue["url"]) == []
