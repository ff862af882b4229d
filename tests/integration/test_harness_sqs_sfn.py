"""SQS event source mappings and Step Functions SDK integrations on the emulator."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from support import (
    ACCOUNT,
    allow_delivery,
    create_function,
    drain,
    mapping_state,
    queue_depth,
    wait_until,
)

FORWARD = """
import os, boto3
SQS = boto3.client("sqs")
def handler(event, context):
    for record in event["Records"]:
        SQS.send_message(QueueUrl=os.environ["SINK"], MessageBody=record["body"])
    return {"batchItemFailures": []}
"""


def make_forwarder(aws, name, cleanup) -> tuple[str, str, str]:
    """A queue -> function (forwards bodies to a sink queue) -> mapping. Returns urls + uuid."""
    lam, sqs = aws("lambda"), aws("sqs")
    source = sqs.create_queue(QueueName=f"{name}-src")["QueueUrl"]
    sink = sqs.create_queue(QueueName=f"{name}-sink")["QueueUrl"]
    cleanup(lambda: sqs.delete_queue(QueueUrl=source))
    cleanup(lambda: sqs.delete_queue(QueueUrl=sink))
    create_function(lam, name, {"app.py": FORWARD}, Environment={"Variables": {"SINK": sink}})
    cleanup(lambda: lam.delete_function(FunctionName=name))
    arn = sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["QueueArn"])
    uuid = lam.create_event_source_mapping(
        EventSourceArn=arn["Attributes"]["QueueArn"],
        FunctionName=name,
        BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )["UUID"]
    # deleting a function before its mapping leaves the mapping stuck: mapping goes first
    cleanup(lambda: lam.delete_event_source_mapping(UUID=uuid))
    wait_until(lambda: mapping_state(lam, uuid) == "Enabled", timeout=30, what="mapping Enabled")
    return source, sink, uuid


def run_machine(sfn, name, definition: dict, cleanup, execution_input: dict | None = None):
    """Create a state machine, run it once to its end: (the execution's ARN, its description)."""
    arn = sfn.create_state_machine(
        name=name,
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn-role",
    )["stateMachineArn"]
    cleanup(lambda: sfn.delete_state_machine(stateMachineArn=arn))
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(execution_input or {}))
    execution_arn = execution["executionArn"]
    result = wait_until(
        lambda: (
            (d := sfn.describe_execution(executionArn=execution_arn))["status"] != "RUNNING" and d
        ),
        timeout=60,
        what="execution to finish",
    )
    return execution_arn, result


def test_disabled_mapping_holds_messages_and_reenabling_delivers_all(aws, name, cleanup):
    lam, sqs = aws("lambda"), aws("sqs")
    source, sink, uuid = make_forwarder(aws, name, cleanup)

    sqs.send_message(QueueUrl=source, MessageBody="before")
    delivered = wait_until(lambda: drain(sqs, sink, seconds=1), timeout=30, what="first delivery")
    assert [m["Body"] for m in delivered] == ["before"]

    lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    wait_until(lambda: mapping_state(lam, uuid) == "Disabled", timeout=30, what="Disabled")
    bodies = {f"held-{i}" for i in range(15)}
    for body in bodies:
        sqs.send_message(QueueUrl=source, MessageBody=body)
    time.sleep(5)
    assert drain(sqs, sink, seconds=1) == []
    assert queue_depth(sqs, source) == (15, 0)

    lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    received: set[str] = set()

    def all_delivered():
        received.update(m["Body"] for m in drain(sqs, sink, seconds=1))
        return received >= bodies

    wait_until(all_delivered, timeout=60, what="every held message delivered")
    assert received == bodies
    assert queue_depth(sqs, source) == (0, 0)


