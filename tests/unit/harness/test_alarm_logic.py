"""The AWS alarm state change event shape and per-period metric-math evaluation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from localstack_harness.alarm_logic import (
    alarm_period,
    percentile_rank,
    percentile_rank_bounds,
    state_change_entry,
    state_object,
    window_values,
)
from localstack_harness.metric_math import MetricMathError

ARN = "arn:aws:cloudwatch:us-east-1:000000000000:alarm:a"
WHEN = datetime(2026, 11, 26, 10, 0, 1, 985000, tzinfo=UTC)


def metric(name: str, metric_id: str, period: int = 60) -> dict:
    return {
        "Id": metric_id,
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/Lambda",
                "MetricName": name,
                "Dimensions": [{"Name": "FunctionName", "Value": "fn"}],
            },
            "Period": period,
            "Stat": "Sum",
        },
        "ReturnData": False,
    }


MATH_ALARM = {
    "AlarmName": "a",
    "AlarmArn": ARN,
    "AlarmDescription": "error rate",
    "StateValue": "ALARM",
    "StateReason": "Threshold Crossed",
    "StateReasonData": '{"version": "1.0"}',
    "StateUpdatedTimestamp": WHEN,
    "Metrics": [
        metric("Errors", "m1"),
        metric("Invocations", "m2"),
        {"Id": "e1", "Expression": "100 * FILL(m1, 0) / m2", "ReturnData": True},
    ],
    "EvaluationPeriods": 3,
}


def test_state_change_entry_has_the_aws_event_shape():
    previous = state_object("OK", "fine", None, WHEN - timedelta(minutes=5))
    entry = state_change_entry(MATH_ALARM, previous, "us-east-1")

    assert entry["Source"] == "aws.cloudwatch"
    assert entry["DetailType"] == "CloudWatch Alarm State Change"
    assert entry["Resources"] == [ARN]
    detail = json.loads(entry["Detail"])
    assert detail["alarmName"] == "a"
    assert detail["state"] == {
        "value": "ALARM",
        "reason": "Threshold Crossed",
        "reasonData": '{"version": "1.0"}',
        "timestamp": "2026-11-26T10:00:01.985+0000",
    }
    assert detail["previousState"] == {
        "value": "OK",
        "reason": "fine",
        "timestamp": "2026-11-26T09:55:01.985+0000",
    }
    metrics = detail["configuration"]["metrics"]
    assert metrics[0] == {
        "id": "m1",
        "returnData": False,
        "metricStat": {
            "metric": {
                "namespace": "AWS/Lambda",
                "name": "Errors",
                "dimensions": {"FunctionName": "fn"},
            },
            "period": 60,
            "stat": "Sum",
        },
    }
    assert metrics[2] == {"id": "e1", "returnData": True, "expression": "100 * FILL(m1, 0) / m2"}


def test_simple_alarm_configuration_is_one_returned_metric():
    alarm = {
        **MATH_ALARM,
        "Metrics": None,
        "Namespace": "AWS/Lambda",
        "MetricName": "Errors",
        "Dimensions": [],
        "Period": 10,
        "Statistic": "Sum",
    }
    detail = json.loads(state_change_entry(alarm, {}, "us-east-1")["Detail"])
    (only,) = detail["configuration"]["metrics"]
    assert only["returnData"] is True
    assert only["metricStat"]["period"] == 10


def test_alarm_period_is_that_of_the_metric_stats():
    assert alarm_period(MATH_ALARM) == 60
    mixed = {**MATH_ALARM, "Metrics": [metric("Errors", "m1", 60), metric("X", "m2", 10)]}
    with pytest.raises(MetricMathError, match="one period"):
        alarm_period(mixed)


class FakeCloudWatch:
    """Errors/Invocations per window, keyed by the window's end time."""

    def __init__(self, now: datetime, series: dict[str, list[float | None]]) -> None:
        self.now, self.series, self.calls = now, series, []

    def get_metric_data(self, MetricDataQueries, StartTime, EndTime):
        self.calls.append((StartTime, EndTime, [q["Id"] for q in MetricDataQueries]))
        index = int((self.now - EndTime).total_seconds() // 60)  # 0 = newest window
        results = []
        for query in MetricDataQueries:
            value = self.series[query["Id"]][-1 - index]
            results.append({"Id": query["Id"], "Values": [] if value is None else [value]})
        return {"MetricDataResults": results}


def test_window_values_evaluates_each_period_oldest_first():
    now = WHEN
    client = FakeCloudWatch(
        now,
        {
            # oldest ... newest: only the last 3 (EvaluationPeriods) windows are read
            "m1": [9, 9, 1, None, 3],
            "m2": [9, 9, 4, 2, 4],
        },
    )
    alarm = {**MATH_ALARM, "Period": 60}

    values = window_values(alarm, client, now)

    assert values == [25.0, 0.0, 75.0]
    assert len(client.calls) == 3
    start, end, ids = client.calls[0]
    # complete periods aligned on the clock: the newest ends at 10:00:00, not at 10:00:01.985
    aligned = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert (end, end - start, ids) == (aligned, timedelta(seconds=60), ["m1", "m2"])


@pytest.mark.parametrize(
    ("stat", "bounds"),
    [
        ("PR(:300)", (float("-inf"), 300.0)),
        ("PR(100:2000)", (100.0, 2000.0)),
        ("PR(0.5:)", (0.5, float("inf"))),
        (" PR(:1e3) ", (float("-inf"), 1000.0)),
        ("PR(:)", None),  # no bound at all
        ("PR(5:5)", None),  # an empty range
        ("PR(9:1)", None),
        ("PR(a:b)", None),
        ("p99", None),
        ("Sum", None),
    ],
)
def test_percentile_rank_bounds(stat, bounds):
    assert percentile_rank_bounds(stat) == bounds


def test_percentile_rank_excludes_the_lower_bound_and_includes_the_upper():
    values = [100.0, 200.0, 300.0, 400.0]
    assert percentile_rank(values, float("-inf"), 300.0) == 75.0
    assert percentile_rank(values, 100.0, 300.0) == 50.0
    assert percentile_rank(values, 400.0, float("inf")) == 0.0
    assert percentile_rank([], float("-inf"), 300.0) is None  # no datapoint, not 0 %
