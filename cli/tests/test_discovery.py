from __future__ import annotations

import json

import pytest
from sqscb_cli_support import ACCOUNT, NAME, REGION, Env, definition

from sqs_circuit_breaker.aws import Aws, find_circuit
from sqs_circuit_breaker.discovery import circuit_from_definition, circuit_name, state_machine_arn
from sqs_circuit_breaker.errors import CliError, ExitCode

ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{NAME}-circuit-breaker"
FIELDS = {
    "mapping_uuid": "uuid-1",
    "queue_url": "https://sqs.eu-west-1.amazonaws.com/1/orders",
    "alarm": "orders-cb-error-rate",
    "control": "/c",
    "settings": "/s",
}


def test_name_gives_the_modules_state_machine_arn() -> None:
    assert state_machine_arn(NAME, "aws", REGION, ACCOUNT) == ARN
    assert state_machine_arn(ARN, "aws-cn", "x", "y") == ARN
    assert circuit_name(ARN) == NAME


def test_resources_are_read_from_the_definition() -> None:
    circuit = circuit_from_definition(ARN, definition(**FIELDS))
    assert circuit.name == NAME
    assert (circuit.mapping_uuid, circuit.alarm_name) == ("uuid-1", "orders-cb-error-rate")
    assert (circuit.control_parameter, circuit.settings_parameter) == ("/c", "/s")
    assert circuit.queue_name == "orders"
    assert circuit.rejitter_mapping_uuid is None
    assert circuit.topic_arn is None


def test_optional_rejitter_and_topic_are_read_when_present() -> None:
    text = definition(**FIELDS, rejitter_uuid="uuid-r", topic_arn="arn:aws:sns:eu-west-1:1:t")
    circuit = circuit_from_definition(ARN, text)
    assert (circuit.rejitter_mapping_uuid, circuit.topic_arn) == (
        "uuid-r",
        "arn:aws:sns:eu-west-1:1:t",
    )


def test_control_parameter_is_found_in_the_control_check_states() -> None:
    document = json.loads(definition(**FIELDS))
    del document["States"]["ReadControl"]
    document["States"]["ReadControlAtStart"] = {"Type": "Task", "Parameters": {"Name": "/c2"}}
    assert circuit_from_definition(ARN, json.dumps(document)).control_parameter == "/c2"


def test_definition_without_a_state_is_an_unsupported_version() -> None:
    document = json.loads(definition(**FIELDS))
    del document["States"]["ReadControl"]
    with pytest.raises(CliError, match="not a circuit breaker of a supported version") as raised:
        circuit_from_definition(ARN, json.dumps(document))
    assert raised.value.code == ExitCode.NOT_FOUND


def test_find_circuit_by_name_and_by_arn(env: Env) -> None:
    aws = Aws.create()
    by_name = find_circuit(aws, NAME)
    assert by_name.state_machine_arn == env.state_machine_arn
    assert by_name.mapping_uuid == env.mapping_uuid
    assert find_circuit(aws, env.state_machine_arn) == by_name


def test_unknown_circuit_is_not_found(env: Env) -> None:
    with pytest.raises(CliError, match="no such circuit: payments") as raised:
        find_circuit(Aws.create(), "payments")
    assert raised.value.code == ExitCode.NOT_FOUND
