"""An operator command's claim (hold, close: the ClaimEpisode task with `$.command`).

It writes the control marker (the mode, who asked and why, when, which execution; a timed hold's
end), then takes the lease whatever holds it: every running execution is superseded and ends at
its next control check. It records the lease it replaced (`$.previousLease`: the open's read
says which state the command takes the circuit from). A hold keeps the lease (phase held), a
close's phase is `command`.

The close a timed hold starts at its end (`$.ifHeldBy`, the hold's execution) closes only while
that hold still owns the circuit: it takes the lease from the hold alone (one conditional write,
so a command given meanwhile is never overridden), then writes the marker. When a later command
owns the circuit, it changes nothing: the claim's outcome is `superseded`.

The SSM records are written here too (`put_record`): the control marker, and the settings record
the open writes before it disables a running mapping, which a hold, a force close or the next
episode reads back (`record_settings`, `read_saved`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from common.aws import AWS_ERRORS, error_code, error_message, error_record
from common.log import get_logger
from lease import Lease
from loop import CheckError, LoopStateError

log = get_logger("sqs-circuit-breaker.probe")

# A command's marker mode and lease phase.
COMMANDS = {"hold": ("hold", "held"), "close": ("auto", "command")}


def control_record(state: Mapping[str, Any]) -> dict[str, Any]:
    """The control marker a command writes (sqs-circuit-breaker status shows it): its mode, the
    command, who asked and why, when the command started and which execution it is; a timed
    hold's end (`until`)."""
    command = state.get("command")
    if command not in COMMANDS:
        raise LoopStateError(f"$.command must be hold or close, got {command!r}")
    started = state.get("started")
    if not isinstance(started, Mapping):
        raise LoopStateError("$.started is missing from the state machine's state")
    record = {
        "mode": COMMANDS[command][0],
        "command": command,
        "reason": state.get("reason"),
        "requestedBy": state.get("requestedBy"),
        "at": started.get("at"),
        "execution": started.get("execution"),
    }
    if command == "hold" and "holdUntil" in state:
        record["until"] = state["holdUntil"]
    return record


class ClaimError(RuntimeError):
    """A command that cannot be recorded, whatever the retries: not a CheckError (which the task
    retries as a read), so only the task's last-resort retries run before ClaimFailed."""


def put_record(ssm: Any, name: str, record: Mapping[str, Any]) -> None:
    """Write a record (compact JSON) to an SSM String parameter: the control marker, the settings
    recorded at the open."""
    ssm.put_parameter(
        Name=name,
        Value=json.dumps(record, separators=(",", ":")),
        Type="String",
        Overwrite=True,
    )


def write_control(ssm: Any, name: str, record: Mapping[str, Any]) -> None:
    try:
        put_record(ssm, name, record)
    except AWS_ERRORS as exc:
        if error_code(exc) in ("ValidationException", "ParameterPatternMismatchException"):
            # the marker does not fit (a raw StartExecution with a long reason)
            raise ClaimError(f"the control marker was refused: {error_message(exc)}") from exc
        raise CheckError(f"PutParameter {name} failed: {error_message(exc)}") from exc


def command_claim(
    state: Mapping[str, Any],
    *,
    table: str,
    circuit: str,
    control_parameter: str,
    dynamodb: Any,
    ssm: Any,
    now: str,
) -> tuple[dict[str, Any] | None, str]:
    """A command's claim: the control marker, then the lease. The lease it replaced (the state's
    `$.previousLease`; None: a timed hold's close found the circuit another command's, and
    changed nothing) and the marker's mode."""
    record = control_record(state)
    mode, phase = COMMANDS[record["command"]]
    lease = Lease(dynamodb, table, circuit, str(record["execution"]), now)
    held_by = if_held_by(state)
    if held_by is not None:
        previous = lease.take_for_command(phase, from_holder=held_by)
        if previous is not None:
            write_control(ssm, control_parameter, record)
        return previous, mode
    write_control(ssm, control_parameter, record)
    return lease.take_for_command(phase), mode


def if_held_by(state: Mapping[str, Any]) -> str | None:
    """The timed hold a close ends (`$.ifHeldBy`, its execution), if any."""
    if "ifHeldBy" not in state:
        return None
    held_by = state["ifHeldBy"]
    if state.get("command") != "close" or not isinstance(held_by, str) or not held_by:
        raise LoopStateError(f"$.ifHeldBy must name a hold's execution, for a close: {held_by!r}")
    return held_by


def parse_saved(value: str) -> Mapping[str, Any]:
    saved = json.loads(value)
    if not isinstance(saved, Mapping):
        raise ValueError(f"the settings record is not an object: {value[:200]!r}")
    return saved


def read_saved(ssm: Any, name: str) -> tuple[Mapping[str, Any] | None, dict[str, str] | None]:
    """The settings recorded at the last open, or why they could not be read (the open goes on
    with the mapping's own settings, as with no record)."""
    try:
        return parse_saved(ssm.get_parameter(Name=name)["Parameter"]["Value"]), None
    except (*AWS_ERRORS, KeyError, TypeError, ValueError) as exc:
        log.warning("recorded settings unreadable: the mapping's own", error=error_message(exc))
        return None, error_record(exc)


def record_settings(ssm: Any, name: str, record: Mapping[str, Any]) -> dict[str, str] | None:
    """Record the settings remembered at the open (the SSM parameter `name`), so that a hold, a
    force close or the next episode can restore them even if this execution ends early. Best
    effort: the open goes on without the record, and this says why it is missing."""
    try:
        put_record(ssm, name, record)
    except AWS_ERRORS as exc:
        log.warning("settings not recorded: the open goes on", error=error_message(exc))
        return error_record(exc)
    return None
