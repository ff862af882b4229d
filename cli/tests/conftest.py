"""Fixtures: a circuit's AWS resources in moto."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from sqscb_cli_support import AUTO, NAME, REGION, Env, definition, descriptor


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
    return buffer.getvalue()


@pytest.fixture
def env() -> Iterator[Env]:
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        iam = session.client("iam")
        role = iam.create_role(
            RoleName="r",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        sqs = session.client("sqs")
        queue_url = sqs.create_queue(QueueName="orders")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        lambda_ = session.client("lambda")
        lambda_.create_function(
            FunctionName="orders",
            Runtime="python3.12",
            Role=role,
            Handler="handler.handler",
            Code={"ZipFile": _zip()},
        )
        mapping_uuid = lambda_.create_event_source_mapping(
            EventSourceArn=queue_arn, FunctionName="orders", BatchSize=10
        )["UUID"]
        cloudwatch = session.client("cloudwatch")
        alarm = f"{NAME}-cb-error-rate"
        cloudwatch.put_metric_alarm(
            AlarmName=alarm,
            Namespace="AWS/Lambda",
            MetricName="Errors",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
        ssm = session.client("ssm")
        control = f"/sqs-circuit-breaker/{NAME}/control"
        settings = f"/sqs-circuit-breaker/{NAME}/settings"
        ssm.put_parameter(Name=control, Value=json.dumps(AUTO), Type="String")
        ssm.put_parameter(Name=settings, Value="{}", Type="String")
        sfn = session.client("stepfunctions")
        arn = sfn.create_state_machine(
            name=f"{NAME}-circuit-breaker", definition=definition(), roleArn=role
        )["stateMachineArn"]
        published = descriptor(
            state_machine_arn=arn,
            mapping_uuid=mapping_uuid,
            queue_url=queue_url,
            alarm=alarm,
            control=control,
            settings=settings,
        )
        ssm.put_parameter(
            Name=f"/sqs-circuit-breaker/{NAME}/descriptor",
            Value=json.dumps(published),
            Type="String",
        )
        yield Env(
            sfn,
            ssm,
            lambda_,
            sqs,
            cloudwatch,
            arn,
            mapping_uuid,
            queue_url,
            alarm,
            control,
            settings,
        )
