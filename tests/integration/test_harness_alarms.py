"""Alarm fidelity: metrics -> alarms (simple and metric math) -> AWS-shaped state change events
on the default bus -> EventBridge rules -> Step Functions executions; Lambda's metrics at their
AWS resolution (1 minute); re-evaluation right after SetAlarmState.

Fast alarms (10 s periods) use high-resolution metrics that the tests publish themselves, as a
10 s alarm on AWS must; Lambda's own metrics have 1-minute resolution (see the last tests).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from support import ACCOUNT, REGION, allow_rule_delivery, create_function, drain, invoke, wait_until

FAILING = """
def handler(event, context):
    if event.get("fail"):
        raise RuntimeError("downstream unavailable")
    return "ok"
"""


def alarm_state(cw, alarm: str) -> str:
    return cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]


@pytest.fixture
def events_queue(aws, name, cleanup):
    """An SQS queue receiving every alarm state change event of alarms named `name*`."""
    sqs, events = aws("sqs"), aws("events")
    url = sqs.create_queue(QueueName=f"{name}-events")["QueueUrl"]
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}-events"
    cleanup(lambda: sqs.delete_queue(QueueUrl=url))
    events.put_rule(
        Name=f"{name}-events",
        EventPattern=json.dumps(
            {
                "source": ["aws.cloudwatch"],
                "detail-type": ["CloudWatch Alarm State Change"],
                "detail": {"alarmName": [{"prefix": name}]},
            }
        ),
    )
    allow_rule_delivery(sqs, url, queue_arn, f"{name}-events")
    events.put_targets(Rule=f"{name}-events", Targets=[{"Id": "q", "Arn": queue_arn}])
    cleanup(lambda: events.delete_rule(Name=f"{name}-events"))
    cleanup(lambda: events.remove_targets(Rule=f"{name}-events", Ids=["q"]))
    return url


def received_events(sqs, url: str) -> list[dict]:
    """The events in the order of the transitions (a standard queue does not keep the order in
    which EventBridge delivered them)."""
    events = [json.loads(m["Body"]) for m in drain(sqs, url, seconds=1)]
    return sorted(events, key=lambda e: e["detail"]["state"]["timestamp"])


def namespace(name: str) -> str:
    return f"Harness/{name}"


def publish(cw, name: str, invocations: int, errors: int, ago: float = 0) -> None:
    """High-resolution (1 s) Invocations and Errors of function `name` (`ago` seconds ago), as a
    function that publishes its own metrics would (examples/complete does)."""
    dimensions = [{"Name": "FunctionName", "Value": name}]
    when = datetime.now(tz=UTC) - timedelta(seconds=ago)
    cw.put_metric_data(
        Namespace=namespace(name),
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": dimensions,
                "Timestamp": when,
                "Value": value,
                "StorageResolution": 1,
            }
            for metric, value in (("Invocations", invocations), ("Errors", errors))
        ],
    )


def test_set_alarm_state_publishes_the_aws_event_shape(aws, name, cleanup, events_queue):
    cw, sqs = aws("cloudwatch"), aws("sqs")
    cw.put_metric_alarm(
        AlarmName=name,
        AlarmDescription="errors",
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": name}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    cleanup(lambda: cw.delete_alarms(AlarmNames=[name]))
    alarm_arn = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]

    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="testing")
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="no transition")
    cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="recovered")

    found: list[dict] = []
    wait_until(
        lambda: found.extend(received_events(sqs, events_queue)) or len(found) >= 2,
        timeout=20,
        what="two state change events",
    )
    first, second = sorted(found, key=lambda e: e["detail"]["state"]["timestamp"])
    assert first["source"] == "aws.cloudwatch"
    assert first["detail-type"] == "CloudWatch Alarm State Change"
    assert first["resources"] == [alarm_arn]
    assert first["account"] == ACCOUNT
    assert first["region"] == REGION
    assert first["detail"]["alarmName"] == name
    assert first["detail"]["state"]["value"] == "ALARM"
    assert first["detail"]["state"]["reason"] == "testing"
    assert first["detail"]["previousState"]["value"] == "INSUFFICIENT_DATA"
    assert first["detail"]["configuration"]["description"] == "errors"
    stat = first["detail"]["configuration"]["metrics"][0]["metricStat"]
    assert stat["metric"] == {
        "namespace": "AWS/Lambda",
        "name": "Errors",
        "dimensions": {"FunctionName": name},
    }
    assert (stat["period"], stat["stat"]) == (60, "Sum")
    assert (second["detail"]["previousState"]["value"], second["detail"]["state"]["value"]) == (
        "ALARM",
        "OK",
    )
    assert len(found) == 2  # a SetAlarmState that changes nothing publishes nothing


def test_the_last_transition_is_timestamped_on_every_state_change(aws, name, cleanup):
    """AWS: StateTransitionedTimestamp is "the date and time that the alarm's StateValue most
    recently changed" (the breaker's watch compares it with the close). LocalStack set it only
    when its own scheduler evaluated a metric alarm."""
    cw = aws("cloudwatch")
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace=namespace(name),
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="ignore",  # no data: the scheduler keeps the state set here
    )
    cleanup(lambda: cw.delete_alarms(AlarmNames=[name]))

    def transitioned():
        (alarm,) = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        return alarm["StateTransitionedTimestamp"]

    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="a")
    alarmed = transitioned()
    time.sleep(0.05)
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="no transition")
    assert transitioned() == alarmed
    cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="b")
    assert transitioned() > alarmed


def test_errors_fire_an_alarm_whose_event_starts_an_execution(aws, name, cleanup):
    cw, events, sfn = aws("cloudwatch"), aws("events"), aws("stepfunctions")
    machine = sfn.create_state_machine(
        name=name,
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn-role",
    )["stateMachineArn"]
    cleanup(lambda: sfn.delete_state_machine(stateMachineArn=machine))
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace=namespace(name),
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": name}],
        Statistic="Sum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=2,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
    )
    cleanup(lambda: cw.delete_alarms(AlarmNames=[name]))
    alarm_arn = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]
    events.put_rule(
        Name=name,
        EventPattern=json.dumps(
            {
                "source": ["aws.cloudwatch"],
                "detail-type": ["CloudWatch Alarm State Change"],
                "resources": [alarm_arn],
                "detail": {"state": {"value": ["ALARM"]}},
            }
        ),
    )
    events.put_targets(
        Rule=name,
        Targets=[{"Id": "sfn", "Arn": machine, "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/ev"}],
    )
    cleanup(lambda: events.delete_rule(Name=name))
    cleanup(lambda: events.remove_targets(Rule=name, Ids=["sfn"]))

    publish(cw, name, invocations=3, errors=3)

    wait_until(lambda: alarm_state(cw, name) == "ALARM", timeout=60, what="alarm in ALARM")
    executions = wait_until(
        lambda: sfn.list_executions(stateMachineArn=machine)["executions"],
        timeout=20,
        what="an execution started by the rule",
    )
    assert len(executions) == 1
    event = json.loads(sfn.describe_execution(executionArn=executions[0]["executionArn"])["input"])
    assert event["resources"] == [alarm_arn]
    assert event["detail"]["state"]["value"] == "ALARM"


def error_rate_alarm(
    cw, name: str, expression: str, period: int = 10, lambda_metrics: bool = False, **kwargs
) -> None:
    """The module's error-rate alarm shape, on Lambda's own metrics (periods of 60 s or more) or
    on the test's high-resolution ones."""
    metrics_namespace = "AWS/Lambda" if lambda_metrics else namespace(name)

    def stat(metric: str) -> dict:
        return {
            "Metric": {
                "Namespace": metrics_namespace,
                "MetricName": metric,
                "Dimensions": [{"Name": "FunctionName", "Value": name}],
            },
            "Period": period,
            "Stat": "Sum",
        }

    args = {
        "AlarmName": name,
        "Metrics": [
            {"Id": "m1", "MetricStat": stat("Errors"), "ReturnData": False},
            {"Id": "m2", "MetricStat": stat("Invocations"), "ReturnData": False},
            {"Id": "e1", "Expression": expression, "Label": "error rate", "ReturnData": True},
        ],
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "Threshold": 50,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
    }
    args.update(kwargs)
    cw.put_metric_alarm(**args)


