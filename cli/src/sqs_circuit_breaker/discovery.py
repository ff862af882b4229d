"""Finding a circuit: its state machine ARN from a name, its resources from the definition."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import CliError, ExitCode

STATE_MACHINE_SUFFIX = "-circuit-breaker"
# The states that name the control parameter, in order of preference.
CONTROL_STATES = ("ReadControl", "ReadControlAtStart", "CheckControl", "WriteControl")


@dataclass(frozen=True)
class Circuit:
    name: str
    state_machine_arn: str
    mapping_uuid: str
    queue_url: str
    alarm_name: str
    control_parameter: str
    settings_parameter: str
    rejitter_mapping_uuid: str | None = None
    topic_arn: str | None = None

    @property
    def queue_name(self) -> str:
        return self.queue_url.rstrip("/").rsplit("/", 1)[-1]


def state_machine_arn(name_or_arn: str, partition: str, region: str, account: str) -> str:
    """The state machine ARN of a circuit given by name (the module's naming) or by ARN."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    name = f"{name_or_arn}{STATE_MACHINE_SUFFIX}"
    return f"arn:{partition}:states:{region}:{account}:stateMachine:{name}"


def circuit_name(arn: str) -> str:
    """The circuit's name: the state machine's name without the module's suffix."""
    return arn.rsplit(":", 1)[-1].removesuffix(STATE_MACHINE_SUFFIX)


def _parameter(states: dict[str, Any], state: str | tuple[str, ...], field: str, arn: str) -> str:
    """A state's parameter; with several states, the first that has it."""
    candidates = (state,) if isinstance(state, str) else state
    for name in candidates:
        value = states.get(name, {}).get("Parameters", {}).get(field)
        if isinstance(value, str) and value:
            return value
    raise CliError(
        f"state machine {arn} is not a circuit breaker of a supported version: its definition"
        f" has no {candidates[0]}.Parameters.{field} (upgrade the module, or this tool)",
        ExitCode.NOT_FOUND,
    )


def circuit_from_definition(arn: str, definition: str) -> Circuit:
    """The circuit's resources, read from the state machine's definition (ASL JSON)."""
    try:
        states = json.loads(definition)["States"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CliError(
            f"state machine {arn} is not a circuit breaker: its definition has no States",
            ExitCode.NOT_FOUND,
        ) from exc
    rejitter = None
    if "EnableRejitter" in states:
        rejitter = _parameter(states, "EnableRejitter", "Uuid", arn)
    notify = states.get("NotifyOpened", {})
    topic = notify.get("Parameters", {}).get("TopicArn") if notify.get("Type") == "Task" else None
    return Circuit(
        name=circuit_name(arn),
        state_machine_arn=arn,
        mapping_uuid=_parameter(states, "GetMappingSettings", "Uuid", arn),
        queue_url=_parameter(states, "GetQueueAttributes", "QueueUrl", arn),
        alarm_name=_parameter(states, ("RearmAlarm", "FailureResetAlarm"), "AlarmName", arn),
        control_parameter=_parameter(states, CONTROL_STATES, "Name", arn),
        settings_parameter=_parameter(states, "SaveSettings", "Name", arn),
        rejitter_mapping_uuid=rejitter,
        topic_arn=topic if isinstance(topic, str) else None,
    )
