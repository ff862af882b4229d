"""The harness's fault injector (tests/harness faults.py): a call a rule names fails with AWS's
error for that service, as botocore and Step Functions see it on AWS, once or for good, for one
caller only, and the calls made are counted by caller (the fault matrix is derived from them).

The suite shares the emulator with the end-to-end tests (scripts/run_integration.py): every rule
here names this test's own resources (`target`) or a principal of its own."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from fault_play import harness_faults as faults
from support import ACCOUNT, REGION, wait_until

ROLE = f"arn:aws:iam::{ACCOUNT}:role/fault-harness-sfn"


@pytest.fixture
def inject(endpoint: str):
    """inject({rule}) -> the rule as the harness holds it; every rule is removed afterwards."""
    added: list[int] = []

    def add(rule: dict) -> dict:
        found = faults(endpoint, "POST", rule)
        added.append(found["id"])
        return found

    yield add
    for rule_id in added:
        faults(endpoint, "DELETE", query=f"?id={rule_id}")


def no_retries(service: str, endpoint: str):
    """A client that makes one attempt (the SDK's retries would hide a one-off fault)."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_lambda_throttling_is_a_429_too_many_requests_that_the_sdk_retries(
    aws, endpoint, inject, name
):
    lam = no_retries("lambda", endpoint)
    throttle = {
        "service": "lambda",
        "operation": "GetFunction",
        "target": name,
        "error": "TooManyRequestsException",
        "times": 1,
    }
    rule = inject(throttle)
    with pytest.raises(ClientError) as raised:
        lam.get_function(FunctionName=name)
    error = raised.value.response
    assert error["Error"]["Code"] == "TooManyRequestsException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert isinstance(raised.value, lam.exceptions.TooManyRequestsException)
    # once: the next call is served (the function does not exist)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=name)
    # an SDK with retries (the Lambdas' boto3, standard mode) rides over a one-off throttle
    inject(throttle)
    with pytest.raises(ClientError) as raised:
        aws("lambda").get_function(FunctionName=name)
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    held = {r["id"]: r for r in faults(endpoint)["rules"]}
    assert held[rule["id"]]["injected"] == 1


def test_sqs_errors_have_the_query_compatible_codes_botocore_parses(endpoint, inject, name):
    sqs = no_retries("sqs", endpoint)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    try:
        inject(
            {
                "service": "sqs",
                "operation": "SendMessage",
                "target": name,
                "error": "RequestThrottled",
            }
        )
        with pytest.raises(ClientError) as raised:
            sqs.send_message(QueueUrl=url, MessageBody="x")
        assert raised.value.response["Error"]["Code"] == "RequestThrottled"
        inject(
            {
                "service": "sqs",
                "operation": "SendMessage",
                "target": name,
                "error": "ServiceUnavailable",
            }
        )
        with pytest.raises(ClientError) as raised:
            sqs.send_message(QueueUrl=url, MessageBody="x")
        assert raised.value.response["Error"]["Code"] == "ServiceUnavailable"
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        sqs.send_message(QueueUrl=url, MessageBody="x")
    finally:
        sqs.delete_queue(QueueUrl=url)


def test_a_partial_batch_failure_reports_the_failed_entries_with_http_200(endpoint, inject, name):
    sqs = no_retries("sqs", endpoint)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    try:
        inject(
            {
                "service": "sqs",
                "operation": "SendMessageBatch",
                "target": name,
                "kind": "partial",
                "entries": 2,
            }
        )
        entries = [{"Id": f"e{i}", "MessageBody": f"m{i}"} for i in range(5)]
        answer = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert sorted(e["Id"] for e in answer["Successful"]) == ["e0", "e1", "e2"]
        assert [(f["Id"], f["Code"], f["SenderFault"]) for f in answer["Failed"]] == [
            ("e3", "InternalFailure", False),
            ("e4", "InternalFailure", False),
        ]
        got = wait_until(
            lambda: (
                int(
                    sqs.get_queue_attributes(
                        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
                    )["Attributes"]["ApproximateNumberOfMessages"]
                )
                == 3
            ),
            timeout=10,
            what="the successful entries queued",
        )
        assert got
    finally:
        sqs.delete_queue(QueueUrl=url)


def test_sns_throttling(endpoint, inject, name):
    sns = no_retries("sns", endpoint)
    topic = sns.create_topic(Name=name)["TopicArn"]
    try:
        inject({"service": "sns", "operation": "Publish", "target": name, "error": "Throttled"})
        with pytest.raises(ClientError) as raised:
            sns.publish(TopicArn=topic, Message="x")
        assert raised.value.response["Error"]["Code"] == "Throttled"
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    finally:
        sns.delete_topic(TopicArn=topic)


def test_a_rule_fails_only_the_caller_it_names(endpoint, inject, name):
    sqs = no_retries("sqs", endpoint)
    inject(
        {
            "service": "sqs",
            "operation": "ListQueues",
            "principal": "role/someone-else",
            "error": "InternalFailure",
            "times": None,
        }
    )
    sqs.list_queues()  # the tests' own keys: `user`
    seen = faults(endpoint)["seen"]
    assert any(s["identity"] == "user" and s["operation"] == "ListQueues" for s in seen)


