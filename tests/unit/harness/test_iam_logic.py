"""The IAM action and resource ARN the harness authorises each request as (iam_logic.py)."""

from __future__ import annotations

import base64
import json

import pytest
from localstack_harness.iam_logic import (
    Authorization,
    UnmappedOperation,
    authorizations,
    function_arn,
    iam_action,
    policy_document,
    queue_arn,
    role_name_of,
)

R, A = "eu-west-1", "123456789012"


def auth(service: str, operation: str, request: dict) -> list[Authorization]:
    return authorizations(service, operation, request, R, A)


@pytest.mark.parametrize(
    ("service", "operation", "action"),
    [
        ("sqs", "SendMessageBatch", "sqs:SendMessage"),  # "Amazon SQS batch actions"
        ("sqs", "ChangeMessageVisibilityBatch", "sqs:ChangeMessageVisibility"),
        ("sqs", "DeleteMessageBatch", "sqs:DeleteMessage"),
        ("lambda", "Invoke", "lambda:InvokeFunction"),
        ("stepfunctions", "StartExecution", "states:StartExecution"),
        ("dynamodb", "UpdateItem", "dynamodb:UpdateItem"),
    ],
)
def test_operations_are_authorised_as_their_iam_action(service, operation, action):
    assert iam_action(service, operation) == action


@pytest.mark.parametrize(
    "url",
    [
        "https://sqs.eu-west-1.amazonaws.com/123456789012/orders",
        "http://sqs.eu-west-1.localhost.localstack.cloud:4566/123456789012/orders",
        "https://eu-west-1.queue.amazonaws.com/123456789012/orders",
    ],
)
def test_a_queue_url_is_its_arn(url):
    assert queue_arn(url) == "arn:aws:sqs:eu-west-1:123456789012:orders"


def test_a_function_is_authorised_with_its_qualifier():
    base = "arn:aws:lambda:eu-west-1:123456789012:function:orders"
    assert function_arn("orders", None, R, A) == base
    assert function_arn("orders:live", None, R, A) == f"{base}:live"
    assert function_arn("orders", "3", R, A) == f"{base}:3"
    assert function_arn(f"{base}:live", None, R, A) == f"{base}:live"
    assert function_arn("123456789012:function:orders", None, R, A) == base


def test_the_resources_of_the_breakers_calls():
    mapping = "arn:aws:lambda:eu-west-1:123456789012:event-source-mapping:u-1"
    assert auth("lambda", "UpdateEventSourceMapping", {"UUID": "u-1"})[0].resource == mapping
    execution = "arn:aws:states:eu-west-1:123456789012:execution:m:e"
    assert (
        auth("stepfunctions", "GetExecutionHistory", {"executionArn": execution})[0].resource
        == execution
    )
    assert auth("dynamodb", "GetItem", {"TableName": "orders-cb-lease"})[0].resource == (
        "arn:aws:dynamodb:eu-west-1:123456789012:table/orders-cb-lease"
    )
    (put,) = auth(
        "ssm", "PutParameter", {"Name": "/sqs-circuit-breaker/o/control", "Overwrite": True}
    )
    assert (
        put.resource == "arn:aws:ssm:eu-west-1:123456789012:parameter/sqs-circuit-breaker/o/control"
    )
    assert put.context == {"ssm:Overwrite": "true"}


def test_put_metric_data_is_authorised_on_any_resource_with_its_namespace():
    (check,) = auth("cloudwatch", "PutMetricData", {"Namespace": "SqsCircuitBreaker"})
    assert (check.resource, check.context) == ("*", {"cloudwatch:namespace": "SqsCircuitBreaker"})


def test_describe_alarms_checks_each_named_alarm():
    checks = auth("cloudwatch", "DescribeAlarms", {"AlarmNames": ["a", "b"]})
    assert [c.resource for c in checks] == [
        "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:a",
        "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:b",
    ]


def test_log_events_are_authorised_on_their_stream():
    (check,) = auth(
        "logs", "PutLogEvents", {"logGroupName": "/aws/lambda/f", "logStreamName": "2026/s"}
    )
    assert check.resource == (
        "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/f:log-stream:2026/s"
    )


def test_an_operation_the_harness_cannot_place_is_refused():
    with pytest.raises(UnmappedOperation, match="sqs:PurgeQueue"):
        auth("sqs", "PurgeQueue", {})


def test_policy_documents_as_iam_stores_them():
    assert policy_document('{"Version": "2012-10-17"}') == {"Version": "2012-10-17"}
    assert policy_document("%7B%22Version%22%3A%20%222012-10-17%22%7D") == {"Version": "2012-10-17"}
    assert policy_document(None) is None


def test_role_names():
    assert role_name_of("arn:aws:sts::1:assumed-role/orders-cb-probe/orders-cb-probe") == (
        "orders-cb-probe"
    )
    assert role_name_of("arn:aws:iam::1:role/path/orders-cb-sfn") == "orders-cb-sfn"
    assert role_name_of("arn:aws:iam::1:user/u") is None


DLQ = f"arn:aws:sqs:{R}:{A}:orders-dlq"
QUEUE = f"arn:aws:sqs:{R}:{A}:orders"


def test_a_redrive_is_authorised_as_sqs_moves_the_messages():
    """StartMessageMoveTask: the move itself, then what SQS does with the caller's permissions:
    receive, delete and read the dead-letter queue, send to the destination."""
    checks = auth("sqs", "StartMessageMoveTask", {"SourceArn": DLQ, "DestinationArn": QUEUE})
    assert [(c.action, c.resource) for c in checks] == [
        ("sqs:StartMessageMoveTask", DLQ),
        ("sqs:ReceiveMessage", DLQ),
        ("sqs:DeleteMessage", DLQ),
        ("sqs:GetQueueAttributes", DLQ),
        ("sqs:SendMessage", QUEUE),
    ]
    # without a destination the messages go back to their sources: no send checked here
    assert len(auth("sqs", "StartMessageMoveTask", {"SourceArn": DLQ})) == 4


def test_listing_and_cancelling_moves_name_the_dead_letter_queue():
    (listed,) = auth("sqs", "ListMessageMoveTasks", {"SourceArn": DLQ, "MaxResults": 1})
    assert (listed.action, listed.resource) == ("sqs:ListMessageMoveTasks", DLQ)
    handle = base64.b64encode(json.dumps({"taskId": "t", "sourceArn": DLQ}).encode()).decode()
    (cancelled,) = auth("sqs", "CancelMessageMoveTask", {"TaskHandle": handle})
    assert (cancelled.action, cancelled.resource) == ("sqs:CancelMessageMoveTask", DLQ)


@pytest.mark.parametrize(
    ("operation", "request_"),
    [
        ("CancelMessageMoveTask", {"TaskHandle": "not base64 json"}),
        ("CancelMessageMoveTask", {"TaskHandle": base64.b64encode(b'{"taskId": "t"}').decode()}),
        ("ListMessageMoveTasks", {}),
    ],
)
def test_a_move_task_request_without_its_queue_is_unmapped(operation, request_):
    with pytest.raises(UnmappedOperation):
        auth("sqs", operation, request_)