def test_state_machine_with_sdk_integrations_runs_to_success(aws, name, cleanup):
    lam, sqs, sfn = aws("lambda"), aws("sqs"), aws("stepfunctions")
    source, sink, uuid = make_forwarder(aws, name, cleanup)
    lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    wait_until(lambda: mapping_state(lam, uuid) == "Disabled", timeout=30, what="Disabled")
    sqs.send_message(QueueUrl=source, MessageBody="probe-me")
    definition = {
        "StartAt": "Receive",
        "States": {
            "Receive": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sqs:receiveMessage",
                "Parameters": {"QueueUrl": source, "MaxNumberOfMessages": 1, "WaitTimeSeconds": 2},
                "ResultPath": "$.received",
                "Next": "Invoke",
            },
            "Invoke": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": name,
                    "Payload": {"Records": [{"body.$": "$.received.Messages[0].Body"}]},
                },
                "ResultPath": "$.invoked",
                "Next": "Enable",
            },
            "Enable": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:lambda:updateEventSourceMapping",
                # `Uuid` is the casing AWS's SDK integration takes (LocalStack accepts it too)
                "Parameters": {"Uuid": uuid, "Enabled": True},
                "ResultSelector": {"State.$": "$.State"},
                "End": True,
            },
        },
    }
    _, result = run_machine(sfn, name, definition, cleanup)

    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"])["State"] in ("Enabling", "Enabled")
    assert [m["Body"] for m in drain(sqs, sink, seconds=2)] == ["probe-me"]
    wait_until(lambda: mapping_state(lam, uuid) == "Enabled", timeout=30, what="Enabled")


def test_bodies_arrive_as_sent_and_filters_apply_lambdas_body_format_rule(aws, name, cleanup):
    """AWS delivers an SQS body as sent (LocalStack re-serialised JSON bodies: `{"a":1}` arrived as
    `{"a": 1}`, `1e2` as `100.0`), and a filter pattern for JSON properties drops a plain-string
    body (LocalStack let `{"exists": false}` admit any plain string)."""
    lam, sqs = aws("lambda"), aws("sqs")
    source, sink, uuid = make_forwarder(aws, name, cleanup)
    pattern = {"body": {"skip": [{"exists": False}]}}
    lam.update_event_source_mapping(
        UUID=uuid, FilterCriteria={"Filters": [{"Pattern": json.dumps(pattern)}]}
    )
    wait_until(lambda: mapping_state(lam, uuid) == "Enabled", timeout=30, what="Enabled")

    sent = ['{"a":1,"n":1e2}', '{"skip": true}', "plain text", '{"b" : [1,2]}']
    for body in sent:
        sqs.send_message(QueueUrl=source, MessageBody=body)
    received: list[str] = []

    def delivered():
        received.extend(m["Body"] for m in drain(sqs, sink, seconds=1))
        return len(received) >= 2

    wait_until(delivered, timeout=60, what="the admitted messages delivered")
    time.sleep(3)
    received.extend(m["Body"] for m in drain(sqs, sink, seconds=1))
    assert sorted(received) == sorted(['{"a":1,"n":1e2}', '{"b" : [1,2]}'])
    # the excluded ones are deleted by the mapping, as on AWS
    wait_until(lambda: queue_depth(sqs, source) == (0, 0), timeout=30, what="queue empty")


REJECT_ALL = """
def handler(event, context):
    # every record reported failed, yet the function returns normally: Errors stays at 0
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}
"""


def event_counts(cw, uuid: str) -> dict[str, float]:
    """The mapping's event count metrics (Sum over the last few minutes)."""
    end = datetime.now(tz=UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    names = ("PolledEventCount", "InvokedEventCount", "FailedInvokeEventCount")
    results = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": name.lower(),
                "Label": name,
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Lambda",
                        "MetricName": name,
                        "Dimensions": [{"Name": "EventSourceMappingUUID", "Value": uuid}],
                    },
                    "Period": 300,
                    "Stat": "Sum",
                },
            }
            for name in names
        ],
        StartTime=end - timedelta(minutes=5),
        EndTime=end,
    )["MetricDataResults"]
    return {r["Label"]: sum(r["Values"]) for r in results if r["Values"]}