def test_a_bad_rule_is_refused_with_the_reason(endpoint):
    with pytest.raises(urllib.error.HTTPError) as raised:
        faults(endpoint, "POST", {"service": "lambda", "operation": "Invoke", "error": "Nope"})
    assert raised.value.code == 400
    assert "unknown lambda error 'Nope'" in json.loads(raised.value.read())["error"]


def _execute(sfn, name: str, definition: dict) -> tuple[dict, list[dict]]:
    arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]
    try:
        execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
        done = wait_until(
            lambda: (
                (d := sfn.describe_execution(executionArn=execution))["status"] != "RUNNING" and d
            ),
            timeout=60,
            what="the execution ended",
        )
        events = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
        return done, events
    finally:
        sfn.delete_state_machine(stateMachineArn=arn)


def test_step_functions_sees_the_services_error_names(aws, endpoint, inject, name):
    """A fault on the state machine role's calls reaches the execution as on AWS: the optimized
    Lambda integration's `Lambda.TooManyRequestsException`, the SDK integration's
    `<Service>.<Exception>`; a Retry on the name rides over a one-off, a Catch takes a lasting
    one."""
    sfn, sqs = aws("stepfunctions"), aws("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    caller = "role/fault-harness-sfn"
    inject(
        {
            "service": "lambda",
            "operation": "Invoke",
            "principal": caller,
            "error": "TooManyRequestsException",
            "times": None,
        }
    )
    inject(
        {
            "service": "sqs",
            "operation": "GetQueueAttributes",
            "principal": caller,
            "error": "RequestThrottled",
            "times": 1,
        }
    )
    catch = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}]
    definition = {
        "StartAt": "Attributes",
        "States": {
            "Attributes": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sqs:getQueueAttributes",
                "Parameters": {"QueueUrl": url, "AttributeNames": ["All"]},
                "Retry": [
                    {
                        "ErrorEquals": ["Sqs.RequestThrottledException"],
                        "IntervalSeconds": 1,
                        "MaxAttempts": 2,
                    }
                ],
                "ResultPath": None,
                "Next": "Invoke",
            },
            "Invoke": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": f"{name}-absent", "Payload": {}},
                "Catch": catch,
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    try:
        done, events = _execute(sfn, name, definition)
    finally:
        sqs.delete_queue(QueueUrl=url)
    failures = [e["taskFailedEventDetails"] for e in events if e["type"] == "TaskFailed"]
    assert [f["error"] for f in failures] == [
        "Sqs.RequestThrottledException",  # as on AWS (LocalStack: SQS.X); retried, then passed
        "Lambda.TooManyRequestsException",  # caught
    ], failures
    assert "Status Code: 429" in failures[1]["cause"]
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"])["error"]["Error"] == "Lambda.TooManyRequestsException"


def test_a_delay_fault_slows_the_call(endpoint, inject, name):
    sqs = no_retries("sqs", endpoint)
    inject(
        {"service": "sqs", "operation": "ListQueues", "target": name, "kind": "delay", "seconds": 2}
    )
    started = time.monotonic()
    sqs.list_queues(QueueNamePrefix=name)
    assert time.monotonic() - started >= 2


def test_the_optimized_dynamodb_integration_names_errors_as_on_aws(aws, endpoint, inject, name):
    """DynamoDB.<Java exception class>: a 5xx is DynamoDB.InternalServerErrorException (LocalStack
    said DynamoDB.InternalServerError), throttling DynamoDB.ThrottlingException."""
    sfn, ddb = aws("stepfunctions"), aws("dynamodb")
    ddb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    caller = "role/fault-harness-sfn"
    inject(
        {
            "service": "dynamodb",
            "operation": "GetItem",
            "principal": caller,
            "error": "InternalServerError",
            "times": 1,
        }
    )
    inject(
        {
            "service": "dynamodb",
            "operation": "GetItem",
            "principal": caller,
            "error": "ThrottlingException",
            "times": 1,
        }
    )
    read = {
        "Type": "Task",
        "Resource": "arn:aws:states:::dynamodb:getItem",
        "Parameters": {"TableName": name, "Key": {"k": {"S": "x"}}},
        "Retry": [
            {
                "ErrorEquals": [
                    "DynamoDB.InternalServerErrorException",
                    "DynamoDB.ThrottlingException",
                ],
                "IntervalSeconds": 1,
                "MaxAttempts": 2,
            }
        ],
        "End": True,
    }
    try:
        done, events = _execute(sfn, name, {"StartAt": "Read", "States": {"Read": read}})
    finally:
        ddb.delete_table(TableName=name)
    failures = [e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"]
    assert failures == ["DynamoDB.InternalServerErrorException", "DynamoDB.ThrottlingException"]
    assert done["status"] == "SUCCEEDED"
