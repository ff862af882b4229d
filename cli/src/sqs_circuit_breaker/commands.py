"""The commands: status, history, open (hold), close, drill, redrive."""

from __future__ import annotations

import argparse
import json
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from .aws import Aws, find_circuit, read_json_parameter, read_mapping, read_status, recent_events
from .catalogue import CLOSED
from .derive import (
    DISABLED_STATES,
    ENDED_BADLY,
    HIDDEN_OUTCOMES,
    MOVE_TASK_ENDED,
    history_row,
    is_command,
    iso,
)
from .discovery import Circuit
from .errors import CliError, ExitCode
from .render import dash, history_table, status_view

POLL_SECONDS = 2.0


def sleep(seconds: float) -> None:  # replaced in tests
    time.sleep(seconds)


def now() -> datetime:
    return datetime.now(UTC)


def print_json(console: Console, document: Any) -> None:
    console.out(json.dumps(document, indent=2, default=str), highlight=False)


# ---- status -------------------------------------------------------------------------------------
def status(aws: Aws, args: argparse.Namespace, console: Console) -> int:
    circuit = find_circuit(aws, args.circuit)
    if not args.watch:
        document = read_status(aws, circuit, now())
        if args.json:
            print_json(console, document)
        else:
            console.print(status_view(document))
        return ExitCode.OK
    try:
        with Live(console=console, auto_refresh=False) as live:
            while True:
                live.update(status_view(read_status(aws, circuit, now())), refresh=True)
                sleep(args.interval)
    except KeyboardInterrupt:
        return ExitCode.OK


# ---- history ------------------------------------------------------------------------------------
def history(aws: Aws, args: argparse.Namespace, console: Console) -> int:
    circuit = find_circuit(aws, args.circuit)
    rows: list[dict[str, Any]] = []
    scanned = 0
    pages = aws.sfn.get_paginator("list_executions").paginate(
        stateMachineArn=circuit.state_machine_arn
    )
    for page in pages:  # newest first
        for execution in page["executions"]:
            scanned += 1
            if execution["status"] == "RUNNING":
                events = recent_events(aws, execution["executionArn"])
                row = history_row(execution, None, events, now(), circuit.phases)
            else:
                described = aws.sfn.describe_execution(executionArn=execution["executionArn"])
                row = history_row(execution, described, None, now(), circuit.phases)
            if args.all or row["outcome"] not in HIDDEN_OUTCOMES:
                rows.append(row)
            if len(rows) >= args.limit or scanned >= max(100, args.limit * 10):
                break
        else:
            continue
        break
    if args.json:
        print_json(console, rows)
    elif rows:
        console.print(history_table(rows))
    else:
        console.print(f"No episodes yet for circuit {circuit.name}.")
    return ExitCode.OK


# ---- open (hold) and close ----------------------------------------------------------------------
def command_name(command: str, at: datetime) -> str:
    return f"{command}-{at:%Y%m%dT%H%M%S}-{secrets.token_hex(2)}"


def start_command(
    aws: Aws, circuit: Circuit, command: str, reason: str, extra: dict[str, Any] | None = None
) -> str:
    caller = aws.caller()["Arn"]
    document = {"command": command, "reason": reason, "requestedBy": caller, **(extra or {})}
    return str(
        aws.sfn.start_execution(
            stateMachineArn=circuit.state_machine_arn,
            name=command_name(command, now()),
            input=json.dumps(document),
        )["executionArn"]
    )


Done = Callable[[dict[str, Any], str | None], bool]


