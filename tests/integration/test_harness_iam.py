"""IAM enforced as AWS enforces it (tests/harness iam.py): a call without a grant is refused with
the service's AccessDenied error and recorded with the principal, action, resource and reason; a
granted one passes. Denials here are provoked on purpose (the marker tells the suite's IAM check
that this test inspects them itself)."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError
from support import ACCOUNT, REGION, client, drain, iam_decisions, wait_until

pytestmark = pytest.mark.iam_denials_expected

TRUST_ACCOUNT = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def allow(*statements: tuple[str | list[str], str | list[str]]) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": action, "Resource": resource}
            for action, resource in statements
        ],
    }


def role(aws, name: str, cleanup, policy: dict, trust: dict = TRUST_ACCOUNT, **extra) -> str:
    iam = aws("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), **extra)[
        "Role"
    ]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    cleanup(lambda: iam.delete_role(RoleName=name))
    cleanup(lambda: iam.delete_role_policy(RoleName=name, PolicyName="p"))
    return arn


def as_role(aws, endpoint: str, role_arn: str, service: str):
    """A client of `service` signed with the role's temporary credentials."""
    sts = aws("sts")
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="harness-test")["Credentials"]
    return client(
        service,
        endpoint,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def denials_since(endpoint: str, seq: int) -> list[dict]:
    return iam_decisions(endpoint, after=seq).get("denials", [])


def queue(aws, name: str, cleanup, policy: dict | None = None) -> tuple[str, str]:
    sqs = aws("sqs")
    attributes = {"Policy": json.dumps(policy)} if policy else {}
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    cleanup(lambda: sqs.delete_queue(QueueUrl=url))
    return url, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def test_a_granted_call_passes_and_one_without_a_grant_is_denied_as_on_aws(
    aws, name, cleanup, endpoint
):
    url, arn = queue(aws, f"{name}-q", cleanup)
    sender = as_role(
        aws, endpoint, role(aws, name, cleanup, allow(("sqs:SendMessage", arn))), "sqs"
    )
    seq = iam_decisions(endpoint).get("seq", 0)

    sender.send_message(QueueUrl=url, MessageBody="granted")
    sender.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "batch"}])
    with pytest.raises(ClientError) as denied:
        sender.receive_message(QueueUrl=url)

    error = denied.value.response
    assert error["Error"]["Code"] == "AccessDenied"  # SQS's code, as botocore reads it on AWS
    assert error["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)
    assert (
        f"is not authorized to perform: sqs:ReceiveMessage on resource: {arn}"
        in (error["Error"]["Message"])
    )
    (recorded,) = denials_since(endpoint, seq)
    assert recorded["principal"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/")
    assert (recorded["action"], recorded["resource"]) == ("sqs:ReceiveMessage", arn)
    assert "no Allow in identity policies" in recorded["explanation"]


def test_a_grant_on_the_wrong_resource_format_is_denied(aws, name, cleanup, endpoint):
    """lambda:UpdateEventSourceMapping is authorised on the mapping's ARN
    (event-source-mapping:<uuid>), not on the function's."""
    lam = aws("lambda")
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    updater = as_role(
        aws,
        endpoint,
        role(aws, name, cleanup, allow(("lambda:UpdateEventSourceMapping", function))),
        "lambda",
    )
    seq = iam_decisions(endpoint).get("seq", 0)
    with pytest.raises(ClientError) as denied:
        updater.update_event_source_mapping(UUID="00000000-0000-4000-8000-000000000000")
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    (recorded,) = denials_since(endpoint, seq)
    assert recorded["resource"] == (
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:00000000-0000-4000-8000-000000000000"
    )
    assert "Resource does not match" in recorded["explanation"]
    del lam


def test_a_permissions_boundary_that_excludes_an_action_denies_it(aws, name, cleanup, endpoint):
    iam = aws("iam")
    url, arn = queue(aws, f"{name}-q", cleanup)
    boundary = iam.create_policy(
        PolicyName=f"{name}-boundary",
        PolicyDocument=json.dumps(allow(("sqs:SendMessage", "*"))),
    )["Policy"]["Arn"]
    cleanup(lambda: iam.delete_policy(PolicyArn=boundary))
    granted = allow((["sqs:SendMessage", "sqs:GetQueueAttributes"], arn))
    sqs = as_role(
        aws,
        endpoint,
        role(aws, name, cleanup, granted, PermissionsBoundary=boundary),
        "sqs",
    )
    seq = iam_decisions(endpoint).get("seq", 0)
    sqs.send_message(QueueUrl=url, MessageBody="within the boundary")
    with pytest.raises(ClientError):
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    (recorded,) = denials_since(endpoint, seq)
    assert recorded["action"] == "sqs:GetQueueAttributes"
    assert "permissions boundary" in recorded["explanation"]


def test_a_trust_condition_that_does_not_match_keeps_step_functions_out(
    aws, name, cleanup, endpoint
):
    """Step Functions assumes the state machine's role for a task (aws:SourceArn = the state
    machine): a trust policy that names another state machine refuses it, the task fails."""
    sfn = aws("stepfunctions")
    other = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}-other"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "states.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"ArnLike": {"aws:SourceArn": other}},
            }
        ],
    }
    role_arn = role(aws, name, cleanup, allow(("sqs:ListQueues", "*")), trust=trust)
    machine = sfn.create_state_machine(
        name=name,
        roleArn=role_arn,
        definition=json.dumps(
            {
                "StartAt": "List",
                "States": {
                    "List": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::aws-sdk:sqs:listQueues",
                        "End": True,
                    }
                },
            }
        ),
    )["stateMachineArn"]
    cleanup(lambda: sfn.delete_state_machine(stateMachineArn=machine))
    seq = iam_decisions(endpoint).get("seq", 0)
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    done = wait_until(
        lambda: (d := sfn.describe_execution(executionArn=execution))["status"] != "RUNNING" and d,
        timeout=60,
        what="the execution ended",
    )
    assert done["status"] == "FAILED"
    trust_denials = [d for d in denials_since(endpoint, seq) if d["kind"] == "trust"]
    assert trust_denials, "the role assumption was not refused"
    assert trust_denials[0]["principal"] == "states.amazonaws.com"
    assert trust_denials[0]["context"]["aws:SourceArn"] == machine
    assert "aws:SourceArn" in trust_denials[0]["explanation"]


