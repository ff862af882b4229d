"""Shared helpers: JSON logging, client configuration, environment validation."""

from __future__ import annotations

import io
import json

import pytest
from botocore.exceptions import ReadTimeoutError
from common import aws, env, log, origin, sqs
from sqscb_fakes import client_error


def test_each_log_line_is_one_json_object_with_level_message_and_fields():
    stream = io.StringIO()
    logger = log.JsonLogger("test", stream=stream, level="DEBUG")
    logger.info("sent", count=3, obj=object)
    logger.debug("detail")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "INFO"
    assert first["message"] == "sent"
    assert first["logger"] == "test"
    assert first["count"] == 3
    assert isinstance(first["obj"], str)  # not JSON serialisable: logged with str()
    assert first["timestamp"].endswith("+00:00")
    assert second["level"] == "DEBUG"


def test_messages_below_the_log_level_are_dropped():
    stream = io.StringIO()
    logger = log.JsonLogger("test", stream=stream, level="warning")
    logger.info("quiet")
    logger.debug("quieter")
    logger.warning("loud")
    logger.error("louder")
    levels = [json.loads(line)["level"] for line in stream.getvalue().splitlines()]
    assert levels == ["WARN", "ERROR"]


def test_log_level_comes_from_the_environment_and_unknown_levels_mean_info(monkeypatch, capsys):
    monkeypatch.setenv("LOG_LEVEL", "verbose")
    logger = log.get_logger("env")
    logger.debug("hidden")
    logger.info("shown")
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["shown"]


def test_default_client_config_uses_adaptive_retries_with_five_attempts():
    assert aws.DEFAULT_CONFIG.retries == {"mode": "adaptive", "max_attempts": 5}


def test_clients_are_created_once_per_service_and_region():
    first = aws.client("sqs", "eu-west-1")
    assert aws.client("sqs", "eu-west-1") is first
    assert first.meta.region_name == "eu-west-1"
    assert first.meta.config.retries["mode"] == "adaptive"
    assert aws.client("sqs", "eu-west-2") is not first


def test_error_code_strips_the_sqs_query_compatible_prefix():
    assert aws.error_code(client_error("AWS.SimpleQueueService.NonExistentQueue", "X")) == (
        "NonExistentQueue"
    )
    assert aws.error_code(client_error("Throttling", "X")) == "Throttling"
    assert aws.error_code(ValueError("x")) == ""


def test_error_message_describes_client_and_other_errors():
    assert aws.error_message(client_error("Throttling", "X", "slow down")) == (
        "Throttling: slow down"
    )
    assert aws.error_message(ReadTimeoutError(endpoint_url="https://x")).startswith(
        "ReadTimeoutError: Read timeout"
    )


def test_config_error_names_the_variable():
    error = env.ConfigError("FOO", "is wrong")
    assert str(error) == "environment variable FOO: is wrong"
    assert error.name == "FOO"
    assert isinstance(error, ValueError)


def test_required_str_strips_and_refuses_empty_values():
    assert env.required_str({"A": " x "}, "A") == "x"
    with pytest.raises(env.ConfigError, match="A: is required"):
        env.required_str({}, "A")


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, 7), ("", 7), ("0", 0), ("10", 10), (" 3 ", 3)]
)
def test_bounded_int_accepts_integers_in_range_and_defaults_when_unset(raw, expected):
    values = {} if raw is None else {"N": raw}
    assert env.bounded_int(values, "N", 7, 0, 10) == expected


@pytest.mark.parametrize(("raw", "problem"), [("11", "between 0 and 10"), ("x", "integer")])
def test_bounded_int_refuses_bad_values_naming_the_variable(raw, problem):
    with pytest.raises(env.ConfigError, match=f"N: .*{problem}"):
        env.bounded_int({"N": raw}, "N", 7, 0, 10)


# ---- The sqscb-origin codec (written by the rejitter, read by the rejitter and the probe) --------
ORIGIN = origin.Origin(
    id="first", sent_ms=1_700_000_000_000, receives=2, resent_ms=1_700_000_900_000, passes=1
)
VALUE = ORIGIN.to_json()


def receive_form(value: str, data_type: str = "String") -> dict:
    """The attribute as ReceiveMessage returns it (the probe reads this form)."""
    return {"DataType": data_type, "StringValue": value}


