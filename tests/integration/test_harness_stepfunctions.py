"""Where the harness's Step Functions and DynamoDB are as strict as AWS (tests/harness/README.md):
the 25,000-event history quota, GetExecutionHistory pages, RFC 3339 timestamps in Choice rules and
in what Step Functions writes, an eventually consistent ListExecutions on request, and DynamoDB's
conditional writes (atomic, and through the optimized integration)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError
from support import ACCOUNT, REGION, allow_rule_delivery, drain, harness_sfn, wait_until

ROLE = f"arn:aws:iam::{ACCOUNT}:role/sfn-role"
HISTORY_LIMIT_CAUSE = "The execution reached the maximum number of history events (25000)."


def lease_table(ddb, name: str, cleanup) -> None:
    """A table shaped as the breaker's lease table (one item per circuit)."""
    ddb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "circuit", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "circuit", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    cleanup(lambda: ddb.delete_table(TableName=name))


def machine(sfn, name: str, cleanup, definition: dict) -> str:
    arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]
    cleanup(lambda: sfn.delete_state_machine(stateMachineArn=arn))
    return arn


def finished(sfn, execution: str, timeout: float = 60) -> dict:
    return wait_until(
        lambda: (d := sfn.describe_execution(executionArn=execution))["status"] != "RUNNING" and d,
        timeout=timeout,
        what="the execution ended",
    )


# A loop of two states: 4 history events per turn, forever.
SPIN = {
    "StartAt": "Spin",
    "States": {
        "Spin": {"Type": "Pass", "Next": "Again"},
        "Again": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.stop", "IsPresent": True, "Next": "Done"}],
            "Default": "Spin",
        },
        "Done": {"Type": "Succeed"},
    },
}


def test_an_execution_fails_at_25000_history_events_as_on_aws(aws, name, cleanup):
    """AWS: event 25,000 is ExecutionFailed (States.Runtime, "The execution reached the maximum
    number of history events (25000).") unless it is ExecutionSucceeded; the execution is FAILED
    and its status-change event published. LocalStack let the history grow without end."""
    sfn, sqs, events = aws("stepfunctions"), aws("sqs"), aws("events")
    arn = machine(sfn, name, cleanup, SPIN)
    url = sqs.create_queue(QueueName=f"{name}-status")["QueueUrl"]
    cleanup(lambda: sqs.delete_queue(QueueUrl=url))
    allow_rule_delivery(sqs, url, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}-status", name)
    events.put_rule(
        Name=name,
        EventPattern=json.dumps(
            {
                "source": ["aws.states"],
                "detail-type": ["Step Functions Execution Status Change"],
                "detail": {"stateMachineArn": [arn], "status": ["FAILED"]},
            }
        ),
    )
    events.put_targets(
        Rule=name, Targets=[{"Id": "q", "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}-status"}]
    )
    cleanup(lambda: events.delete_rule(Name=name))
    cleanup(lambda: events.remove_targets(Rule=name, Ids=["q"]))

    execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]

    done = finished(sfn, execution, timeout=240)
    assert (done["status"], done["error"], done["cause"]) == (
        "FAILED",
        "States.Runtime",
        HISTORY_LIMIT_CAUSE,
    )
    last = sfn.get_execution_history(executionArn=execution, reverseOrder=True, maxResults=2)
    failed, before = last["events"]
    assert failed["id"] == 25_000 and failed["type"] == "ExecutionFailed"
    assert failed["executionFailedEventDetails"] == {
        "error": "States.Runtime",
        "cause": HISTORY_LIMIT_CAUSE,
    }
    assert before["id"] == 24_999 and before["type"] != "ExecutionFailed"
    time.sleep(1)  # nothing runs after the failure
    again = sfn.get_execution_history(executionArn=execution, reverseOrder=True, maxResults=1)
    assert again["events"][0]["id"] == 25_000
    (event,) = wait_until(lambda: drain(sqs, url, seconds=1), timeout=20, what="FAILED event")
    assert json.loads(event["Body"])["detail"]["executionArn"] == execution


def test_the_25000th_event_may_be_the_success(aws, name, cleanup, endpoint):
    """The quota fails an execution only when event 25,000 is not ExecutionSucceeded (shown with
    the limit lowered for this state machine: 5 Pass states and the start make 12 events)."""
    sfn = aws("stepfunctions")
    states = {f"P{i}": {"Type": "Pass", "Next": f"P{i + 1}"} for i in range(4)}
    states["P4"] = {"Type": "Pass", "End": True}
    arn = machine(sfn, name, cleanup, {"StartAt": "P0", "States": states})
    harness_sfn(endpoint, {"stateMachineArn": arn, "maxHistoryEvents": 12})
    ok = finished(sfn, sfn.start_execution(stateMachineArn=arn)["executionArn"])
    assert ok["status"] == "SUCCEEDED"
    harness_sfn(endpoint, {"stateMachineArn": arn, "maxHistoryEvents": 11})
    failed = finished(sfn, sfn.start_execution(stateMachineArn=arn)["executionArn"])
    assert (failed["status"], failed["error"]) == ("FAILED", "States.Runtime")
    assert "(11)" in failed["cause"]