def wait_for_command(
    aws: Aws, circuit: Circuit, execution_arn: str, *, done: Done, what: str, timeout: float
) -> None:
    """Poll the control marker and the mapping until `done`, the execution failing, or timeout."""
    deadline = time.monotonic() + timeout
    polls_after_success = 0
    while True:
        control = read_json_parameter(aws, circuit.control_parameter) or {}
        mapping_state = read_mapping(aws, circuit.mapping_uuid).get("State")
        if done(control, mapping_state):
            return
        described = aws.sfn.describe_execution(executionArn=execution_arn)
        execution_status = described["status"]
        if execution_status in ENDED_BADLY:
            raise CliError(
                f"the command execution {execution_arn} ended {execution_status}:"
                f" {described.get('error') or '-'}: {described.get('cause') or '-'}"
            )
        if execution_status == "SUCCEEDED":
            polls_after_success += 1
            if polls_after_success > 3:
                raise CliError(
                    f"the command execution {execution_arn} succeeded but the circuit is not"
                    f" {what} (control mode {control.get('mode')}, mapping {mapping_state});"
                    f" its output: {described.get('output')}"
                )
        if time.monotonic() >= deadline:
            raise CliError(
                f"timed out after {timeout:g} s waiting for the circuit to be {what}; last seen:"
                f" control mode {control.get('mode')} (by execution {control.get('execution')}),"
                f" mapping {mapping_state}, command execution {execution_status}."
                f" Follow it with: sqs-circuit-breaker status {circuit.name}"
            )
        sleep(POLL_SECONDS)


def _report(
    aws: Aws, circuit: Circuit, args: argparse.Namespace, console: Console, note: str
) -> None:
    document = read_status(aws, circuit, now())
    if args.json:
        print_json(console, document)
        return
    console.print(status_view(document))
    console.print(Text(note))


def _run_command(
    aws: Aws,
    circuit: Circuit,
    args: argparse.Namespace,
    console: Console,
    *,
    command: str,
    doing: str,
    mode: str,
    mapping_state: str,
    what: str,
    note: str,
    extra: dict[str, Any] | None = None,
) -> int:
    """Start a hold or close execution and wait until the control marker names it with `mode`
    and the mapping reads `mapping_state`; then print the circuit's status and `note`."""
    execution_arn = start_command(aws, circuit, command, args.reason, extra)
    if not args.json:
        console.print(f"{doing} (execution {execution_arn}) ...")

    def done(control: dict[str, Any], state: str | None) -> bool:
        return (
            control.get("mode") == mode
            and control.get("execution") == execution_arn
            and state == mapping_state
        )

    wait_for_command(aws, circuit, execution_arn, done=done, what=what, timeout=args.timeout)
    _report(aws, circuit, args, console, note)
    return ExitCode.OK


def open_circuit(aws: Aws, args: argparse.Namespace, console: Console) -> int:
    circuit = find_circuit(aws, args.circuit)
    document = read_status(aws, circuit, now())
    hold = document["hold"]
    # Held, but the mapping reads Enabled (a superseded episode's retried update landed after the
    # hold looked again): a second hold disables it again. Otherwise there is nothing to do.
    if hold and document["mapping"]["state"] in DISABLED_STATES:
        raise CliError(
            f"circuit {circuit.name} is already held open since {hold['since']} by"
            f" {hold['requestedBy']}: {hold['reason']}. Release it with:"
            f" sqs-circuit-breaker close {circuit.name}",
            ExitCode.REFUSED,
        )
    extra = None
    until = "no automatic close"
    if args.hold_for:
        # The hold's own execution waits until then (it survives this process), then closes.
        ends = iso(now() + timedelta(seconds=args.hold_for))
        extra = {"holdUntil": ends}
        until = f"until {ends}, then it closes by itself as close would"
    return _run_command(
        aws,
        circuit,
        args,
        console,
        command="hold",
        doing=f"Holding circuit {circuit.name} open",
        mode="hold",
        mapping_state="Disabled",
        what="held open",
        note=f"Circuit {circuit.name} is HELD OPEN: the mapping is disabled and stays so (no"
        f" probes, {until}). Close it earlier with: sqs-circuit-breaker close {circuit.name}",
        extra=extra,
    )


def close_circuit(aws: Aws, args: argparse.Namespace, console: Console) -> int:
    circuit = find_circuit(aws, args.circuit)
    document = read_status(aws, circuit, now())
    if document["closed"]:
        raise CliError(
            f"circuit {circuit.name} is already closed (mapping {document['mapping']['state']},"
            " not held, no open episode): nothing to close",
            ExitCode.REFUSED,
        )
    return _run_command(
        aws,
        circuit,
        args,
        console,
        command="close",
        doing=f"Closing circuit {circuit.name}",
        mode="auto",
        mapping_state="Enabled",
        what="closed",
        note=f"Circuit {circuit.name} is CLOSED: the mapping is enabled with its remembered"
        " settings and the alarm re-armed. To hold it open again:"
        f" sqs-circuit-breaker open {circuit.name} --reason TEXT",
    )