def esm_form(value: str, data_type: str = "String") -> dict:
    """The attribute as an event source mapping's record carries it (the rejitter reads this)."""
    return {
        "dataType": data_type,
        "stringValue": value,
        "stringListValues": [],
        "binaryListValues": [],
    }


@pytest.mark.parametrize("form", [receive_form, esm_form])
def test_an_origin_reads_back_in_both_forms(form):
    assert origin.decode(form(VALUE)) == ORIGIN
    assert origin.decode(ORIGIN.to_attribute()) == ORIGIN


def test_other_keys_are_ignored():
    value = VALUE.replace('"v":1,', '"v":1,"later":"x",')
    assert origin.decode(receive_form(value)) == ORIGIN


@pytest.mark.parametrize("form", [receive_form, esm_form])
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("not json", "is not JSON"),
        ("[1]", "is not a JSON object"),
        ('{"v":2}', "version 1"),
        (VALUE.replace('"v":1,', ""), "version 1"),  # the probe used to accept this one
        (VALUE.replace('"v":1', '"v":true'), "version 1"),
        (VALUE.replace('"id":"first"', '"id":""'), "no id"),
        (VALUE.replace('"id":"first"', '"id":5'), "no id"),
        (VALUE.replace(',"passes":1', ""), "passes"),
        (VALUE.replace('"passes":1', '"passes":0'), "passes"),
        (VALUE.replace('"receives":2', '"receives":-1'), "receives"),
        (VALUE.replace('"receives":2', '"receives":true'), "receives"),
        (VALUE.replace('"sentMs":1700000000000', '"sentMs":-1'), "sentMs"),
        (VALUE.replace('"sentMs":', '"sentMs":"'), "is not JSON"),
        (VALUE.replace('"resentMs":1700000900000', '"resentMs":1.5'), "resent"),
    ],
)
def test_a_malformed_origin_is_described_alike_in_both_forms(form, value, problem):
    with pytest.raises(ValueError, match=problem):
        origin.decode(form(value))


@pytest.mark.parametrize(
    "attribute",
    [
        receive_form(VALUE, "Number"),
        esm_form(VALUE, "String.custom"),
        {"DataType": "Binary", "BinaryValue": b"{}"},
        {"dataType": "String", "binaryValue": "e30="},
        "text",
        None,
    ],
)
def test_only_a_string_attribute_with_a_value_is_an_origin(attribute):
    with pytest.raises(ValueError, match=r"String attribute|no string value"):
        origin.decode(attribute)


# ---- change_visibility: never raises, says why ---------------------------------------------------
class _Sqs:
    def __init__(self, error: BaseException | None) -> None:
        self.error = error
        self.calls: list[dict] = []

    def change_message_visibility(self, **kwargs):
        self.calls.append(kwargs)
        if self.error:
            raise self.error


def test_change_visibility_returns_none_when_done():
    client = _Sqs(None)
    assert sqs.change_visibility(client, "u", "rh", 30) is None
    assert client.calls == [{"QueueUrl": "u", "ReceiptHandle": "rh", "VisibilityTimeout": 30}]


@pytest.mark.parametrize(
    "error",
    [client_error("ReceiptHandleIsInvalid", "gone"), ReadTimeoutError(endpoint_url="https://sqs")],
)
def test_change_visibility_describes_a_failure_instead_of_raising(error):
    description = sqs.change_visibility(_Sqs(error), "u", "rh", 30)
    assert description and ("ReceiptHandleIsInvalid" in description or "ReadTimeout" in description)


def test_read_finds_the_origin_among_a_messages_attributes_and_logs_an_unusable_one():
    stream = io.StringIO()
    logger = log.JsonLogger("test", stream=stream)
    assert origin.read(None, "m-1", logger) is None
    assert origin.read({"other": receive_form("x")}, "m-1", logger) is None
    assert origin.read({origin.ATTRIBUTE: esm_form(VALUE)}, "m-1", logger) == ORIGIN
    assert stream.getvalue() == ""
    assert origin.read({origin.ATTRIBUTE: receive_form("{}")}, "m-2", logger) is None
    (warning,) = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (warning["level"], warning["messageId"]) == ("WARN", "m-2")
    assert "treated as an original" in warning["message"] and "version 1" in warning["error"]
