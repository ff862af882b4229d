from __future__ import annotations

import json
from typing import Any

import pytest
from sqscb_cli_support import ACCOUNT, NAME, PHASES, REGION, Env, descriptor

from sqs_circuit_breaker.aws import Aws, find_circuit
from sqs_circuit_breaker.discovery import (
    DESCRIPTOR_VERSION,
    circuit_from_descriptor,
    circuit_name,
    descriptor_parameter,
    state_machine_arn,
)
from sqs_circuit_breaker.errors import CliError, ExitCode

ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{NAME}-circuit-breaker"
FIELDS = {
    "state_machine_arn": ARN,
    "mapping_uuid": "uuid-1",
    "queue_url": "https://sqs.eu-west-1.amazonaws.com/1/orders",
    "alarm": "orders-cb-error-rate",
    "control": "/c",
    "settings": "/s",
}


def text(**extra: Any) -> str:
    return json.dumps(descriptor(**FIELDS, **extra))


def test_name_gives_the_modules_state_machine_arn_and_descriptor() -> None:
    assert state_machine_arn(NAME, "aws", REGION, ACCOUNT) == ARN
    assert circuit_name(ARN) == NAME
    assert circuit_name(NAME) == NAME
    assert descriptor_parameter(NAME) == "/sqs-circuit-breaker/orders/descriptor"


def test_an_arn_of_another_state_machine_is_not_a_circuit() -> None:
    with pytest.raises(CliError, match="not the state machine of a circuit") as raised:
        circuit_name(f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:orders")
    assert raised.value.code == ExitCode.NOT_FOUND


def test_resources_are_read_from_the_descriptor() -> None:
    circuit = circuit_from_descriptor(NAME, text())
    assert (circuit.name, circuit.state_machine_arn) == (NAME, ARN)
    assert (circuit.mapping_uuid, circuit.alarm_name) == ("uuid-1", "orders-cb-error-rate")
    assert (circuit.control_parameter, circuit.settings_parameter) == ("/c", "/s")
    assert circuit.queue_name == "orders"
    assert (circuit.rejitter_mapping_uuid, circuit.topic_arn) == (None, None)


def test_optional_rejitter_and_topic_are_read_when_present() -> None:
    circuit = circuit_from_descriptor(
        NAME, text(rejitter_uuid="uuid-r", topic_arn="arn:aws:sns:eu-west-1:1:t")
    )
    assert (circuit.rejitter_mapping_uuid, circuit.topic_arn) == (
        "uuid-r",
        "arn:aws:sns:eu-west-1:1:t",
    )


def test_a_newer_descriptor_asks_for_a_newer_tool() -> None:
    newer = text(override={"version": DESCRIPTOR_VERSION + 1, "stateMachine": {"arn": ARN}})
    with pytest.raises(CliError, match=r"created by a newer module.*Upgrade this tool") as raised:
        circuit_from_descriptor(NAME, newer)
    assert raised.value.code == ExitCode.USAGE
    assert f"version {DESCRIPTOR_VERSION + 1}" in str(raised.value)


def test_a_version_1_descriptor_with_added_fields_is_read() -> None:
    assert (
        circuit_from_descriptor(NAME, text(override={"dlqArn": "arn:x"})).mapping_uuid == "uuid-1"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not json", "is not JSON"),
        ("[]", "not a circuit descriptor"),
        (json.dumps({"version": 1}), "not a circuit descriptor"),
        (text(override={"version": "1"}), "no valid version"),
        (text(override={"version": True}), "no valid version"),
        (text(override={"mappingUuid": ""}), "lacks mappingUuid"),
        (text(override={"alarmName": None, "queueUrl": 3}), "lacks queueUrl, alarmName"),
    ],
)
def test_a_malformed_descriptor_is_a_clear_error(value: str, message: str) -> None:
    with pytest.raises(CliError, match=message):
        circuit_from_descriptor(NAME, value)


def test_find_circuit_by_name_and_by_arn(env: Env) -> None:
    aws = Aws.create()
    by_name = find_circuit(aws, NAME)
    assert by_name.state_machine_arn == env.state_machine_arn
    assert by_name.mapping_uuid == env.mapping_uuid
    assert find_circuit(aws, env.state_machine_arn) == by_name


def test_find_circuit_reads_the_phases_from_the_definition(env: Env) -> None:
    assert find_circuit(Aws.create(), NAME).phases == PHASES


def test_unknown_circuit_is_not_found(env: Env) -> None:
    with pytest.raises(CliError, match="no such circuit: payments") as raised:
        find_circuit(Aws.create(), "payments")
    assert raised.value.code == ExitCode.NOT_FOUND
    assert "/sqs-circuit-breaker/payments/descriptor" in str(raised.value)


def test_a_descriptor_naming_a_missing_state_machine_is_not_found(env: Env) -> None:
    env.sfn.delete_state_machine(stateMachineArn=env.state_machine_arn)
    with pytest.raises(CliError, match="which does not exist") as raised:
        find_circuit(Aws.create(), NAME)
    assert raised.value.code == ExitCode.NOT_FOUND
