"""Where the harness is as strict as AWS although LocalStack is not (tests/harness/README.md):
mapping deletion completes, a queue that hides messages for less than the function runs is
refused, StopExecution aborts at once, an indefinite JSONPath yields an array, a target that
cannot be invoked is dead-lettered, a parameter value over its tier's size is refused."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError
from support import (
    ACCOUNT,
    REGION,
    allow_rule_delivery,
    create_function,
    drain,
    mapping_state,
    queue_depth,
    wait_until,
)

HANDLER = """
def handler(event, context):
    return {"batchItemFailures": []}
"""


def queue(aws, name: str, cleanup, **attributes) -> tuple[str, str]:
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    cleanup(lambda: sqs.delete_queue(QueueUrl=url))
    return url, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def gone(lam, uuid: str) -> bool:
    try:
        lam.get_event_source_mapping(UUID=uuid)
    except ClientError as exc:
        return exc.response["Error"]["Code"] == "ResourceNotFoundException"
    return False


@pytest.mark.parametrize("enabled", [False, True])
def test_a_deleted_mapping_is_gone_and_can_be_created_again(aws, name, cleanup, enabled):
    """LocalStack left a mapping deleted while disabled `Deleting` forever; creating the same
    mapping again then failed (the breaker's rejitter mapping is always disabled: a destroyed
    stack could not be applied again). On AWS the deletion completes."""
    lam = aws("lambda")
    _, arn = queue(aws, f"{name}-q", cleanup)
    create_function(lam, name, {"app.py": HANDLER})
    cleanup(lambda: lam.delete_function(FunctionName=name))
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, Enabled=enabled)[
        "UUID"
    ]
    expected = "Enabled" if enabled else "Disabled"
    wait_until(lambda: mapping_state(lam, uuid) == expected, timeout=30, what=expected)

    lam.delete_event_source_mapping(UUID=uuid)
    wait_until(lambda: gone(lam, uuid), timeout=30, what="the mapping deleted")

    again = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, Enabled=False)
    cleanup(lambda: lam.delete_event_source_mapping(UUID=again["UUID"]))
    assert again["UUID"] != uuid


def test_a_queue_hiding_messages_shorter_than_the_function_runs_is_refused(aws, name, cleanup):
    lam = aws("lambda")
    _, short = queue(aws, f"{name}-short", cleanup, VisibilityTimeout="30")
    _, long = queue(aws, f"{name}-long", cleanup, VisibilityTimeout="60")
    create_function(lam, name, {"app.py": HANDLER}, Timeout=60)
    cleanup(lambda: lam.delete_function(FunctionName=name))

    with pytest.raises(ClientError) as refused:
        lam.create_event_source_mapping(EventSourceArn=short, FunctionName=name, Enabled=False)

    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"] == (
        "Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds"
    )
    ok = lam.create_event_source_mapping(EventSourceArn=long, FunctionName=name, Enabled=False)
    cleanup(lambda: lam.delete_event_source_mapping(UUID=ok["UUID"]))


def test_stop_execution_aborts_at_once_even_during_a_task(aws, name, cleanup):
    """AWS reports ABORTED (and publishes the status event) when StopExecution returns; LocalStack
    waited for the running task, and its retry back-off, to finish first."""
    sfn, sqs, events = aws("stepfunctions"), aws("sqs"), aws("events")
    machine = sfn.create_state_machine(
        name=name,
        definition=json.dumps(
            {
                "StartAt": "Fail",
                "States": {
                    # a task that fails and is retried after 60 s: it is "in progress" meanwhile
                    "Fail": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::aws-sdk:sqs:getQueueUrl",
                        "Parameters": {"QueueName": f"{name}-missing"},
                        "Retry": [
                            {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 60, "MaxAttempts": 3}
                        ],
                        "End": True,
                    }
                },
            }
        ),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn-role",
    )["stateMachineArn"]
    cleanup(lambda: sfn.delete_state_machine(stateMachineArn=machine))
    url, arn = queue(aws, f"{name}-status", cleanup)
    events.put_rule(
        Name=name,
        EventPattern=json.dumps(
            {
                "source": ["aws.states"],
                "detail-type": ["Step Functions Execution Status Change"],
                "detail": {"stateMachineArn": [machine], "status": ["ABORTED"]},
            }
        ),
    )
    allow_rule_delivery(sqs, url, arn, name)
    events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
    cleanup(lambda: events.delete_rule(Name=name))
    cleanup(lambda: events.remove_targets(Rule=name, Ids=["q"]))
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    wait_until(
        lambda: any(
            "taskFailedEventDetails" in e
            for e in sfn.get_execution_history(executionArn=execution)["events"]
        ),
        timeout=30,
        what="the task failed once (now waiting 60 s to retry)",
    )

    sfn.stop_execution(executionArn=execution, cause="test")

    assert sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"
    (event,) = wait_until(lambda: drain(sqs, url, seconds=1), timeout=10, what="ABORTED event")
    assert json.loads(event["Body"])["detail"]["executionArn"] == execution


def test_an_indefinite_path_yields_an_array_even_of_one_match(aws, name, cleanup):
    """AWS (Jayway JsonPath) returns every match of a wildcard, slice or filter path as an array.
    LocalStack returned a single match unwrapped: the breaker's list of superseded executions
    (`$.Executions[*].ExecutionArn`) became a string when one execution ran, and every later
    alarm execution failed on `States.ArrayContains`."""
    sfn = aws("stepfunctions")
    machine = sfn.create_state_machine(
        name=name,
        definition=json.dumps(
            {
                "StartAt": "Select",
                "States": {
                    "Select": {
                        "Type": "Pass",
                        "Parameters": {
                            "one.$": "$.one[*].id",
                            "two.$": "$.two[*].id",
                            "none.$": "$.none[*].id",
                            "filtered.$": "$.two[?(@.id == 'b')].id",
                            "first.$": "$.two[0].id",
                            "contains.$": "States.ArrayContains($.one[*].id, 'a')",
                        },
                        "End": True,
                    }
                },
            }
        ),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn-role",
    )["stateMachineArn"]
    cleanup(lambda: sfn.delete_state_machine(stateMachineArn=machine))
    execution = sfn.start_execution(
        stateMachineArn=machine,
        input=json.dumps({"one": [{"id": "a"}], "two": [{"id": "a"}, {"id": "b"}], "none": []}),
    )["executionArn"]
    done = wait_until(
        lambda: (d := sfn.describe_execution(executionArn=execution))["status"] != "RUNNING" and d,
        timeout=30,
        what="the execution ended",
    )
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {
        "one": ["a"],
        "two": ["a", "b"],
        "none": [],
        "filtered": ["b"],
        "first": "a",
        "contains": True,
    }


def test_an_undeliverable_event_is_retried_then_dead_lettered(aws, name, cleanup):
    """A rule whose target cannot be invoked (here a state machine that does not exist) puts the
    event into the target's dead-letter queue, with AWS's attributes, after its retries."""
    events, sqs = aws("events"), aws("sqs")
    url, dlq = queue(aws, f"{name}-dlq", cleanup)
    missing = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}-missing"
    allow_rule_delivery(sqs, url, dlq, name)
    events.put_rule(Name=name, EventPattern=json.dumps({"source": [f"test.{name}"]}))
    events.put_targets(
        Rule=name,
        Targets=[
            {
                "Id": "sfn",
                "Arn": missing,
                "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/ev",
                "RetryPolicy": {"MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 60},
                "DeadLetterConfig": {"Arn": dlq},
            }
        ],
    )
    cleanup(lambda: events.delete_rule(Name=name))
    cleanup(lambda: events.remove_targets(Rule=name, Ids=["sfn"]))

    events.put_events(
        Entries=[{"Source": f"test.{name}", "DetailType": "probe", "Detail": '{"n": 1}'}]
    )

    (message,) = wait_until(lambda: drain(sqs, url, seconds=1), timeout=30, what="dead letter")
    assert json.loads(message["Body"])["detail"] == {"n": 1}
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["TARGET_ARN"] == missing
    assert attributes["RULE_ARN"].endswith(f":rule/{name}")
    assert attributes["RETRY_ATTEMPTS"] == "1"


def test_a_disabled_rule_matches_nothing(aws, name, cleanup):
    """DisableRule stops a rule's deliveries (LocalStack delivered all the same); EnableRule
    resumes them. The benchmark plays an outage without the breaker this way."""
    events, sqs = aws("events"), aws("sqs")
    url, arn = queue(aws, f"{name}-target", cleanup)
    allow_rule_delivery(sqs, url, arn, name)
    events.put_rule(Name=name, EventPattern=json.dumps({"source": [f"test.{name}"]}))
    events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
    cleanup(lambda: events.delete_rule(Name=name))
    cleanup(lambda: events.remove_targets(Rule=name, Ids=["q"]))

    def put(n: int) -> None:
        events.put_events(
            Entries=[{"Source": f"test.{name}", "DetailType": "t", "Detail": json.dumps({"n": n})}]
        )

    events.disable_rule(Name=name)
    put(1)
    assert drain(sqs, url, seconds=3) == []
    events.enable_rule(Name=name)
    put(2)
    (message,) = wait_until(lambda: drain(sqs, url, seconds=1), timeout=10, what="the event")
    assert json.loads(message["Body"])["detail"] == {"n": 2}


def test_an_updated_mapping_reports_the_state_of_its_new_worker(aws, name, cleanup):
    """The breaker's half-open ramp updates an enabled mapping twice within seconds (OpenHalfway,
    then CloseCircuit). LocalStack's replaced worker used to write `Disabled` into the store when
    its last poll returned, after the new worker had written `Enabled`."""
    lam, sqs = aws("lambda"), aws("sqs")
    url, arn = queue(aws, f"{name}-q", cleanup)
    sink, _ = queue(aws, f"{name}-sink", cleanup)
    forward = (
        "import os, time, boto3\n"
        "SQS = boto3.client('sqs')\n"
        "def handler(event, context):\n"
        "    time.sleep(3)  # a batch in flight while the mapping is updated\n"
        "    for r in event['Records']:\n"
        "        SQS.send_message(QueueUrl=os.environ['SINK'], MessageBody=r['body'])\n"
    )
    create_function(lam, name, {"app.py": forward}, Environment={"Variables": {"SINK": sink}})
    cleanup(lambda: lam.delete_function(FunctionName=name))
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)["UUID"]
    cleanup(lambda: lam.delete_event_source_mapping(UUID=uuid))
    wait_until(lambda: mapping_state(lam, uuid) == "Enabled", timeout=30, what="Enabled")
    sqs.send_message(QueueUrl=url, MessageBody="in flight")
    wait_until(lambda: queue_depth(sqs, url) == (0, 1), timeout=30, what="a batch in flight")

    for _ in range(3):
        lam.update_event_source_mapping(
            UUID=uuid, Enabled=True, ScalingConfig={"MaximumConcurrency": 2}
        )
        lam.update_event_source_mapping(UUID=uuid, Enabled=True, ScalingConfig={})

    states = set()
    for _ in range(12):  # several seconds: the replaced workers' last polls return meanwhile
        states.add(mapping_state(lam, uuid))
        time.sleep(0.5)
    assert states <= {"Enabled", "Enabling", "Updating", "Creating"}, states
    assert mapping_state(lam, uuid) == "Enabled"
    sqs.send_message(QueueUrl=url, MessageBody="delivered")
    bodies: set[str] = set()
    wait_until(
        lambda: (
            bodies.update(m["Body"] for m in drain(sqs, sink, seconds=1)) or "delivered" in bodies
        ),
        timeout=30,
        what="delivery",
    )


def test_a_parameter_value_longer_than_its_tier_allows_is_refused(aws, name, cleanup):
    """AWS limits a standard-tier value to 4,096 characters (advanced: 8,192) with a
    ValidationException; LocalStack stored any size. The breaker's control marker must fit."""
    ssm = aws("ssm")
    parameter = f"/sqscb-test/{name}"
    ssm.put_parameter(Name=parameter, Value="x" * 4096, Type="String", Tier="Standard")
    cleanup(lambda: ssm.delete_parameter(Name=parameter))
    with pytest.raises(ClientError) as refused:
        ssm.put_parameter(Name=parameter, Value="x" * 4097, Type="String", Overwrite=True)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "4096 characters" in refused.value.response["Error"]["Message"]
    assert ssm.get_parameter(Name=parameter)["Parameter"]["Value"] == "x" * 4096
    ssm.put_parameter(
        Name=parameter, Value="x" * 8192, Type="String", Tier="Advanced", Overwrite=True
    )