# ---- drill --------------------------------------------------------------------------------------
def recent_executions(aws: Aws, arn: str) -> list[dict[str, Any]]:
    return list(aws.sfn.list_executions(stateMachineArn=arn, maxResults=100)["executions"])


def drill(aws: Aws, args: argparse.Namespace, console: Console) -> int:
    circuit = find_circuit(aws, args.circuit)
    document = read_status(aws, circuit, now())
    busy = document["episode"] or (document["commandsRunning"] or [None])[0]
    if document["state"] != CLOSED or busy:
        running = f" (execution {busy['name']} is still running)" if busy else ""
        raise CliError(
            f"circuit {circuit.name} is {document['state']}{running}: a drill starts from a"
            " CLOSED circuit with no running execution",
            ExitCode.REFUSED,
        )
    if document["alarm"]["state"] is None:
        raise CliError(f"alarm {circuit.alarm_name} not found: the circuit cannot be drilled")
    if document["alarm"]["state"] == "ALARM":
        raise CliError(
            f"alarm {circuit.alarm_name} is already in ALARM: a drill needs the change to ALARM"
            " to start an episode; wait for it to return to OK",
            ExitCode.REFUSED,
        )
    before = {e["executionArn"] for e in recent_executions(aws, circuit.state_machine_arn)}
    caller = aws.caller()["Arn"]
    if document["alarm"].get("composite"):
        # SetAlarmState would hold a composite alarm in ALARM until one of its children changes:
        # the episode's watch would then re-open the healthy circuit. Start the episode directly.
        started = aws.sfn.start_execution(
            stateMachineArn=circuit.state_machine_arn,
            name=command_name("drill", now()),
            input=json.dumps({"drill": {"requestedBy": caller, "alarm": circuit.alarm_name}}),
        )
        console.print(
            f"Alarm {circuit.alarm_name} is a composite alarm (never set by hand): episode"
            f" {started['executionArn'].rsplit(':', 1)[-1]} started; following it ..."
        )
    else:
        aws.cloudwatch.set_alarm_state(
            AlarmName=circuit.alarm_name,
            StateValue="ALARM",
            StateReason=f"Drill by {caller}: sqs-circuit-breaker drill",
        )
        console.print(f"Alarm {circuit.alarm_name} set to ALARM; following the episode ...")
    deadline = time.monotonic() + args.timeout
    opened = False
    with Live(console=console, auto_refresh=False) as live:
        while True:
            new = [
                e
                for e in recent_executions(aws, circuit.state_machine_arn)
                if e["executionArn"] not in before and not is_command(e["name"])
            ]
            document = read_status(aws, circuit, now())
            waiting = "waiting for the episode to start" if not new else "episode running"
            live.update(Group(status_view(document), Text(f"drill: {waiting}")), refresh=True)
            opened = opened or (bool(new) and not document["closed"])
            # Done when the episode has closed the circuit again (its watch of the alarm may go
            # on: the circuit is closed meanwhile), or when every new execution has ended.
            if new and (
                (opened and document["closed"]) or all(e["status"] != "RUNNING" for e in new)
            ):
                break
            if time.monotonic() >= deadline:
                raise CliError(
                    f"timed out after {args.timeout:g} s: "
                    + (
                        "the episode is still running"
                        if new
                        else "no episode started (check the EventBridge rule of the alarm)"
                    )
                )
            sleep(args.interval)
    document = read_status(aws, circuit, now())
    console.print(status_view(document))
    if document["state"] != CLOSED:
        raise CliError(f"the drill's episode ended with the circuit {document['state']}")
    console.print(
        f"Drill passed: circuit {circuit.name} opened and is CLOSED again"
        + (" (the episode still watches the alarm)." if document["watching"] else ".")
    )
    return ExitCode.OK