def test_a_fast_forwarded_history_meets_the_real_quota(aws, name, cleanup, endpoint):
    """historyEventsUsed N starts an execution's history at event N + 1 (make test-history's
    shortcut to the quota): the real 25,000 counts those events, GetExecutionHistory shows them."""
    sfn = aws("stepfunctions")
    states = {f"P{i}": {"Type": "Pass", "Next": f"P{i + 1}"} for i in range(4)}
    states["P4"] = {"Type": "Pass", "End": True}
    arn = machine(sfn, name, cleanup, {"StartAt": "P0", "States": states})
    harness_sfn(endpoint, {"stateMachineArn": arn, "historyEventsUsed": 24_988})
    ok = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    assert finished(sfn, ok)["status"] == "SUCCEEDED"
    events = sfn.get_execution_history(executionArn=ok, maxResults=1000)["events"]
    assert [e["id"] for e in events] == list(range(24_989, 25_001))
    assert (events[0]["type"], events[-1]["type"]) == ("ExecutionStarted", "ExecutionSucceeded")
    harness_sfn(endpoint, {"stateMachineArn": arn, "historyEventsUsed": 24_989})
    failed = finished(sfn, sfn.start_execution(stateMachineArn=arn)["executionArn"])
    assert (failed["status"], failed["error"]) == ("FAILED", "States.Runtime")
    assert "(25000)" in failed["cause"]


def test_history_pages_are_served_as_on_aws(aws, name, cleanup):
    """GetExecutionHistory returns 100 events by default, at most maxResults, with a nextToken;
    reverseOrder with maxResults 1 is the newest event (the breaker's event count)."""
    sfn = aws("stepfunctions")
    arn = machine(sfn, name, cleanup, SPIN)
    execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    wait_until(
        lambda: (
            len(sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]) >= 300
        ),
        timeout=30,
        what="300 events",
    )
    sfn.stop_execution(executionArn=execution)
    first = sfn.get_execution_history(executionArn=execution)
    assert len(first["events"]) == 100 and "nextToken" in first
    assert [e["id"] for e in first["events"]] == list(range(1, 101))
    second = sfn.get_execution_history(executionArn=execution, nextToken=first["nextToken"])
    assert second["events"][0]["id"] == 101
    everything = sfn.get_paginator("get_execution_history").paginate(executionArn=execution)
    ids = [e["id"] for page in everything for e in page["events"]]
    assert ids == list(range(1, len(ids) + 1))
    newest = sfn.get_execution_history(executionArn=execution, reverseOrder=True, maxResults=1)
    assert newest["events"][0]["id"] == len(ids)


def test_choice_rules_compare_rfc3339_timestamps_with_fractions(aws, name, cleanup):
    """Step Functions writes timestamps with milliseconds ($$.State.EnteredTime, SDK results):
    Choice rules compare them. LocalStack parsed whole seconds only (the rule was false, or the
    execution failed), wrote EnteredTime as isoformat() and left SDK timestamps as objects."""
    sfn = aws("stepfunctions")
    arn = machine(
        sfn,
        name,
        cleanup,
        {
            "StartAt": "Stamp",
            "States": {
                "Stamp": {
                    "Type": "Pass",
                    "Parameters": {"entered.$": "$$.State.EnteredTime"},
                    "ResultPath": "$.stamp",
                    "Next": "Describe",
                },
                "Describe": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:sfn:describeStateMachine",
                    "Parameters": {"StateMachineArn.$": "$$.StateMachine.Id"},
                    "ResultSelector": {"created.$": "$.CreationDate"},
                    "ResultPath": "$.machine",
                    "Next": "Compare",
                },
                "Compare": {
                    "Type": "Choice",
                    "Choices": [
                        {
                            "And": [
                                {"Variable": "$.stamp.entered", "IsTimestamp": True},
                                {"Variable": "$.machine.created", "IsTimestamp": True},
                                {"Variable": "$.late", "IsTimestamp": True},
                                {
                                    "Variable": "$.stamp.entered",
                                    "TimestampGreaterThanPath": "$.machine.created",
                                },
                                {
                                    "Variable": "$.late",
                                    "TimestampGreaterThanPath": "$.stamp.entered",
                                },
                                {"Variable": "$.offset", "TimestampEqualsPath": "$.zulu"},
                            ],
                            "Next": "Yes",
                        }
                    ],
                    "Default": "No",
                },
                "Yes": {"Type": "Pass", "Result": True, "ResultPath": "$.compared", "End": True},
                "No": {"Type": "Pass", "Result": False, "ResultPath": "$.compared", "End": True},
            },
        },
    )
    late = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%f")
    execution = sfn.start_execution(
        stateMachineArn=arn,
        input=json.dumps(
            {
                "late": late + "Z",
                "offset": "2026-12-03T10:26:24.5+02:00",
                "zulu": "2026-12-03T08:26:24.500Z",
            }
        ),
    )["executionArn"]
    done = finished(sfn, execution)
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    assert output["compared"] is True
    for stamp in (output["stamp"]["entered"], output["machine"]["created"]):
        # 2019-03-26T20:14:13.192Z: UTC, milliseconds, Z
        assert len(stamp) == 24 and stamp.endswith("Z") and stamp[19] == ".", stamp