def test_lambda_errors_fire_the_modules_error_rate_alarm(aws, name, cleanup, events_queue):
    """The module's default alarm as it runs on AWS: metric math on AWS/Lambda, 60 s period."""
    lam, cw, sqs = aws("lambda"), aws("cloudwatch"), aws("sqs")
    create_function(lam, name, {"app.py": FAILING})
    cleanup(lambda: lam.delete_function(FunctionName=name))
    error_rate_alarm(
        cw, name, "IF(m2 >= 3, 100 * FILL(m1, 0) / m2, 0)", period=60, lambda_metrics=True
    )
    cleanup(lambda: cw.delete_alarms(AlarmNames=[name]))

    for payload in ({"fail": True}, {"fail": True}, {"fail": True}, {}):
        invoke(lam, name, payload)  # 3 of 4 fail: 75 % >= 50 %

    wait_until(lambda: alarm_state(cw, name) == "ALARM", timeout=75, what="ALARM")
    events = wait_until(lambda: received_events(sqs, events_queue), timeout=20, what="event")
    metrics = {m["id"]: m for m in events[-1]["detail"]["configuration"]["metrics"]}
    assert metrics["e1"]["expression"] == "IF(m2 >= 3, 100 * FILL(m1, 0) / m2, 0)"
    assert metrics["m1"]["metricStat"]["metric"]["name"] == "Errors"
    assert metrics["m1"]["returnData"] is False


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("IF(m2 >= 3, 100 * FILL(m1, 0) / m2, 0)", "OK"),  # guarded: 1 call is too few
        ("100 * FILL(m1, 0) / m2", "ALARM"),  # unguarded: 1 failure of 1 call is 100 %
    ],
)
def test_minimum_invocations_guard_decides_a_single_failure(
    aws, name, cleanup, expression, expected
):
    cw = aws("cloudwatch")
    error_rate_alarm(cw, name, expression)  # evaluated at once, then every 10 s period
    cleanup(lambda: cw.delete_alarms(AlarmNames=[name]))
    wait_until(lambda: alarm_state(cw, name) == "OK", timeout=30, what="first evaluation")

    publish(cw, name, invocations=1, errors=1)  # 1 failure out of 1 call

    if expected == "ALARM":
        wait_until(lambda: alarm_state(cw, name) == "ALARM", timeout=30, what="ALARM")
    else:
        time.sleep(21)  # two evaluations with the datapoint in the window
        assert alarm_state(cw, name) == "OK"
    history = cw.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")
    states = [
        json.loads(h["HistoryData"])["newState"]["stateValue"] for h in history["AlarmHistoryItems"]
    ]
    assert ("ALARM" in states) == (expected == "ALARM")


