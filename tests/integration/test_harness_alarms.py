"""Alarm fidelity: Lambda errors -> metrics -> alarms (simple and metric math) -> AWS-shaped
state change events on the default bus -> EventBridge rules -> Step Functions executions."""

from __future__ import annotations

import json
import time

import pytest
from support import ACCOUNT, REGION, create_function, drain, invoke, wait_until

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
    events.put_targets(Rule=f"{name}-events", Targets=[{"Id": "q", "Arn": queue_arn}])
    cleanup(lambda: events.delete_rule(Name=f"{name}-events"))
    cleanup(lambda: events.remove_targets(Rule=f"{name}-events", Ids=["q"]))
    return url


def received_events(sqs, url: str) -> list[dict]:
    return [json.loads(m["Body"]) for m in drain(sqs, url, seconds=1)]


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


def test_lambda_errors_fire_an_alarm_whose_event_starts_an_execution(aws, name, cleanup):
    lam, cw, events, sfn = aws("lambda"), aws("cloudwatch"), aws("events"), aws("stepfunctions")
    create_function(lam, name, {"app.py": FAILING})
    cleanup(lambda: lam.delete_function(FunctionName=name))
    machine = sfn.create_state_machine(
        name=name,
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn-role",
    )["stateMachineArn"]
    cleanup(lambda: sfn.delete_state_machine(stateMachineArn=machine))
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/Lambda",
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

    for _ in range(3):
        assert invoke(lam, name, {"fail": True})[0] == "Unhandled"

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


def error_rate_alarm(cw, name: str, expression: str, **kwargs) -> None:
    def stat(metric: str) -> dict:
        return {
            "Metric": {
                "Namespace": "AWS/Lambda",
                "MetricName": metric,
                "Dimensions": [{"Name": "FunctionName", "Value": name}],
            },
            "Period": 10,
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


def test_metric_math_error_rate_alarm_fires(aws, name, cleanup, events_queue):
    lam, cw, sqs = aws("lambda"), aws("cloudwatch"), aws("sqs")
    create_function(lam, name, {"app.py": FAILING})
    cleanup(lambda: lam.delete_function(FunctionName=name))
    error_rate_alarm(cw, name, "IF(m2 >= 3, 100 * FILL(m1, 0) / m2, 0)")
    cleanup(lambda: cw.delete_alarms(AlarmNames=[name]))

    for payload in ({"fail": True}, {"fail": True}, {"fail": True}, {}):
        invoke(lam, name, payload)  # 3 of 4 fail: 75 % >= 50 %

    wait_until(lambda: alarm_state(cw, name) == "ALARM", timeout=60, what="ALARM")
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
    lam, cw = aws("lambda"), aws("cloudwatch")
    create_function(lam, name, {"app.py": FAILING})
    cleanup(lambda: lam.delete_function(FunctionName=name))
    error_rate_alarm(cw, name, expression)  # evaluated at once, then every 10 s period
    cleanup(lambda: cw.delete_alarms(AlarmNames=[name]))
    wait_until(lambda: alarm_state(cw, name) == "OK", timeout=30, what="first evaluation")

    invoke(lam, name, {"fail": True})  # 1 failure out of 1 call

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
