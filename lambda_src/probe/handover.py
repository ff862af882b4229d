"""The history hand-over, both sides: what a loop's task writes for its successor, and how the
successor's first task takes the episode over.

A STANDARD execution fails, uncatchably, at 25,000 history events; past the threshold a loop's
task hands the episode over: it names the successor (fixed before StartExecution, so a retried
start is idempotent) and writes its input, the episode's state as the successor's first task
needs it. The successor's first check or look takes the lease from its predecessor before
anything else: single flight treats it as the same episode.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from lease import Lease, LoopTask, now_text
from loop import SUPERSEDED, LoopStateError, next_state, state_part

HANDED_OVER = "handed_over"  # the predecessor's outcome

# What a successor needs to go on, per phase (with_hand_over copies these parts).
CONTINUATION_PARTS = {
    "probe": ("original", "queue", "schedule", "episode", "guard", "tracking"),
    "watch": ("original", "queue", "tracking", "watch", "closeReason", "closed"),
}

# The types of a continuation's fields, as a Choice state's type tests read them.
PRESENT, STRING, NUMBER, BOOLEAN = "present", "a string", "a number", "a boolean"

# What a successor's first task checks before anything else, per phase: every path the states
# read once its task may have failed (the failure path and the notifications: the mapping's
# settings, the queue's budget, the counters they quote), and the lease's names. Its input is
# what a predecessor's with_hand_over wrote, or what whoever started the execution forged.
_COMMON_FIELDS = (
    ("continuation.predecessor", STRING),
    ("started.execution", STRING),
    ("singleFlight.self", STRING),
    ("original.scalingConfig", PRESENT),
    ("original.responseTypes", PRESENT),
    ("original.state", PRESENT),
    ("original.mapping.FunctionArn", STRING),
    ("queue.budgetSeconds", NUMBER),
    ("queue.retentionSeconds", NUMBER),
    ("queue.visibilityTimeoutSeconds", NUMBER),
    ("tracking.loops", NUMBER),
    ("tracking.reopens", NUMBER),
    ("tracking.openSeconds", NUMBER),
    ("tracking.openReason", STRING),
)
CONTINUATION_FIELDS = {
    "probe": (
        *_COMMON_FIELDS,
        ("schedule.visibility", PRESENT),
        ("episode.attempt", NUMBER),
        ("episode.maxAttempts", NUMBER),
        ("episode.scheduleIndex", NUMBER),
        ("episode.stayingOpen", BOOLEAN),
        ("episode.elapsedSeconds", NUMBER),
        ("episode.nextWaitSeconds", NUMBER),
        ("guard.projectedSeconds", NUMBER),
    ),
    "watch": (
        *_COMMON_FIELDS,
        ("watch.rearmed", BOOLEAN),
        ("watch.sawOk", BOOLEAN),
        ("watch.polls", NUMBER),
        ("watch.closedAt", PRESENT),
        ("closeReason.reason", STRING),
        ("closeReason.note", STRING),
        ("closed.at", PRESENT),
    ),
}


_MISSING = object()


class InvalidContinuation(ValueError):
    """A successor's input lacks what its phase needs. The Probe and LookAtAlarm tasks catch it by
    this name into InvalidInput, which reads nothing: nothing was touched, and the states that
    would read the missing paths (an uncatchable runtime error) never run."""


def _has_type(value: Any, kind: str) -> bool:
    if kind == STRING:
        return isinstance(value, str)
    if kind == NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == BOOLEAN:
        return isinstance(value, bool)
    return True


def continuation_problems(state: Mapping[str, Any], phase: str) -> list[str]:
    """What keeps `state` from being a continuation of `phase` (none: it is one)."""
    continuation = state.get("continuation")
    if not isinstance(continuation, Mapping) or continuation.get("phase") != phase:
        return [f"$.continuation.phase must be {phase!r}, got {continuation!r}"]
    problems = []
    for path, kind in CONTINUATION_FIELDS[phase]:
        value: Any = state
        for key in path.split("."):
            value = value.get(key, _MISSING) if isinstance(value, Mapping) else _MISSING
        if value is _MISSING:
            problems.append(f"$.{path} is missing")
        elif not _has_type(value, kind):
            problems.append(f"$.{path} must be {kind}, got {value!r}")
    if continuation.get("predecessor") == "":
        problems.append("$.continuation.predecessor must name the predecessor")
    return problems


def successor_execution(execution: str, name: str) -> str:
    """The ARN a successor named `name` gets: this execution's, with its name replaced
    (arn:<partition>:states:<region>:<account>:execution:<state machine>:<name>)."""
    head, sep, _ = execution.rpartition(":")
    if not sep or ":execution:" not in head:
        raise LoopStateError(f"$.started.execution must be an execution's ARN, got {execution!r}")
    return f"{head}:{name}"


def with_hand_over(state: Mapping[str, Any], phase: str, name: str) -> dict[str, Any]:
    """A hand-over's state with `$.handover`: the successor's name (fixed before the call, so a
    retried StartExecution is idempotent) and its input. The input is the successor's state as
    its first task needs it, so that no state of the definition has to rebuild it: this phase's
    parts (probe: before the control check; watch: before the next look), the successor's own
    `started` and `singleFlight` (its ARN follows from its name; its first task confirms them)
    for the failure path, and `$.continuation`, the phase and this execution as the predecessor
    the successor claims the lease from."""
    parts = CONTINUATION_PARTS.get(phase)
    if parts is None:
        raise LoopStateError(f"a hand-over's phase must be probe or watch, got {phase!r}")
    predecessor = str(state_part(state, "started").get("execution", ""))
    successor = successor_execution(predecessor, name)
    continued: dict[str, Any] = {
        "continuation": {"phase": phase, "predecessor": predecessor},
        "started": {"execution": successor, "name": name},
        "singleFlight": {"self": successor},
    }
    for part in parts:
        if part not in state:
            raise LoopStateError(f"$.{part} is missing from the state machine's state")
        continued[part] = copy.deepcopy(state[part])
    new = dict(state)
    new["handover"] = {"name": name, "input": continued}
    new["outcome"] = HANDED_OVER
    return new


def continue_from_predecessor(
    state: Mapping[str, Any], config: LoopTask, dynamodb: Any, phase: str
) -> tuple[Mapping[str, Any], dict[str, Any] | None]:
    """A successor's first task (after a hand-over: `$.continuation`, which names the phase and
    the predecessor) checks its input (InvalidContinuation), then takes the lease from its
    predecessor before anything else: single flight treats it as the same episode. The state
    without `$.continuation`, with this execution's `started` and `singleFlight` (`$.claim` says
    how), or the state ended superseded when someone else took the lease meanwhile (nothing is
    touched)."""
    if "continuation" not in state:
        return state, None
    problems = continuation_problems(state, phase)
    if problems:
        raise InvalidContinuation(
            f"not a continuation of the {phase} phase (nothing was touched): " + "; ".join(problems)
        )
    predecessor = state["continuation"]["predecessor"]
    now = now_text()
    lease = Lease(dynamodb, config.lease_table, config.circuit, config.execution, now)
    new = {k: v for k, v in state.items() if k != "continuation"}
    started = state.get("started") if isinstance(state.get("started"), Mapping) else {}
    name = started.get("name") or config.execution.rsplit(":", 1)[-1]
    new["started"] = {"execution": config.execution, "name": name, "at": now}
    new["singleFlight"] = {"self": config.execution}
    new["claim"] = {"outcome": "claimed", "how": "from the predecessor", "holder": predecessor}
    if lease.pass_from(predecessor):
        return new, None
    new["claim"] = {"outcome": "superseded", "how": "taken from the predecessor meanwhile"}
    return new, next_state(new, SUPERSEDED, outcome="superseded")
