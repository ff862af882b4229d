"""Shared helpers: JSON logging, client configuration, environment validation."""

from __future__ import annotations

import io
import json

import pytest
from botocore.exceptions import ReadTimeoutError
from common import aws, env, log
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
