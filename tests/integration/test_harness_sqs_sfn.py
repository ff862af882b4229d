"""SQS event source mappings and Step Functions SDK integrations on the emulator."""

from __future__ import annotations

import json
import time

from support import ACCOUNT, create_function, drain, mapping_state, queue_depth, wait_until

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
    arn = sfn.create_state_machine(
        name=name,
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn-role",
    )["stateMachineArn"]
    cleanup(lambda: sfn.delete_state_machine(stateMachineArn=arn))

    execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    result = wait_until(
        lambda: (d := sfn.describe_execution(executionArn=execution))["status"] != "RUNNING" and d,
        timeout=60,
        what="execution to finish",
    )

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