def test_a_lagging_list_executions_is_served_on_request(aws, name, cleanup, endpoint):
    """ListExecutions is eventually consistent on AWS: on request (one state machine at a time)
    the harness serves a view that lags, while DescribeExecution stays current."""
    sfn = aws("stepfunctions")
    arn = machine(
        sfn,
        name,
        cleanup,
        {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 2, "End": True}}},
    )
    harness_sfn(endpoint, {"stateMachineArn": arn, "listExecutionsLagSeconds": 4})
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    assert sfn.list_executions(stateMachineArn=arn)["executions"] == []
    wait_until(
        lambda: sfn.describe_execution(executionArn=execution)["status"] == "SUCCEEDED",
        timeout=10,
        what="succeeded",
    )
    # Listed 4 s after its start, still as RUNNING (it ended 2 s after its start) ...
    running = wait_until(
        lambda: sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"],
        timeout=10,
        what="listed, as RUNNING",
    )
    assert [e["executionArn"] for e in running] == [execution]
    assert sfn.describe_execution(executionArn=execution)["status"] == "SUCCEEDED"
    # ... and as SUCCEEDED 4 s after its end.
    wait_until(
        lambda: sfn.list_executions(stateMachineArn=arn, statusFilter="SUCCEEDED")["executions"],
        timeout=10,
        what="listed as SUCCEEDED",
    )


def test_a_conditional_write_fails_with_dynamodbs_error_through_the_integration(aws, name, cleanup):
    """DynamoDB is served by moto (DynamoDB Local is a download our machines cannot make): a
    conditional UpdateItem from Step Functions' optimized integration succeeds once, then fails
    with DynamoDB.ConditionalCheckFailedException (the name a Catch matches on AWS)."""
    sfn, ddb = aws("stepfunctions"), aws("dynamodb")
    lease_table(ddb, name, cleanup)
    take = {
        "Type": "Task",
        "Resource": "arn:aws:states:::dynamodb:updateItem",
        "Parameters": {
            "TableName": name,
            "Key": {"circuit": {"S": "c"}},
            "UpdateExpression": "SET holder = :self",
            "ConditionExpression": "attribute_not_exists(holder)",
            "ExpressionAttributeValues": {":self": {"S.$": "$$.Execution.Id"}},
        },
        "ResultPath": None,
        "Catch": [
            {
                "ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"],
                "ResultPath": "$.lost",
                "Next": "Lost",
            }
        ],
        "Next": "Won",
    }
    arn = machine(
        sfn,
        name,
        cleanup,
        {
            "StartAt": "Take",
            "States": {
                "Take": take,
                "Won": {"Type": "Pass", "Result": "won", "ResultPath": "$.outcome", "End": True},
                "Lost": {"Type": "Pass", "Result": "lost", "ResultPath": "$.outcome", "End": True},
            },
        },
    )
    outcomes = []
    for _ in range(2):
        done = finished(sfn, sfn.start_execution(stateMachineArn=arn)["executionArn"])
        assert done["status"] == "SUCCEEDED", done
        outcomes.append(json.loads(done["output"])["outcome"])
    assert outcomes == ["won", "lost"]
    with pytest.raises(ClientError, match="ConditionalCheckFailedException"):
        ddb.update_item(
            TableName=name,
            Key={"circuit": {"S": "c"}},
            UpdateExpression="SET holder = :x",
            ConditionExpression="attribute_not_exists(holder)",
            ExpressionAttributeValues={":x": {"S": "x"}},
        )


def test_of_writers_racing_on_one_item_exactly_one_meets_the_condition(aws, name, cleanup):
    """DynamoDB applies a conditional write atomically. Moto checks and writes in two unlocked
    steps while LocalStack serves requests on several threads: before the harness served DynamoDB
    one operation at a time, 28 of 30 rounds of this test had two or more winners (a long
    condition widens the gap between the check and the write), and two executions could own one
    episode of the e2e suite."""
    ddb = aws("dynamodb")
    lease_table(ddb, name, cleanup)
    alternatives = " OR ".join(f"attribute_not_exists(a{i})" for i in range(150))
    condition = f"attribute_not_exists(holder) AND ({alternatives})"

    def take(key: str, writer: int) -> bool:
        try:
            ddb.update_item(
                TableName=name,
                Key={"circuit": {"S": key}},
                UpdateExpression="SET holder = :self",
                ConditionExpression=condition,
                ExpressionAttributeValues={":self": {"S": str(writer)}},
            )
            return True
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ConditionalCheckFailedException", e
            return False

    with ThreadPoolExecutor(8) as pool:
        winners = [
            sum(pool.map(lambda writer, key=f"round-{r}": take(key, writer), range(8)))
            for r in range(10)
        ]
    assert winners == [1] * 10
