"""Pure logic of the harness's AWS-fidelity hooks: alignment of alarm periods, Lambda metric
timestamps, the mapping visibility-timeout check, EventBridge retries and dead letters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError
from localstack_harness.alarm_logic import minute_start, period_start
from localstack_harness.esm_logic import (
    body_format_admits,
    emits_event_counts,
    invoke_event_counts,
    visibility_timeout_error,
)
from localstack_harness.events_logic import dead_letter_attributes, retry_attempts


def test_lambda_datapoints_are_stamped_at_the_start_of_their_minute():
    moment = datetime(2026, 11, 27, 8, 15, 42, 123456, tzinfo=UTC)
    assert minute_start(moment) == datetime(2026, 11, 27, 8, 15, tzinfo=UTC)


def test_periods_are_aligned_on_the_clock():
    moment = datetime(2026, 11, 27, 8, 15, 42, 500000, tzinfo=UTC)
    assert period_start(moment, 60) == datetime(2026, 11, 27, 8, 15, tzinfo=UTC)
    assert period_start(moment, 10) == datetime(2026, 11, 27, 8, 15, 40, tzinfo=UTC)
    assert period_start(moment, 300) == datetime(2026, 11, 27, 8, 15, tzinfo=UTC)
    exact = datetime(2026, 11, 27, 8, 16, tzinfo=UTC)
    assert period_start(exact, 60) == exact


def test_a_queue_hiding_messages_shorter_than_the_function_runs_is_refused_as_aws_does():
    assert visibility_timeout_error(30, 60) == (
        "Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds"
    )
    assert visibility_timeout_error(60, 60) is None
    assert visibility_timeout_error(900, 3) is None


def test_retries_follow_the_targets_retry_policy_within_the_emulators_cap():
    assert retry_attempts(None, 2) == 2  # AWS default 185, capped
    assert retry_attempts({"MaximumRetryAttempts": 0}, 2) == 0
    assert retry_attempts({"MaximumRetryAttempts": 1}, 2) == 1
    assert retry_attempts({"MaximumRetryAttempts": 185}, 2) == 2


def test_dead_letters_carry_the_attributes_aws_sets():
    error = ClientError(
        {"Error": {"Code": "StateMachineDoesNotExist", "Message": "gone"}}, "StartExecution"
    )
    attributes = dead_letter_attributes("arn:rule", "arn:target", error, 2)
    values = {k: v["StringValue"] for k, v in attributes.items()}
    assert values["RULE_ARN"] == "arn:rule"
    assert values["TARGET_ARN"] == "arn:target"
    assert values["ERROR_CODE"] == "StateMachineDoesNotExist"
    assert "gone" in values["ERROR_MESSAGE"]
    assert values["RETRY_ATTEMPTS"] == "2"
    assert {v["DataType"] for v in attributes.values()} == {"String"}
    plain = dead_letter_attributes("r", "t", RuntimeError(""), 0)
    assert plain["ERROR_CODE"]["StringValue"] == "RuntimeError"
    assert plain["ERROR_MESSAGE"]["StringValue"] == "RuntimeError"


@pytest.mark.parametrize(
    ("pattern", "body", "admitted"),
    [
        ({"body": {"k": ["v"]}}, '{"k": "v"}', True),
        ({"body": {"k": [{"exists": False}]}}, "plain", False),
        ({"body": ["plain"]}, "plain", True),
        ({"body": ["1"]}, "1", False),  # a JSON body: a plain-string pattern drops it
        ({"attributes": {"SenderId": ["x"]}}, "plain", True),
    ],
)
def test_lambdas_body_format_rule(pattern, body, admitted):
    assert body_format_admits(pattern, body) is admitted


@pytest.mark.parametrize(
    ("config", "emits"),
    [
        ({"MetricsConfig": {"Metrics": ["EventCount"]}}, True),
        ({"MetricsConfig": {"Metrics": []}}, False),
        ({"MetricsConfig": {}}, False),
        ({}, False),
    ],
)
def test_only_a_mapping_with_event_count_metrics_publishes_them(config, emits):
    assert emits_event_counts(config) is emits


def test_a_failed_invoke_counts_every_event_of_its_batch_as_failed():
    assert invoke_event_counts(4, failed=False) == {"InvokedEventCount": 4}
    assert invoke_event_counts(4, failed=True) == {
        "InvokedEventCount": 4,
        "FailedInvokeEventCount": 4,
    }