def test_unsupported_metric_math_is_never_evaluated(aws, name, cleanup):
    cw = aws("cloudwatch")
    error_rate_alarm(cw, name, "ANOMALY_DETECTION_BAND(m1)", EvaluationPeriods=1)
    cleanup(lambda: cw.delete_alarms(AlarmNames=[name]))

    time.sleep(12)  # more than one period: a scheduled alarm would have left INSUFFICIENT_DATA
    assert alarm_state(cw, name) == "INSUFFICIENT_DATA"


def test_set_alarm_state_is_followed_by_a_prompt_re_evaluation(aws, name, cleanup, events_queue):
    """As on AWS, a state set by hand lasts until the next evaluation: an alarm reset to OK while
    its data still breaches returns to ALARM within seconds, not only a period later."""
    cw, sqs = aws("cloudwatch"), aws("sqs")
    # The whole test (up to 15 s + 10 s of waits) must stay within one minute: past the next
    # minute the last complete period holds no data and the alarm is rightly OK (a flake seen on
    # a loaded machine). Start early in a minute.
    second = datetime.now(tz=UTC).second
    if second > 25:
        time.sleep(61 - second)
    # in the last complete minute: a 60 s alarm judges complete periods aligned on the clock
    publish(cw, name, invocations=4, errors=4, ago=60)
    # a 60 s period: its schedule evaluates once at creation, then only a minute later
    error_rate_alarm(cw, name, "100 * FILL(m1, 0) / m2", period=60)
    cleanup(lambda: cw.delete_alarms(AlarmNames=[name]))
    wait_until(lambda: alarm_state(cw, name) == "ALARM", timeout=15, what="ALARM")

    cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="reset by the test")
    wait_until(lambda: alarm_state(cw, name) == "ALARM", timeout=10, what="ALARM again")
    values = [e["detail"]["state"]["value"] for e in received_events(sqs, events_queue)]
    assert values[-3:] == ["ALARM", "OK", "ALARM"]


