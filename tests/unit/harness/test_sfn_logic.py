"""Which JSONPaths Step Functions (Jayway) treats as definite: the others always yield arrays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from localstack_harness.sfn_logic import (
    MAX_HISTORY_EVENTS,
    aws_sdk_error_service,
    history_limit_cause,
    history_limit_reached,
    history_page,
    is_definite_path,
    listed_as,
    parse_timestamp,
    sfn_timestamp,
    timestamps_to_strings,
)


@pytest.mark.parametrize(
    "path",
    ["$", "$.a", "$.a.b", "$.a[0]", "$.a[-1].b", "$['a b'].c", '$["a"]', "$$.Execution.Id"],
)
def test_single_names_and_indexes_are_definite(path):
    assert is_definite_path(path)


@pytest.mark.parametrize(
    "path",
    [
        "$.Executions[*].ExecutionArn",  # the breaker's ListSupersededExecutions
        "$[*]",
        "$.a.*",
        "$.a[1:3]",
        "$.a[0,1]",
        "$..id",
        "$.a[?(@.b == 1)]",
        "$.a['b','c']",
    ],
)
def test_wildcards_slices_unions_filters_and_deep_scans_are_indefinite(path):
    assert not is_definite_path(path)


# ---- History quota -------------------------------------------------------------------------------
def test_the_history_limit_is_reached_by_the_event_that_would_be_number_25000():
    assert not history_limit_reached(24_999, MAX_HISTORY_EVENTS)
    assert history_limit_reached(25_000, MAX_HISTORY_EVENTS)
    assert history_limit_cause() == (
        "The execution reached the maximum number of history events (25000)."
    )


# ---- GetExecutionHistory pages -----------------------------------------------------------------
def test_history_pages_default_to_100_events_with_a_token_for_the_rest():
    events = list(range(1, 251))
    page, token = history_page(events, None, False, None)
    assert page == list(range(1, 101)) and token == "100"
    page, token = history_page(events, 0, False, token)  # 0: the default size
    assert page == list(range(101, 201)) and token == "200"
    page, token = history_page(events, None, False, token)
    assert page == list(range(201, 251)) and token is None


def test_the_newest_event_is_the_first_of_a_reversed_page_of_one():
    page, token = history_page(list(range(1, 38)), 1, True, None)
    assert page == [37] and token == "1"


@pytest.mark.parametrize("size", [1001, -1])
def test_a_page_size_past_aws_bounds_is_refused(size):
    with pytest.raises(ValueError, match="maxResults"):
        history_page([1], size, False, None)


@pytest.mark.parametrize("token", ["x", "99"])
def test_a_token_that_names_no_position_is_refused(token):
    with pytest.raises(ValueError, match="nextToken"):
        history_page([1, 2], None, False, token)


# ---- Timestamps ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-03T08:26:24Z", datetime(2026, 12, 3, 8, 26, 24, tzinfo=UTC)),
        ("2026-12-03T08:26:24.123Z", datetime(2026, 12, 3, 8, 26, 24, 123000, tzinfo=UTC)),
        ("2026-12-03T08:26:24.123456+00:00", datetime(2026, 12, 3, 8, 26, 24, 123456, tzinfo=UTC)),
        ("2026-12-03T10:26:24.5+02:00", datetime(2026, 12, 3, 8, 26, 24, 500000, tzinfo=UTC)),
    ],
)
def test_rfc3339_timestamps_parse_to_utc(text, expected):
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-03 08:26:24Z",  # no T
        "2026-12-03t08:26:24z",  # lowercase
        "2026-12-03T08:26:24",  # no zone
        "2026-12-03T08:26:24.551+0000",  # CloudWatch event detail form: not RFC 3339
        "2026-13-03T08:26:24Z",
        1733214384,
        None,
    ],
)
def test_anything_else_is_not_a_timestamp(text):
    assert parse_timestamp(text) is None


def test_step_functions_writes_utc_milliseconds_with_z():
    value = datetime(2026, 12, 3, 10, 26, 24, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert sfn_timestamp(value) == "2026-12-03T08:26:24.123Z"
    nested = {"A": [{"T": value}], "B": 1}
    assert timestamps_to_strings(nested) == {"A": [{"T": "2026-12-03T08:26:24.123Z"}], "B": 1}


# ---- An eventually consistent ListExecutions ---------------------------------------------------
def test_a_lagging_list_hides_new_executions_and_shows_ended_ones_running():
    t0 = datetime(2026, 12, 3, tzinfo=UTC)
    at = t0 + timedelta(seconds=30)
    assert listed_as("RUNNING", at - timedelta(seconds=2), None, at, 5) is None
    assert listed_as("SUCCEEDED", t0, at - timedelta(seconds=1), at, 5) == ("RUNNING", None)
    assert listed_as("SUCCEEDED", t0, at - timedelta(seconds=1), at + timedelta(seconds=9), 5) == (
        "SUCCEEDED",
        at - timedelta(seconds=1),
    )


@pytest.mark.parametrize(
    ("service_id", "name"),
    [
        ("SQS", "Sqs"),
        ("SFN", "Sfn"),
        ("DynamoDB", "DynamoDb"),
        ("Lambda", "Lambda"),
        ("CloudWatch", "CloudWatch"),
        ("SSM", "Ssm"),
        ("ACM PCA", "AcmPca"),
        ("CloudWatch Logs", "CloudWatchLogs"),
        ("EventBridge", "EventBridge"),
    ],
)
def test_aws_sdk_error_names_use_the_java_sdk_client_prefix(service_id, name):
    assert aws_sdk_error_service(service_id) == name
