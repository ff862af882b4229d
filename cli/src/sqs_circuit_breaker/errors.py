"""Exit codes and the translation of AWS errors into clear messages."""

from __future__ import annotations

import re
from enum import IntEnum

from botocore.exceptions import ClientError


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    REFUSED = 3
    NOT_FOUND = 4
    DENIED = 5


EXIT_CODES_HELP = """exit codes:
  0  ok
  1  error (unexpected, a command execution failed, or a timeout)
  2  usage error (also: a circuit created by a newer module; upgrade this tool)
  3  refused: the circuit is not in a state that allows the command
  4  no such circuit (no descriptor /sqs-circuit-breaker/NAME/descriptor)
  5  permission denied (the message names the IAM action)"""


class CliError(Exception):
    """An error with a message for people and an exit code for scripts."""

    def __init__(self, message: str, code: ExitCode = ExitCode.ERROR) -> None:
        super().__init__(message)
        self.code = code


DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
# Step Functions' errors for a state machine encrypted with a customer managed key that the caller
# may not use (KmsAccessDeniedException) or that is disabled or pending deletion
# (KmsInvalidStateException): every call that reads or writes the definition, the executions'
# input and output or their history needs kms:Decrypt (and StartExecution kms:GenerateDataKey).
KMS_DENIED_CODES = frozenset({"KmsAccessDeniedException", "KmsInvalidStateException"})
# The KMS actions behind each Step Functions operation on an encrypted state machine.
KMS_OPERATION_ACTIONS = {
    "DescribeStateMachine": "kms:Decrypt",
    "DescribeExecution": "kms:Decrypt",
    "GetExecutionHistory": "kms:Decrypt",
    "StartExecution": "kms:GenerateDataKey (and kms:Decrypt)",
}
_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(?:key|alias)/[A-Za-z0-9/_-]+")

# The IAM action behind each operation this tool calls (for "permission denied" messages).
OPERATION_ACTIONS = {
    "DescribeStateMachine": "states:DescribeStateMachine",
    "ListExecutions": "states:ListExecutions",
    "DescribeExecution": "states:DescribeExecution",
    "GetExecutionHistory": "states:GetExecutionHistory",
    "StartExecution": "states:StartExecution",
    "GetParameter": "ssm:GetParameter",
    "GetEventSourceMapping": "lambda:GetEventSourceMapping",
    "GetQueueAttributes": "sqs:GetQueueAttributes",
    "DescribeAlarms": "cloudwatch:DescribeAlarms",
    "GetMetricStatistics": "cloudwatch:GetMetricStatistics",
    "SetAlarmState": "cloudwatch:SetAlarmState",
    "GetCallerIdentity": "sts:GetCallerIdentity",
    "ListMessageMoveTasks": "sqs:ListMessageMoveTasks",
    "StartMessageMoveTask": "sqs:StartMessageMoveTask (and, on the dead-letter queue,"
    " sqs:ReceiveMessage, sqs:DeleteMessage, sqs:GetQueueAttributes; sqs:SendMessage on the queue)",
    "CancelMessageMoveTask": "sqs:CancelMessageMoveTask",
}


def from_client_error(exc: ClientError, kms_key: str | None = None) -> CliError:
    """A ClientError from any call, as a CliError with the right exit code.

    kms_key: the circuit's state machine key when it is known (DescribeStateMachine succeeded).
    """
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message", "")).strip()
    operation = exc.operation_name
    if code in DENIED_CODES:
        action = OPERATION_ACTIONS.get(operation, operation)
        return CliError(
            f"permission denied: {action} was refused ({code}: {message}). Ask for this IAM"
            " action on the circuit's resources (see the README's IAM permissions).",
            ExitCode.DENIED,
        )
    if code in KMS_DENIED_CODES:
        return kms_error(operation, code, message, kms_key)
    if code == "StateMachineDoesNotExist":
        return CliError(f"no such circuit: {message}", ExitCode.NOT_FOUND)
    if code == "ExecutionAlreadyExists":
        return CliError(f"conflicting command: {message}", ExitCode.REFUSED)
    return CliError(f"AWS error in {operation}: {code}: {message}")


def kms_error(operation: str, code: str, message: str, kms_key: str | None) -> CliError:
    """A KMS error of Step Functions: exit 5, naming the key and the KMS action to ask for."""
    named = _KEY_ARN.search(message)
    key = kms_key or (named.group(0) if named else None)
    where = (
        f"KMS key {key}"
        if key
        else "the state machine's customer managed KMS key (the module input"
        " state_machine_kms_key_arn)"
    )
    action = KMS_OPERATION_ACTIONS.get(operation, "kms:Decrypt")
    if code == "KmsInvalidStateException":
        advice = "The key is disabled or pending deletion: re-enable it (or cancel its deletion)."
    else:
        advice = (
            f"Ask for {action} on {key or 'that key'} (the key policy must allow it, or delegate"
            " to IAM; see the README's IAM permissions)."
        )
    return CliError(
        f"permission denied: {operation} needs {where}, which refused it ({code}: {message})."
        f" {advice}",
        ExitCode.DENIED,
    )