# ---- redrive ------------------------------------------------------------------------------------
def redrive_refusal(document: dict[str, Any]) -> str | None:
    """Why the circuit's dead-letter queue must not be redriven now, or None."""
    name = document["circuit"]
    if document["hold"] or document["state"] != CLOSED:
        return (
            f"circuit {name} is {document['state']}: its mapping is not consuming, so the"
            " redriven messages would only wait (and age) in the queue. Close it first"
            f" (sqs-circuit-breaker close {name}), watch it stay CLOSED"
            f" (sqs-circuit-breaker status {name} --watch), then redrive"
        )
    dlq = document.get("deadLetterQueue")
    if dlq is None:
        return f"queue {document['queue']['url']} has no redrive policy: no dead-letter queue"
    if dlq.get("error"):
        return f"dead-letter queue {dlq['arn']} cannot be read: {dlq['error']}"
    task = dlq.get("moveTask") or {}
    if task.get("running"):
        return (
            f"a redrive of {dlq['arn']} is already running ({dash(task.get('moved'))} of"
            f" {dash(task.get('toMove'))} moved, since {task.get('startedAt')}): follow it"
            f" with sqs-circuit-breaker status {name}"
        )
    return None


def redrive(aws: Aws, args: argparse.Namespace, console: Console) -> int:
    """Move the dead-letter queue's messages back to the circuit's queue (StartMessageMoveTask)."""
    circuit = find_circuit(aws, args.circuit)
    document = read_status(aws, circuit, now())
    refusal = redrive_refusal(document)
    if refusal:
        raise CliError(refusal, ExitCode.REFUSED)
    dlq = document["deadLetterQueue"]
    if not dlq.get("visible") and not dlq.get("notVisible"):
        console.print(f"Dead-letter queue {dlq['arn']} is empty: nothing to redrive.")
        return ExitCode.OK
    destination = circuit.queue_arn
    start: dict[str, Any] = {"SourceArn": dlq["arn"], "DestinationArn": destination}
    if args.rate:
        start["MaxNumberOfMessagesPerSecond"] = args.rate
    handle = aws.sqs.start_message_move_task(**start)["TaskHandle"]
    if not args.json:
        rate = f"at most {args.rate}/s" if args.rate else "at SQS's own pace"
        limit = f", stopping after {args.max}" if args.max else ""
        console.print(
            f"Redriving {dlq['visible']} message(s) from {dlq['arn']} to {destination}"
            f" ({rate}{limit}) ..."
        )
    task, cancelled = follow_move_task(aws, dlq["arn"], handle, args, console)
    if task.get("Status") == "FAILED":
        moved = dash(task.get("ApproximateNumberOfMessagesMoved"))
        raise CliError(
            f"the redrive failed after moving {moved} message(s):"
            f" {task.get('FailureReason') or '-'}; the rest stay in {dlq['arn']}"
        )
    moved = task.get("ApproximateNumberOfMessagesMoved")
    if args.json:
        print_json(console, {"task": task, "cancelledAtMax": cancelled})
        return ExitCode.OK
    ended = f"stopped at --max {args.max}" if cancelled else str(task.get("Status")).lower()
    console.print(
        f"Redrive {ended}: {dash(moved)} message(s) moved back to {destination}."
        f" Follow the queue with: sqs-circuit-breaker status {circuit.name}"
    )
    return ExitCode.OK


def follow_move_task(
    aws: Aws, dlq_arn: str, handle: str, args: argparse.Namespace, console: Console
) -> tuple[dict[str, Any], bool]:
    """Poll the move task until it ends; cancel it once `--max` messages have moved.

    The move continues without this tool (it is SQS's): a timeout only stops following it.
    """
    deadline = time.monotonic() + args.timeout
    cancelled = False
    last = None
    while True:
        tasks = aws.sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=1)["Results"]
        task = dict(tasks[0]) if tasks else {}
        status = task.get("Status")
        moved = task.get("ApproximateNumberOfMessagesMoved") or 0
        progress = (status, moved)
        if not args.json and progress != last and status:
            console.print(
                f"  {status}: {moved} of"
                f" {dash(task.get('ApproximateNumberOfMessagesToMove'))} moved"
            )
            last = progress
        if status in MOVE_TASK_ENDED:
            return task, cancelled
        if args.max and moved >= args.max and not cancelled and status == "RUNNING":
            aws.sqs.cancel_message_move_task(TaskHandle=handle)
            cancelled = True
        if time.monotonic() >= deadline:
            raise CliError(
                f"timed out after {args.timeout:g} s following the redrive ({moved} moved so far);"
                " it goes on without this tool: follow it with sqs-circuit-breaker status"
            )
        sleep(POLL_SECONDS)
