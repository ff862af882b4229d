"""Pure functions: the circuit's state, an episode's progress and an execution's outcome.

Everything here works on plain data as the AWS APIs return it, so it is tested without AWS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .catalogue import CLOSED, HALF_OPEN, OPEN, OPENING, REJITTER, phase_of
from .discovery import Circuit

HELD_OPEN = "HELD OPEN"
CIRCUIT_STATES = (CLOSED, OPEN, HALF_OPEN, REJITTER, HELD_OPEN)
COMMAND_PREFIXES = ("hold-", "close-")
ENDED_BADLY = ("FAILED", "ABORTED", "TIMED_OUT")
ENABLED_STATES = ("Enabled", "Enabling")
DISABLED_STATES = ("Disabled", "Disabling")


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_json(text: Any) -> dict[str, Any]:
    """A JSON object from text; {} for anything else (missing, truncated, not an object)."""
    if not isinstance(text, str):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def is_command(execution_name: str) -> bool:
    return execution_name.startswith(COMMAND_PREFIXES)


def command_kind(execution_name: str) -> str:
    for prefix in COMMAND_PREFIXES:
        if execution_name.startswith(prefix):
            return prefix.rstrip("-")
    return "episode"


def oldest_episode(running: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The running episode execution that acts: the oldest one that is not a command."""
    episodes = [e for e in running if not is_command(e["name"])]
    return min(episodes, key=lambda e: e["startDate"]) if episodes else None


