"""Finding a circuit: its published descriptor (resources) and its definition's catalogue (phases).

The module publishes one descriptor per circuit, an SSM parameter
`/sqs-circuit-breaker/<name>/descriptor` holding {schema, version, circuit, stateMachineArn, ...}.
It is the contract between the module and this tool: resource names are never read out of the
states' Parameters, so the state machine can change without breaking the tool. A descriptor of a
higher version than this tool reads is refused with a message that says to upgrade the tool.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import __version__
from .errors import CliError, ExitCode

STATE_MACHINE_SUFFIX = "-circuit-breaker"
PARAMETER_PATH = "/sqs-circuit-breaker"
DESCRIPTOR_SCHEMA = "sqs-circuit-breaker/descriptor"
# The descriptor versions this tool reads. A field added keeps the version; a field removed or
# changed in meaning raises it.
DESCRIPTOR_VERSION = 1
_REQUIRED = (
    "stateMachineArn",
    "mappingUuid",
    "queueUrl",
    "queueArn",
    "alarmName",
    "controlParameter",
    "settingsParameter",
)


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
    queue_arn: str = ""
    # The catalogue of the circuit's states (state -> phase), read from its definition.
    phases: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def queue_name(self) -> str:
        return self.queue_url.rstrip("/").rsplit("/", 1)[-1]


def state_machine_arn(name_or_arn: str, partition: str, region: str, account: str) -> str:
    """The state machine ARN of a circuit given by name (the module's naming) or by ARN."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    name = f"{name_or_arn}{STATE_MACHINE_SUFFIX}"
    return f"arn:{partition}:states:{region}:{account}:stateMachine:{name}"


def circuit_name(name_or_arn: str) -> str:
    """The circuit's name: given, or the state machine's name without the module's suffix."""
    if not name_or_arn.startswith("arn:"):
        return name_or_arn
    machine = name_or_arn.rsplit(":", 1)[-1]
    if not machine.endswith(STATE_MACHINE_SUFFIX):
        raise CliError(
            f"{name_or_arn} is not the state machine of a circuit (its name does not end in"
            f" {STATE_MACHINE_SUFFIX}): pass the circuit's name",
            ExitCode.NOT_FOUND,
        )
    return machine.removesuffix(STATE_MACHINE_SUFFIX)


def descriptor_parameter(name: str) -> str:
    """The SSM parameter that publishes a circuit's descriptor."""
    return f"{PARAMETER_PATH}/{name}/descriptor"


def _optional(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def circuit_from_descriptor(name: str, text: str) -> Circuit:
    """The circuit's resources from its descriptor (the parameter's JSON value)."""
    parameter = descriptor_parameter(name)
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise CliError(f"descriptor {parameter} is not JSON: {text[:200]!r}") from exc
    if not isinstance(document, dict) or document.get("schema") != DESCRIPTOR_SCHEMA:
        raise CliError(
            f"parameter {parameter} is not a circuit descriptor (no schema {DESCRIPTOR_SCHEMA})"
        )
    version = document.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CliError(f"descriptor {parameter} has no valid version: {version!r}")
    if version > DESCRIPTOR_VERSION:
        raise CliError(
            f"circuit {name} was created by a newer module: its descriptor has version {version},"
            f" and sqs-circuit-breaker {__version__} reads version {DESCRIPTOR_VERSION}. Upgrade"
            " this tool (pip install --upgrade sqs-circuit-breaker, or from the module's release"
            " that created the circuit: cli/)",
            ExitCode.USAGE,
        )
    missing = [key for key in _REQUIRED if not _optional(document.get(key))]
    if missing:
        raise CliError(f"descriptor {parameter} lacks {', '.join(missing)}")
    return Circuit(
        name=name,
        state_machine_arn=document["stateMachineArn"],
        mapping_uuid=document["mappingUuid"],
        queue_url=document["queueUrl"],
        alarm_name=document["alarmName"],
        control_parameter=document["controlParameter"],
        settings_parameter=document["settingsParameter"],
        rejitter_mapping_uuid=_optional(document.get("rejitterMappingUuid")),
        topic_arn=_optional(document.get("topicArn")),
        queue_arn=document["queueArn"],
    )