def test_a_mapping_with_event_count_metrics_counts_partial_batch_failures(aws, name, cleanup):
    """MetricsConfig EventCount: the mapping publishes its event counts per UUID, and a batch
    whose every record is in batchItemFailures counts as failed (FailedInvokeEventCount), where
    the function's Errors stays at 0. A mapping without the setting publishes nothing."""
    lam, sqs, cw = aws("lambda"), aws("sqs"), aws("cloudwatch")
    create_function(lam, name, {"app.py": REJECT_ALL})
    cleanup(lambda: lam.delete_function(FunctionName=name))
    uuids = {}
    for counted in (True, False):
        queue = sqs.create_queue(
            QueueName=f"{name}-{counted}", Attributes={"VisibilityTimeout": "30"}
        )["QueueUrl"]
        cleanup(lambda queue=queue: sqs.delete_queue(QueueUrl=queue))
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        extra = {"MetricsConfig": {"Metrics": ["EventCount"]}} if counted else {}
        uuid = lam.create_event_source_mapping(
            EventSourceArn=arn["Attributes"]["QueueArn"],
            FunctionName=name,
            BatchSize=10,
            FunctionResponseTypes=["ReportBatchItemFailures"],
            **extra,
        )["UUID"]
        cleanup(lambda uuid=uuid: lam.delete_event_source_mapping(UUID=uuid))
        assert lam.get_event_source_mapping(UUID=uuid).get("MetricsConfig", {}) == extra.get(
            "MetricsConfig", {}
        )
        wait_until(lambda uuid=uuid: mapping_state(lam, uuid) == "Enabled", timeout=30, what="on")
        sqs.send_message_batch(
            QueueUrl=queue,
            Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(3)],
        )
        uuids[counted] = uuid

    counts = wait_until(
        lambda: (c := event_counts(cw, uuids[True])).get("FailedInvokeEventCount", 0) >= 3 and c,
        timeout=30,
        what="the failed events counted",
    )
    assert counts["PolledEventCount"] >= 3
    assert counts["InvokedEventCount"] >= 3
    assert event_counts(cw, uuids[False]) == {}


def test_an_sns_publish_task_serializes_a_message_object(aws, name, cleanup):
    """notification_format = json publishes an object as the sns:publish task's Message (its paths
    resolved): the optimized integration serializes a Message that is not a string, as AWS does
    (LocalStack's AWS-validated snapshot test_sns_task_service.py::test_publish_base publishes an
    object)."""
    sns, sqs, sfn = aws("sns"), aws("sqs"), aws("stepfunctions")
    topic = sns.create_topic(Name=name)["TopicArn"]
    cleanup(lambda: sns.delete_topic(TopicArn=topic))
    url = sqs.create_queue(QueueName=f"{name}-notes")["QueueUrl"]
    cleanup(lambda: sqs.delete_queue(QueueUrl=url))
    queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    allow_delivery(sqs, url, queue["QueueArn"], "sns.amazonaws.com", topic)
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )
    definition = {
        "StartAt": "Notify",
        "States": {
            "Notify": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {
                    "TopicArn": topic,
                    "Subject": "[circuit c] OPEN",
                    "Message": {
                        "circuit": "c",
                        "message.$": "States.Format('Circuit c is OPEN ({})', $.reason)",
                        "execution.$": "$$.Execution.Id",
                        "consoleLinks": {"alarm": "https://console/alarm"},
                    },
                },
                "ResultPath": None,
                "End": True,
            }
        },
    }
    execution, result = run_machine(sfn, name, definition, cleanup, {"reason": "alarm"})
    assert result["status"] == "SUCCEEDED", result
    delivered = wait_until(lambda: drain(sqs, url, seconds=1), timeout=30, what="notification")
    assert [json.loads(m["Body"]) for m in delivered] == [
        {
            "circuit": "c",
            "message": "Circuit c is OPEN (alarm)",
            "execution": execution,
            "consoleLinks": {"alarm": "https://console/alarm"},
        }
    ]