def test_lambda_metrics_have_one_minute_resolution(aws, name, cleanup):
    """AWS/Lambda metrics are standard resolution: one datapoint per minute, at its start. A 10 s
    alarm on them sees no data at most evaluation points (hence 60 s periods in the module)."""
    lam, cw = aws("lambda"), aws("cloudwatch")
    create_function(lam, name, {"app.py": FAILING})
    cleanup(lambda: lam.delete_function(FunctionName=name))
    second = datetime.now(tz=UTC).second
    if not 12 <= second <= 50:  # invoke away from the minute's first 10 s bucket and its end
        time.sleep((72 - second) % 60)
    for _ in range(3):
        invoke(lam, name, {"fail": True})

    def datapoints() -> list[dict]:
        # 10 s buckets aligned on the minute: a datapoint stamped at the second of its
        # invocation would land in the :10 ... :50 buckets too
        start = datetime.now(tz=UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
        return cw.get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName="Errors",
            Dimensions=[{"Name": "FunctionName", "Value": name}],
            StartTime=start,
            EndTime=start + timedelta(minutes=4),
            Period=10,
            Statistics=["Sum"],
        )["Datapoints"]

    found = wait_until(
        lambda: (points := datapoints()) and sum(d["Sum"] for d in points) == 3 and points,
        timeout=20,
        what="Lambda's 3 Errors",
    )
    assert {(d["Timestamp"].second, d["Timestamp"].microsecond) for d in found} == {(0, 0)}


SLEEPY = """
import time
def handler(event, context):
    time.sleep(event.get("sleepMs", 0) / 1000)
    return "ok"
"""


def lambda_metric(cw, name: str, metric: str, stat: str) -> float | None:
    """The function's `metric` in its current minute (and the one before), with `stat`."""
    start = datetime.now(tz=UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    results = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "q",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Lambda",
                        "MetricName": metric,
                        "Dimensions": [{"Name": "FunctionName", "Value": name}],
                    },
                    "Period": 120,
                    "Stat": stat,
                },
            }
        ],
        StartTime=start,
        EndTime=start + timedelta(minutes=2),
    )["MetricDataResults"]
    values = results[0]["Values"]
    return values[0] if values else None


def test_lambda_duration_is_published_and_its_percentile_rank_computed(aws, name, cleanup):
    """Lambda's Duration per invocation (LocalStack publishes none) and CloudWatch's percentile
    rank PR(low:high): the share of values in (low, high], which a slow-call alarm reads."""
    lam, cw = aws("lambda"), aws("cloudwatch")
    create_function(lam, name, {"app.py": SLEEPY})
    cleanup(lambda: lam.delete_function(FunctionName=name))
    second = datetime.now(tz=UTC).second
    if second > 45:  # the four invocations in one minute
        time.sleep(61 - second)
    for sleep_ms in (0, 0, 0, 600):
        invoke(lam, name, {"sleepMs": sleep_ms})

    wait_until(
        lambda: lambda_metric(cw, name, "Duration", "SampleCount") == 4,
        timeout=20,
        what="4 Duration values",
    )
    assert lambda_metric(cw, name, "Duration", "Maximum") >= 600
    assert lambda_metric(cw, name, "Duration", "PR(:400)") == 75.0  # 3 of 4 at most 400 ms
    assert lambda_metric(cw, name, "Duration", "PR(400:)") == 25.0
    assert lambda_metric(cw, name, "Duration", "PR(:1)") is not None  # a rank, maybe 0
    assert lambda_metric(cw, name, "Invocations", "PR(0:)") == 100.0  # any metric's values


def test_a_slow_call_alarm_trips_on_the_share_of_slow_invocations(aws, name, cleanup):
    """The module's slow-call signal: 100 - PR(0:T) of Duration, the share of calls slower than
    T, at or above its threshold, with the volume floor, on a 60 s period."""
    lam, cw = aws("lambda"), aws("cloudwatch")
    create_function(lam, name, {"app.py": SLEEPY})
    cleanup(lambda: lam.delete_function(FunctionName=name))

    def stat(metric: str, statistic: str) -> dict:
        return {
            "Metric": {
                "Namespace": "AWS/Lambda",
                "MetricName": metric,
                "Dimensions": [{"Name": "FunctionName", "Value": name}],
            },
            "Period": 60,
            "Stat": statistic,
        }

    cw.put_metric_alarm(
        AlarmName=name,
        Metrics=[
            {"Id": "m2", "MetricStat": stat("Invocations", "Sum"), "ReturnData": False},
            {"Id": "d1", "MetricStat": stat("Duration", "PR(0:300)"), "ReturnData": False},
            {
                "Id": "slow",
                "Expression": "IF(FILL(m2, 0) >= 3, 100 - FILL(d1, 100), 0)",
                "ReturnData": True,
            },
        ],
        EvaluationPeriods=1,
        DatapointsToAlarm=1,
        Threshold=50,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
    )
    cleanup(lambda: cw.delete_alarms(AlarmNames=[name]))

    for sleep_ms in (500, 500, 500, 0):  # 3 of 4 slower than 300 ms: 75 % >= 50 %
        invoke(lam, name, {"sleepMs": sleep_ms})

    wait_until(lambda: alarm_state(cw, name) == "ALARM", timeout=75, what="ALARM")
