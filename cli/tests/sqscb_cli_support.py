"""Test support: the fake state machine definition and a circuit's resources in moto."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

REGION = "eu-west-1"
ACCOUNT = "123456789012"
NAME = "orders"
AUTO = {
    "mode": "auto",
    "command": None,
    "reason": "created",
    "requestedBy": "terraform",
    "at": "1970-01-01T00:00:00Z",
    "execution": None,
}


def definition(
    *, mapping_uuid: str, queue_url: str, alarm: str, control: str, settings: str, **extra: Any
) -> str:
    """An ASL document with the states (and parameters) the tool reads, as the module renders."""

    def task(parameters: dict[str, Any]) -> dict[str, Any]:
        return {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:x:y",
            "Parameters": parameters,
            "End": True,
        }

    states = {
        "GetMappingSettings": task({"Uuid": mapping_uuid}),
        "GetQueueAttributes": task(
            {"QueueUrl": queue_url, "AttributeNames": ["VisibilityTimeout"]}
        ),
        "RearmAlarm": task({"AlarmName": alarm, "StateValue": "OK"}),
        "ReadControl": task({"Name": control}),
        "SaveSettings": task({"Name": settings, "Value.$": "$.original"}),
        "NotifyOpened": {"Type": "Pass", "End": True},
    }
    if extra.get("rejitter_uuid"):
        states["EnableRejitter"] = task({"Uuid": extra["rejitter_uuid"], "Enabled": True})
    if extra.get("topic_arn"):
        states["NotifyOpened"] = task({"TopicArn": extra["topic_arn"], "Message": "x"})
    return json.dumps({"StartAt": "GetMappingSettings", "States": states})


@dataclass
class Env:
    sfn: Any
    ssm: Any
    lambda_: Any
    sqs: Any
    cloudwatch: Any
    state_machine_arn: str
    mapping_uuid: str
    queue_url: str
    alarm: str
    control: str
    settings: str

    def set_control(self, **fields: Any) -> None:
        value = {**AUTO, **fields}
        self.ssm.put_parameter(
            Name=self.control, Value=json.dumps(value), Type="String", Overwrite=True
        )

    def set_mapping(self, enabled: bool) -> None:
        self.lambda_.update_event_source_mapping(UUID=self.mapping_uuid, Enabled=enabled)

    def running(self, prefix: str = "") -> list[dict[str, Any]]:
        executions = self.sfn.list_executions(
            stateMachineArn=self.state_machine_arn, statusFilter="RUNNING"
        )["executions"]
        return [e for e in executions if e["name"].startswith(prefix)]
