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


# The phases of the states these tests name, as the module's definition tags them (its Comments).
PHASES = {
    "RouteCommand": "OPENING",
    "ClaimEpisode": "OPENING",
    "DisableMapping": "OPENING",
    "SaveSettings": "OPENING",
    "WaitBeforeProbe": "OPEN",
    "AfterProbe": "OPEN",
    "CountFailedProbe": "OPEN",
    "Probe": "HALF-OPEN",
    "HalfOpenWindow": "HALF-OPEN",
    "RejitterWindow": "REJITTER",
    "CloseCircuit": "CLOSED",
    "WatchAfterClose": "CLOSED",
    "NotifyClosed": "CLOSED",
    "Ended": "shared",
    "NotifyOpened": "shared",
    "NotifyGaveUp": "shared",
    "CheckControl": "shared",
    "ControlBeforeProbe": "shared",
}


def definition(phases: dict[str, str] | None = None) -> str:
    """An ASL document whose states' Comments tag their phase, as the module renders it."""
    states = {
        name: {"Type": "Pass", "Comment": f"[{phase}] a state", "End": True}
        for name, phase in (PHASES if phases is None else phases).items()
    }
    return json.dumps({"StartAt": next(iter(states)), "States": states})


def descriptor(
    *,
    state_machine_arn: str,
    mapping_uuid: str,
    queue_url: str,
    alarm: str,
    control: str,
    settings: str,
    **extra: Any,
) -> dict[str, Any]:
    """A circuit's descriptor, as the module publishes it (version 1)."""
    return {
        "schema": "sqs-circuit-breaker/descriptor",
        "version": 1,
        "circuit": NAME,
        "stateMachineArn": state_machine_arn,
        "mappingUuid": mapping_uuid,
        "queueUrl": queue_url,
        "queueArn": "arn:aws:sqs:eu-west-1:123456789012:orders",
        "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:orders",
        "alarmName": alarm,
        "controlParameter": control,
        "settingsParameter": settings,
        "leaseTable": f"{NAME}-cb-lease",
        "rejitterMappingUuid": extra.get("rejitter_uuid"),
        "topicArn": extra.get("topic_arn"),
        "cleanupStateMachineArn": None,
        **extra.get("override", {}),
    }


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