def test_a_topic_policy_without_cloudwatch_drops_alarm_notifications(aws, name, cleanup, endpoint):
    """CloudWatch publishes an alarm action as cloudwatch.amazonaws.com (aws:SourceArn = the
    alarm): a topic policy that allows only the account refuses it; with a statement for the
    service principal, scoped to the alarm, the notification arrives."""
    sns, cw, sqs = aws("sns"), aws("cloudwatch"), aws("sqs")
    topic = sns.create_topic(Name=name)["TopicArn"]
    cleanup(lambda: sns.delete_topic(TopicArn=topic))
    owner_only = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountOwner",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sns:Publish",
                "Resource": topic,
            }
        ],
    }
    sns.set_topic_attributes(
        TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(owner_only)
    )
    sink_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}-sink",
                "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
            }
        ],
    }
    url, sink = queue(aws, f"{name}-sink", cleanup, sink_policy)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=sink)
    alarm = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace=f"t/{name}",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="ignore",
        AlarmActions=[topic],
    )
    cleanup(lambda: cw.delete_alarms(AlarmNames=[name]))
    seq = iam_decisions(endpoint).get("seq", 0)

    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="dropped")
    denial = wait_until(
        lambda: [d for d in denials_since(endpoint, seq) if d["action"] == "sns:Publish"],
        timeout=20,
        what="the alarm action refused",
    )[0]
    assert denial["principal"] == "cloudwatch.amazonaws.com"
    assert denial["context"]["aws:SourceArn"] == alarm
    time.sleep(2)
    assert drain(sqs, url, seconds=1) == []

    allowed = dict(owner_only)
    allowed["Statement"] = [
        *owner_only["Statement"],
        {
            "Sid": "BreakerAlarmsPublish",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": topic,
            "Condition": {
                "ArnEquals": {"aws:SourceArn": alarm},
                "StringEquals": {"aws:SourceAccount": ACCOUNT},
            },
        },
    ]
    sns.set_topic_attributes(
        TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(allowed)
    )
    cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="reset")
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="delivered")
    delivered = wait_until(lambda: drain(sqs, url, seconds=1), timeout=30, what="notification")
    assert any(name in m["Body"] for m in delivered)
