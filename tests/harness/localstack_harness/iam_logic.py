"""Pure logic behind the IAM enforcement hook (iam.py): which IAM action and which resource ARN a
request is authorised as, and the condition keys the service sends with it.

The names follow the Service Authorization Reference (the IAM action of an API operation, its
resource types and their ARN formats). Most operations are authorised as the action of the same
name; the exceptions are listed in ACTION_ALIASES, from the services' documentation (for example
"Amazon SQS batch actions": a batch is authorised as the single-message action). An operation that
an enforced principal calls and that this table cannot place is refused (strict): the table must
grow with the module, never guess.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

# LocalStack's service names -> IAM service prefixes.
SERVICE_PREFIXES = {
    "stepfunctions": "states",
    "monitoring": "cloudwatch",
    "events": "events",
}

# Operations authorised under another action's name.
ACTION_ALIASES: dict[tuple[str, str], str] = {
    ("sqs", "SendMessageBatch"): "sqs:SendMessage",
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
    ("lambda", "Invoke"): "lambda:InvokeFunction",
    ("lambda", "InvokeAsync"): "lambda:InvokeFunction",
    ("lambda", "InvokeWithResponseStream"): "lambda:InvokeFunction",
    ("lambda", "GetFunctionConfiguration"): "lambda:GetFunctionConfiguration",
}

# Operations whose IAM action has no resource type: authorised on "*".
WILDCARD_ONLY = frozenset(
    {
        "cloudwatch:PutMetricData",
        "cloudwatch:GetMetricData",
        "cloudwatch:GetMetricStatistics",
        "cloudwatch:ListMetrics",
        "events:TestEventPattern",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
        "states:ListStateMachines",
        "lambda:ListFunctions",
        "lambda:ListEventSourceMappings",
        "sqs:ListQueues",
        "sns:ListTopics",
        "ssm:DescribeParameters",
        "cloudwatch:DescribeAlarmsForMetric",
    }
)


# Operations that need no permission ("No permissions are required to perform this operation":
# GetCallerIdentity, even under an explicit Deny).
UNAUTHORIZED_OPERATIONS = frozenset({"sts:GetCallerIdentity"})


class UnmappedOperation(ValueError):
    """The harness does not know how AWS authorises this operation."""


@dataclass(frozen=True)
class Authorization:
    """One IAM check of a request: an action on a resource, with the request's condition keys."""

    action: str
    resource: str
    context: dict[str, str] = field(default_factory=dict)


def iam_action(service: str, operation: str) -> str:
    prefix = SERVICE_PREFIXES.get(service, service)
    return ACTION_ALIASES.get((prefix, operation), f"{prefix}:{operation}")


def queue_arn(queue_url: str, partition: str = "aws") -> str:
    """arn:aws:sqs:<region>:<account>:<name> of a queue URL (any of SQS's URL styles, and
    LocalStack's)."""
    parsed = urlparse(queue_url)
    parts = [p for p in parsed.path.split("/") if p]
    if len(parts) < 2:
        raise UnmappedOperation(f"not a queue URL: {queue_url!r}")
    account, name = parts[-2], parts[-1]
    host = parsed.hostname or ""
    region = "us-east-1"
    labels = host.split(".")
    if labels[0] == "sqs" and len(labels) > 2:
        region = labels[1]  # sqs.<region>.amazonaws.com / sqs.<region>.localhost.localstack.cloud
    elif len(labels) > 1 and labels[1] == "queue":
        region = labels[0]  # <region>.queue.amazonaws.com
    return f"arn:{partition}:sqs:{region}:{account}:{name}"


def function_arn(name: str, qualifier: str | None, region: str, account: str) -> str:
    """The function ARN Lambda authorises an Invoke on: a name, partial ARN or ARN, with the
    qualifier when one is given (in the name or as Qualifier)."""
    if name.startswith("arn:"):
        parts = name.split(":")
        base = ":".join(parts[:7])
        qual = parts[7] if len(parts) > 7 else qualifier
    elif ":" in name:
        parts = name.split(":")
        if len(parts) >= 3 and parts[1] == "function":  # 123456789012:function:name[:qual]
            account = parts[0]
            base = f"arn:aws:lambda:{region}:{account}:function:{parts[2]}"
            qual = parts[3] if len(parts) > 3 else qualifier
        else:  # name:qualifier
            base = f"arn:aws:lambda:{region}:{account}:function:{parts[0]}"
            qual = parts[1]
    else:
        base = f"arn:aws:lambda:{region}:{account}:function:{name}"
        qual = qualifier
    return f"{base}:{qual}" if qual else base


def parameter_arn(name: str, region: str, account: str) -> str:
    if name.startswith("arn:"):
        return name
    return f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"


# Dead-letter queue redrive: the operations name the source queue (the dead-letter queue) by ARN,
# or (CancelMessageMoveTask) in the task handle, a base64 JSON document with its sourceArn.
MOVE_TASK_OPERATIONS = ("StartMessageMoveTask", "ListMessageMoveTasks", "CancelMessageMoveTask")
# SQS moves the messages with the caller's permissions (SQS developer guide, "Configuring queue
# permissions for dead-letter queue redrive"): it receives, deletes and reads the source queue and
# sends to the destination, so StartMessageMoveTask is authorised for each of these too.
MOVE_TASK_SOURCE_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")


def move_task_source(handle: Any) -> str:
    """The source queue ARN a message move task handle names."""
    try:
        document = json.loads(base64.b64decode(str(handle), validate=True))
        source = document["sourceArn"]
    except (ValueError, TypeError, KeyError) as exc:
        raise UnmappedOperation(f"not a message move task handle: {handle!r:.100}") from exc
    if not isinstance(source, str) or not source.startswith("arn:"):
        raise UnmappedOperation(f"not a message move task handle: {handle!r:.100}")
    return source


