"""Exit codes and the translation of AWS errors into clear messages."""

from __future__ import annotations

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
  2  usage error
  3  refused: the circuit is not in a state that allows the command
  4  no such circuit
  5  permission denied (the message names the IAM action)"""


class CliError(Exception):
    """An error with a message for people and an exit code for scripts."""

    def __init__(self, message: str, code: ExitCode = ExitCode.ERROR) -> None:
        super().__init__(message)
        self.code = code


DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})

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
}


def from_client_error(exc: ClientError) -> CliError:
    """A ClientError from any call, as a CliError with the right exit code."""
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
    if code == "StateMachineDoesNotExist":
        return CliError(f"no such circuit: {message}", ExitCode.NOT_FOUND)
    if code == "ExecutionAlreadyExists":
        return CliError(f"conflicting command: {message}", ExitCode.REFUSED)
    return CliError(f"AWS error in {operation}: {code}: {message}")