# ---- An episode's progress ----------------------------------------------------------------------
def entered_states(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The state-entered events of a history read newest first."""
    return [e for e in events if "stateEnteredEventDetails" in e]


def episode_view(
    execution: dict[str, Any],
    events: list[dict[str, Any]],
    now: datetime,
    phases: Mapping[str, str],
) -> dict[str, Any]:
    """What a running episode is doing, from its newest history events (newest first).

    `phases` is the circuit's catalogue (state -> phase, read from its definition).
    """
    entered = entered_states(events)
    current = entered[0] if entered else None
    details = current["stateEnteredEventDetails"] if current else {}
    state_input = parse_json(details.get("input"))
    episode = state_input.get("episode") or {}
    queue = state_input.get("queue") or {}
    tracking = state_input.get("tracking") or {}
    probe = (state_input.get("probe") or {}).get("result") or None
    state_name = details.get("name")
    entered_at: datetime | None = current["timestamp"] if current else None

    next_probe_at = None
    waited = 0.0
    wait = number(episode.get("nextWaitSeconds"))
    if state_name == "WaitBeforeProbe" and entered_at is not None:
        waited = max(0.0, (now - entered_at).total_seconds())
        if wait is not None:
            next_probe_at = entered_at + timedelta(seconds=wait)
    budget = number(queue.get("budgetSeconds"))
    elapsed = number(episode.get("elapsedSeconds"))
    budget_left = None
    if budget is not None and elapsed is not None:
        budget_left = max(0, int(budget - elapsed - waited))
    return {
        "executionArn": execution["executionArn"],
        "name": execution["name"],
        "startedAt": iso(execution["startDate"]),
        "phase": phase_of((e["stateEnteredEventDetails"]["name"] for e in entered), phases)
        if entered
        else OPENING,
        "currentState": state_name,
        "attempt": number(episode.get("attempt")),
        "maxAttempts": number(episode.get("maxAttempts")),
        "stayingOpen": episode.get("stayingOpen"),
        "lastProbe": _probe_summary(probe) if isinstance(probe, dict) else None,
        "nextProbeAt": iso(next_probe_at),
        "retentionBudgetLeftSeconds": budget_left,
        "openReason": tracking.get("openReason"),
        "probes": number(tracking.get("loops")),
        "reopens": number(tracking.get("reopens")),
        "closeReason": (state_input.get("closeReason") or {}).get("reason"),
    }


def _probe_summary(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("outcome", "reason", "source", "messageId", "messageAgeSeconds", "durationMs")
    return {key: result.get(key) for key in keys}


# ---- The circuit's state ------------------------------------------------------------------------
def circuit_state(control_mode: str, mapping_state: str | None, phase: str | None) -> str:
    """CLOSED, OPEN, HALF-OPEN, REJITTER or HELD OPEN."""
    if control_mode == "hold":
        return HELD_OPEN
    if phase is not None:
        return {OPENING: OPEN, CLOSED: CLOSED}.get(phase, phase)
    return OPEN if mapping_state in DISABLED_STATES else CLOSED


def is_closed(control_mode: str, mapping_state: str | None, phase: str | None) -> bool:
    """Closed for the purpose of `close`: nothing to close (a watching episode counts as closed)."""
    return (
        control_mode != "hold"
        and mapping_state in ENABLED_STATES
        and (phase is None or phase == CLOSED)
    )


@dataclass
class StatusInputs:
    """Everything `status` reads, as the APIs returned it."""

    circuit: Circuit
    control: dict[str, Any] | None
    settings: dict[str, Any] | None
    mapping: dict[str, Any]
    rejitter_mapping: dict[str, Any] | None
    queue_attributes: dict[str, str]
    oldest_message_age: float | None
    alarm: dict[str, Any] | None
    running: list[dict[str, Any]] = field(default_factory=list)
    episode_events: list[dict[str, Any]] = field(default_factory=list)
    # The queue's dead-letter queue, as dead_letter_view shapes it; None without a redrive policy.
    dead_letter: dict[str, Any] | None = None


def _int(attributes: dict[str, str], name: str) -> int | None:
    value = attributes.get(name)
    return int(value) if value is not None and value.isdigit() else None


def build_status(inputs: StatusInputs, now: datetime) -> dict[str, Any]:
    """The status document (`status --json`): stable keys, documented in the README."""
    circuit = inputs.circuit
    control = inputs.control or {}
    mode = control.get("mode") or "auto"
    execution = oldest_episode(inputs.running)
    episode = (
        episode_view(execution, inputs.episode_events, now, circuit.phases) if execution else None
    )
    phase = episode["phase"] if episode else None
    mapping_state = inputs.mapping.get("State")
    state = circuit_state(mode, mapping_state, phase)
    hold = None
    if mode == "hold":
        hold = {
            "reason": control.get("reason"),
            "requestedBy": control.get("requestedBy"),
            "since": control.get("at"),
            "execution": control.get("execution"),
            # a timed hold (open --for): when it closes by itself, else None
            "until": control.get("until"),
        }
    alarm = inputs.alarm or {}
    rejitter = inputs.rejitter_mapping
    return {
        "circuit": circuit.name,
        "stateMachineArn": circuit.state_machine_arn,
        "state": state,
        "watching": phase == CLOSED,
        "closed": is_closed(mode, mapping_state, phase),
        "hold": hold,
        "control": inputs.control,
        "episode": episode,
        "commandsRunning": [
            {"name": e["name"], "executionArn": e["executionArn"], "startedAt": iso(e["startDate"])}
            for e in inputs.running
            if is_command(e["name"])
        ],
        "mapping": {
            "uuid": circuit.mapping_uuid,
            "state": mapping_state,
            "batchSize": inputs.mapping.get("BatchSize"),
            "scalingConfig": inputs.mapping.get("ScalingConfig") or {},
            "functionArn": inputs.mapping.get("FunctionArn"),
        },
        "rememberedSettings": inputs.settings or None,
        "rejitterMapping": {"uuid": circuit.rejitter_mapping_uuid, "state": rejitter.get("State")}
        if rejitter is not None
        else None,
        "queue": {
            "url": circuit.queue_url,
            "visible": _int(inputs.queue_attributes, "ApproximateNumberOfMessages"),
            "notVisible": _int(inputs.queue_attributes, "ApproximateNumberOfMessagesNotVisible"),
            "delayed": _int(inputs.queue_attributes, "ApproximateNumberOfMessagesDelayed"),
            "oldestMessageAgeSeconds": inputs.oldest_message_age,
        },
        "deadLetterQueue": inputs.dead_letter,
        "alarm": {
            "name": circuit.alarm_name,
            "state": alarm.get("StateValue"),
            "reason": alarm.get("StateReason"),
            "updatedAt": iso(alarm.get("StateUpdatedTimestamp")),
            # Composite alarms have a rule instead of a metric.
            "composite": "AlarmRule" in alarm,
        },
        "at": iso(now),
    }


# ---- The dead-letter queue and its redrive -------------------------------------------------------
MOVE_TASK_ENDED = ("COMPLETED", "CANCELLED", "FAILED")


def dead_letter_arn(redrive_policy: Any) -> str | None:
    """The dead-letter queue ARN of a queue's RedrivePolicy attribute (JSON text), or None."""
    arn = parse_json(redrive_policy).get("deadLetterTargetArn")
    return arn if isinstance(arn, str) and arn.startswith("arn:") else None


def queue_url_of(arn: str, next_to: str) -> str:
    """The URL of the queue `arn`, on the endpoint of the queue URL `next_to`.

    SQS URLs are <endpoint>/<account>/<name> (on AWS and on emulators alike); a dead-letter queue
    is in its source queue's region, so the source's endpoint serves it.
    """
    _, _, _, _, account, name = arn.split(":", 5)
    endpoint = next_to.rstrip("/").rsplit("/", 2)[0]
    return f"{endpoint}/{account}/{name}"


def move_task_view(task: dict[str, Any] | None) -> dict[str, Any] | None:
    """The newest message move task of a dead-letter queue (ListMessageMoveTasks entry)."""
    if not task:
        return None
    started = task.get("StartedTimestamp")
    return {
        "status": task.get("Status"),
        "moved": task.get("ApproximateNumberOfMessagesMoved"),
        "toMove": task.get("ApproximateNumberOfMessagesToMove"),
        "ratePerSecond": task.get("MaxNumberOfMessagesPerSecond"),
        "destinationArn": task.get("DestinationArn"),
        "startedAt": iso(datetime.fromtimestamp(started / 1000, UTC))
        if isinstance(started, int | float)
        else None,
        "failureReason": task.get("FailureReason"),
        "running": task.get("Status") == "RUNNING",
    }


def dead_letter_view(
    arn: str, url: str, attributes: dict[str, str], task: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "arn": arn,
        "url": url,
        "visible": _int(attributes, "ApproximateNumberOfMessages"),
        "notVisible": _int(attributes, "ApproximateNumberOfMessagesNotVisible"),
        "moveTask": move_task_view(task),
    }


# ---- An ended (or running) execution's outcome --------------------------------------------------
GIVE_UP_REASONS = {
    "max_attempts": "gave up (max attempts)",
    "retention": "gave up (retention guard)",
    "history_limit": "gave up (history limit)",
}
CLOSE_REASONS = {
    "healthy": "closed healthy",
    "empty": "closed empty",
    "reenabled_elsewhere": "closed (re-enabled elsewhere)",
    "forced": "closed by operator",
}
OTHER_OUTCOMES = {
    "held": "held open",
    "hold_ended": "held open, then closed (timed hold)",
    "superseded": "superseded by operator",
    "duplicate": "duplicate",
    "alarm_ignored_held": "alarm ignored (held)",
    "handed_over": "handed over (the episode continues in a successor execution)",
}
HIDDEN_OUTCOMES = frozenset({"duplicate", "alarm_ignored_held"})


def execution_outcome(
    status: str, output: dict[str, Any], error: str | None = None, cause: str | None = None
) -> tuple[str, str, str]:
    """(outcome key, label, how it ended) of an execution from its status and output."""
    if status in ENDED_BADLY:
        key = status.lower()
        label = {"FAILED": "failed", "ABORTED": "aborted", "TIMED_OUT": "timed out"}[status]
        detail = ": ".join(part for part in (error, cause) if part) or "-"
        return key, label, detail
    if status == "RUNNING":
        return "running", "running", "-"
    reason = (output.get("closeReason") or {}).get("reason")
    outcome = output.get("outcome")
    if outcome is None:  # an older version of the state machine: no "outcome" in the output
        if reason is not None:
            outcome = "closed"
        elif "original" not in output:
            outcome = "duplicate"
        else:
            return "succeeded", "succeeded", "-"
    if outcome == "closed":
        reason_text = str(reason) if reason is not None else "-"
        for prefix, label in GIVE_UP_REASONS.items():
            if reason_text.startswith(prefix):
                return "gave_up", label, reason_text
        return "closed", CLOSE_REASONS.get(reason_text, f"closed ({reason_text})"), reason_text
    detail = output.get("reason") or reason or "-"
    return str(outcome), OTHER_OUTCOMES.get(str(outcome), str(outcome)), str(detail)


def history_row(
    execution: dict[str, Any],
    described: dict[str, Any] | None,
    events: list[dict[str, Any]] | None,
    now: datetime,
    phases: Mapping[str, str],
) -> dict[str, Any]:
    """One row of `history` from a list_executions item and its describe_execution."""
    status = execution["status"]
    described = described or {}
    output = parse_json(described.get("output"))
    key, label, detail = execution_outcome(
        status, output, described.get("error"), described.get("cause")
    )
    phase = None
    if status == "RUNNING":
        view = episode_view(execution, events or [], now, phases)
        phase = view["phase"]
        label = f"running ({phase})"
        detail = f"now in {view['currentState'] or '-'}"
        output = {"tracking": {"loops": view["probes"], "reopens": view["reopens"]}}
    if command_kind(execution["name"]) != "episode":
        request = parse_json(described.get("input"))
        if request.get("reason"):
            asked = f"{request['reason']} (by {request.get('requestedBy') or '-'})"
            known = detail in ("-", "", None) or detail == request["reason"]
            detail = asked if known else f"{detail}; {asked}"
    started: datetime = execution["startDate"]
    stopped: datetime | None = execution.get("stopDate")
    tracking = output.get("tracking") or {}
    return {
        "name": execution["name"],
        "executionArn": execution["executionArn"],
        "kind": command_kind(execution["name"]),
        "status": status,
        "startedAt": iso(started),
        "endedAt": iso(stopped),
        "durationSeconds": int(((stopped or now) - started).total_seconds()),
        "outcome": key,
        "label": label,
        "detail": detail,
        "phase": phase,
        "probes": number(tracking.get("loops")),
        "reopens": number(tracking.get("reopens")),
    }