def move_task_authorizations(action: str, operation: str, r: dict[str, Any]) -> list[Authorization]:
    if operation == "CancelMessageMoveTask":
        return [Authorization(action, move_task_source(r.get("TaskHandle")))]
    source = r.get("SourceArn")
    if not isinstance(source, str) or not source:
        raise UnmappedOperation(f"{action}: no SourceArn (request {r!r:.200})")
    checks = [Authorization(action, source)]
    if operation == "StartMessageMoveTask":
        checks += [Authorization(a, source) for a in MOVE_TASK_SOURCE_ACTIONS]
        if r.get("DestinationArn"):
            checks.append(Authorization("sqs:SendMessage", str(r["DestinationArn"])))
    return checks


def authorizations(
    service: str, operation: str, request: dict[str, Any], region: str, account: str
) -> list[Authorization]:
    """The IAM checks of one request (several for a call that names several resources)."""
    action = iam_action(service, operation)
    prefix = action.split(":", 1)[0]
    r = request or {}
    if action in UNAUTHORIZED_OPERATIONS:
        return []

    def one(resource: str, **context: str) -> list[Authorization]:
        return [Authorization(action, resource, dict(context))]

    if action in WILDCARD_ONLY:
        if action == "cloudwatch:PutMetricData":
            return one("*", **{"cloudwatch:namespace": str(r.get("Namespace", ""))})
        return one("*")
    if prefix == "sqs" and r.get("QueueUrl"):
        return one(queue_arn(r["QueueUrl"]))
    if prefix == "sqs" and operation in MOVE_TASK_OPERATIONS:
        return move_task_authorizations(action, operation, r)
    if prefix == "sqs" and operation == "GetQueueUrl":
        owner = r.get("QueueOwnerAWSAccountId") or account
        return one(f"arn:aws:sqs:{region}:{owner}:{r.get('QueueName', '')}")
    if prefix == "lambda" and operation in ("GetEventSourceMapping", "UpdateEventSourceMapping"):
        return one(f"arn:aws:lambda:{region}:{account}:event-source-mapping:{r.get('UUID', '')}")
    if prefix == "lambda" and r.get("FunctionName"):
        return one(function_arn(str(r["FunctionName"]), r.get("Qualifier"), region, account))
    if prefix == "states":
        if r.get("executionArn"):
            return one(r["executionArn"])
        if r.get("stateMachineArn"):
            return one(r["stateMachineArn"])
    if prefix == "dynamodb" and r.get("TableName"):
        return one(f"arn:aws:dynamodb:{region}:{account}:table/{r['TableName']}")
    if prefix == "cloudwatch":
        names = r.get("AlarmNames") or ([r["AlarmName"]] if r.get("AlarmName") else [])
        if names:
            return [
                Authorization(action, f"arn:aws:cloudwatch:{region}:{account}:alarm:{n}")
                for n in names
            ]
        if operation in ("DescribeAlarms", "DescribeAlarmHistory"):
            return one(f"arn:aws:cloudwatch:{region}:{account}:alarm:*")
    if prefix == "sns" and (r.get("TopicArn") or r.get("TargetArn")):
        return one(r.get("TopicArn") or r.get("TargetArn"))
    if prefix == "ssm":
        names = r.get("Names") or ([r["Name"]] if r.get("Name") else [])
        if names:
            context = {}
            if operation == "PutParameter":
                context["ssm:Overwrite"] = "true" if r.get("Overwrite") else "false"
            return [
                Authorization(action, parameter_arn(n, region, account), context) for n in names
            ]
    if prefix == "logs" and r.get("logGroupName"):
        # A call on a stream (CreateLogStream, PutLogEvents) is authorised on the stream's ARN:
        # the "log-group:<name>:*" grants AWS's own policies use match it, the group's ARN not.
        group = f"arn:aws:logs:{region}:{account}:log-group:{r['logGroupName']}"
        if r.get("logStreamName"):
            return one(f"{group}:log-stream:{r['logStreamName']}")
        return one(group)
    if prefix == "kms" and r.get("KeyId"):
        key = str(r["KeyId"])
        if not key.startswith("arn:"):
            key = f"arn:aws:kms:{region}:{account}:key/{key}"
        return one(key)
    if prefix == "events" and operation == "PutEvents":
        buses = {e.get("EventBusName") or "default" for e in r.get("Entries") or []} or {"default"}
        return [
            Authorization(
                action,
                b if b.startswith("arn:") else f"arn:aws:events:{region}:{account}:event-bus/{b}",
            )
            for b in sorted(buses)
        ]
    if prefix == "sts" and operation == "AssumeRole":
        return one(r.get("RoleArn", ""))
    raise UnmappedOperation(
        f"{action}: the harness does not know its resource (request {r!r:.200})"
    )


def policy_document(text: str | dict | None) -> dict | None:
    """A policy document as IAM stores return it: a dict, JSON, or URL-encoded JSON."""
    if text is None or text == "":
        return None
    if isinstance(text, dict):
        return text
    raw = text if text.lstrip().startswith("{") else unquote(text)
    return json.loads(raw)


def role_name_of(arn: str) -> str | None:
    """The role name of a role ARN (path included or not) or an assumed-role ARN."""
    if ":assumed-role/" in arn:
        return arn.split(":assumed-role/", 1)[1].split("/", 1)[0]
    if ":role/" in arn:
        return arn.rsplit("/", 1)[-1]
    return None


def denial_message(principal: str, action: str, resource: str, why: str) -> str:
    """AWS's AccessDenied wording, with the evaluator's reason."""
    return (
        f"User: {principal} is not authorized to perform: {action} on resource: {resource}"
        f" because {why}"
    )
