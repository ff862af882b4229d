"""Pure logic behind the alarm fidelity hooks (no LocalStack imports, so unit-testable):
AWS's "CloudWatch Alarm State Change" event shape, and per-period metric-math evaluation."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from localstack_harness import metric_math


def _timestamp(value) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.astimezone(UTC)  # LocalStack stores naive local times
        value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"
    return str(value) if value is not None else ""


def _metric_stat(stat: dict) -> dict:
    metric = stat.get("Metric", {})
    return {
        "metric": {
            "namespace": metric.get("Namespace"),
            "name": metric.get("MetricName"),
            "dimensions": {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])},
        },
        "period": stat.get("Period"),
        "stat": stat.get("Stat"),
    }


def event_configuration(alarm: dict) -> dict:
    """The `detail.configuration` of AWS's alarm state change event."""
    config: dict = {"description": alarm.get("AlarmDescription", "")}
    if "AlarmRule" in alarm:  # composite alarm
        config["alarmRule"] = alarm["AlarmRule"]
        return config
    if alarm.get("Metrics"):
        metrics = []
        for query in alarm["Metrics"]:
            item: dict = {"id": query["Id"], "returnData": query.get("ReturnData", True)}
            if query.get("Expression"):
                item["expression"] = query["Expression"]
            if query.get("Label"):
                item["label"] = query["Label"]
            if query.get("MetricStat"):
                item["metricStat"] = _metric_stat(query["MetricStat"])
            metrics.append(item)
        config["metrics"] = metrics
        return config
    config["metrics"] = [
        {
            "id": "m1",
            "metricStat": _metric_stat(
                {
                    "Metric": {
                        "Namespace": alarm.get("Namespace"),
                        "MetricName": alarm.get("MetricName"),
                        "Dimensions": alarm.get("Dimensions", []),
                    },
                    "Period": alarm.get("Period"),
                    "Stat": alarm.get("Statistic") or alarm.get("ExtendedStatistic"),
                }
            ),
            "returnData": True,
        }
    ]
    return config


def state_object(value: str, reason: str, reason_data, timestamp) -> dict:
    """A `detail.state` / `detail.previousState` object."""
    state = {"value": value, "reason": reason or "", "timestamp": _timestamp(timestamp)}
    if reason_data:
        state["reasonData"] = (
            reason_data if isinstance(reason_data, str) else json.dumps(reason_data)
        )
    return state


def state_change_entry(alarm: dict, previous: dict, region: str) -> dict:
    """A PutEvents entry equal to the event AWS publishes for this transition."""
    detail = {
        "alarmName": alarm["AlarmName"],
        "state": state_object(
            alarm["StateValue"],
            alarm.get("StateReason"),
            alarm.get("StateReasonData"),
            alarm.get("StateUpdatedTimestamp"),
        ),
        "previousState": previous,
        "configuration": event_configuration(alarm),
    }
    return {
        "Source": "aws.cloudwatch",
        "DetailType": "CloudWatch Alarm State Change",
        "Resources": [alarm["AlarmArn"]],
        "Detail": json.dumps(detail),
        "EventBusName": "default",
        "Time": datetime.now(UTC),
    }


def minute_start(moment: datetime) -> datetime:
    """The start of the minute of `moment`: where AWS time-stamps a standard-resolution
    (1-minute) datapoint such as Lambda's."""
    return moment.replace(second=0, microsecond=0)


def period_start(moment: datetime, period: int) -> datetime:
    """The start of the `period`-second period (aligned on the epoch) that contains `moment`."""
    epoch = moment.timestamp()
    return datetime.fromtimestamp(epoch - epoch % period, tz=UTC)


def alarm_period(alarm: dict) -> int:
    """A metric-math alarm's period: that of its MetricStat queries (AWS requires one)."""
    periods = {q["MetricStat"]["Period"] for q in alarm["Metrics"] if q.get("MetricStat")}
    if len(periods) != 1:
        raise metric_math.MetricMathError(
            f"the MetricStat queries must share one period, found {sorted(periods)}"
        )
    return periods.pop()


def window_values(alarm: dict, client, now: datetime) -> list[float | None]:
    """The expression's value in each of the last EvaluationPeriods windows, oldest first
    (None = no datapoint).

    AWS judges an alarm on its most recent EvaluationPeriods datapoints, of complete periods
    aligned on the clock (a 1-minute Lambda datapoint, stamped at the start of its minute, is
    judged once that minute is over). LocalStack's evaluation
    of simple alarms looks back a few periods more and counts breaching datapoints there too, so
    an error older than the evaluation range re-trips an alarm just reset to OK; not here.
    """
    period = alarm["Period"]
    collected = alarm["EvaluationPeriods"]
    stats = [q for q in alarm["Metrics"] if q.get("MetricStat")]
    values: list[float | None] = []
    end = period_start(now, period)
    for _ in range(collected):
        start = end - timedelta(seconds=period)
        results = client.get_metric_data(
            MetricDataQueries=[
                {"Id": q["Id"], "MetricStat": q["MetricStat"], "ReturnData": True} for q in stats
            ],
            StartTime=start,
            EndTime=end,
        )["MetricDataResults"]
        datapoints = {q["Id"]: None for q in stats}
        for result in results:
            if result.get("Values"):
                datapoints[result["Id"]] = result["Values"][0]
        values.insert(0, metric_math.evaluate_queries(alarm["Metrics"], datapoints))
        end = start
    return values


_PERCENTILE_RANK = re.compile(r"^PR\((?P<low>[0-9.eE+-]*):(?P<high>[0-9.eE+-]*)\)$")


def percentile_rank_bounds(stat: str) -> tuple[float, float] | None:
    """The bounds of a percentile-rank statistic (`PR(:300)`, `PR(100:2000)`, `PR(100:)`), or
    None for any other statistic. CloudWatch: "the percentage of data points that have a value
    between" the bounds, exclusive of the lower bound and inclusive of the upper; an omitted
    bound is open."""
    match = _PERCENTILE_RANK.match(stat.strip())
    if not match or (not match["low"] and not match["high"]):
        return None
    try:
        low = float(match["low"]) if match["low"] else float("-inf")
        high = float(match["high"]) if match["high"] else float("inf")
    except ValueError:
        return None
    return (low, high) if low < high else None


def percentile_rank(values: list[float], low: float, high: float) -> float | None:
    """The share, in percent, of `values` in (low, high]; None (no datapoint) without values."""
    if not values:
        return None
    inside = sum(1 for value in values if low < value <= high)
    return 100.0 * inside / len(values)
