"""Transition events (the module's transition_event_bus).

The probe announces the two transitions it causes: OPEN -> HALF-OPEN when it starts, and
HALF-OPEN -> OPEN after an unhealthy probe. The tasks that decide a transition announce it as they
decide (`announce_transition`): ClaimEpisode CLOSED -> OPEN and -> HELD, LookAtAlarm the
close and the re-open, the Probe task and the tasks that start an episode its give-ups
(`give_up_transitions`). The state machine announces every other transition, with the same
schema (modules/state-machine/events.asl.yaml.tftpl; docs/events.md). Best effort, as there: a
failed put is logged and never changes a task's outcome.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from common.aws import error_message
from common.log import get_logger
from loop import GAVE_UP, GIVE_UP_ATTEMPTS, GIVE_UP_RETENTION, MAX_ATTEMPTS, RETENTION

log = get_logger("sqs-circuit-breaker.probe")

SOURCE = "sqs-circuit-breaker"
DETAIL_TYPE = "Circuit State Change"
SCHEMA_VERSION = "1"

# Each event's budget (a best-effort event must not eat the probe's time: a probe in a VPC
# without a route to EventBridge would otherwise wait 60 s per attempt, five times). One request
# per attempt (no SDK retries), 1 s to connect and 1 s to read; an entry EventBridge refused
# (FailedEntryCount) is put again while the budget lasts, so an event takes 2 s plus the attempt
# in flight at worst (4 s). Within the probe's reserves either way: the event after the probe is
# skipped when less than the budget + 1 s is left.
EVENT_BUDGET_S = 2.0
PUT_EVENTS_CONFIG = Config(
    connect_timeout=1, read_timeout=1, retries={"mode": "standard", "total_max_attempts": 1}
)

# The probe's time kept for its two events, on top of invoke.AFTER_INVOKE_RESERVE_S: the invoke's
# read timeout leaves it out, so the function's time is never cut by an event (the module's plan
# check counts it: probe_reserve_seconds in locals.tf).
EVENTS_RESERVE_S = 4

_EXECUTION_ARN = re.compile(
    r"^(?P<prefix>arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}):execution:(?P<machine>[^:]+):[^:]+$"
)


class TransitionConfigError(ValueError):
    """transitionEvents in the probe's input is malformed; the message names the field."""


@dataclass(frozen=True)
class TransitionEvents:
    event_bus_name: str
    circuit: str
    episode: str
    attempt: int | None  # null in the events of transitions no probe caused (a hold)
    mapping: str

    @property
    def state_machine_arn(self) -> str | None:
        match = _EXECUTION_ARN.match(self.episode)
        return f"{match['prefix']}:stateMachine:{match['machine']}" if match else None


def parse_transition_events(value: Any) -> TransitionEvents | None:
    """The state machine's transitionEvents object (absent: the circuit publishes no events)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TransitionConfigError(f"must be an object or null, got {type(value).__name__}")
    fields: dict[str, str] = {}
    for name in ("eventBusName", "circuit", "episode", "mapping"):
        text = value.get(name)
        if not isinstance(text, str) or not text.strip():
            raise TransitionConfigError(f"{name} is required and must be a non-empty string")
        fields[name] = text.strip()
    attempt = value.get("attempt")
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise TransitionConfigError(f"attempt must be an integer >= 1, got {attempt!r}")
    return TransitionEvents(
        event_bus_name=fields["eventBusName"],
        circuit=fields["circuit"],
        episode=fields["episode"],
        attempt=attempt,
        mapping=fields["mapping"],
    )


@dataclass(frozen=True)
class TaskEvents:
    """Where a task other than the probe announces (its `transitionEvents`: the bus, the
    circuit, the episode (this execution), the mapping and the queue; absent: no events)."""

    event_bus_name: str
    circuit: str
    episode: str
    mapping: str
    queue: str

    @classmethod
    def parse(cls, value: Any) -> TaskEvents | None:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise TransitionConfigError(f"must be an object or null, got {type(value).__name__}")
        fields: dict[str, str] = {}
        for name in ("eventBusName", "circuit", "episode", "mapping", "queue"):
            text = value.get(name)
            if not isinstance(text, str) or not text.strip():
                raise TransitionConfigError(f"{name} is required and must be a non-empty string")
            fields[name] = text.strip()
        return cls(
            event_bus_name=fields["eventBusName"],
            circuit=fields["circuit"],
            episode=fields["episode"],
            mapping=fields["mapping"],
            queue=fields["queue"],
        )


def not_published(what: str = "") -> dict[str, str]:
    """The error a state records ($.eventError) when a transition event was not published (the
    log says why)."""
    return {
        "Error": "PutEvents",
        "Cause": f"not published{f' ({what})' if what else ''}: see the log",
    }


def announce_transition(
    events: Any,
    config: TaskEvents | None,
    *,
    from_state: str,
    to_state: str,
    reason: str,
    note: str,
    attempt: int | None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> bool:
    """Announce one transition a task decided (nothing without a config); True once
    EventBridge took it. Never raises."""
    if config is None:
        return False
    target = TransitionEvents(
        event_bus_name=config.event_bus_name,
        circuit=config.circuit,
        episode=config.episode,
        attempt=attempt,
        mapping=config.mapping,
    )
    entry = transition_entry(
        target,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        note=note,
        queue_arn=config.queue,
        now=now(),
    )
    return announce(events, entry)


def event_time(now: datetime) -> str:
    """As Step Functions writes $$.State.EnteredTime: 2026-12-03T17:34:46.597Z."""
    return now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def transition_entry(
    config: TransitionEvents,
    *,
    from_state: str,
    to_state: str,
    reason: str,
    note: str,
    queue_arn: str,
    now: datetime,
) -> dict[str, Any]:
    """One PutEvents entry, the schema of the state machine's Announce* states."""
    machine = config.state_machine_arn
    return {
        "EventBusName": config.event_bus_name,
        "Source": SOURCE,
        "DetailType": DETAIL_TYPE,
        # as Step Functions' PutEvents integration fills them for the state machine's events
        "Resources": [machine, config.episode] if machine else [config.episode],
        "Detail": json.dumps(
            {
                "schemaVersion": SCHEMA_VERSION,
                "circuit": config.circuit,
                "from": from_state,
                "to": to_state,
                "reason": reason,
                "note": note,
                "attempt": config.attempt,
                "episode": config.episode,
                "time": event_time(now),
                "mapping": config.mapping,
                "queue": queue_arn,
            },
            separators=(",", ":"),
        ),
    }


def announce(
    events: Any,
    entry: dict[str, Any],
    *,
    budget_s: float = EVENT_BUDGET_S,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Put the entry; True once EventBridge took it. Never raises, and stops trying once
    `budget_s` is spent: the probe goes on either way."""
    detail = json.loads(entry["Detail"])
    what = {"from": detail["from"], "to": detail["to"], "eventBusName": entry["EventBusName"]}
    deadline = clock() + budget_s
    attempt = 0
    while True:
        attempt += 1
        try:
            response = events.put_events(Entries=[entry])
        except (BotoCoreError, ClientError) as exc:
            log.warning("transition event not published", error=error_message(exc), **what)
            return False
        if not response.get("FailedEntryCount"):
            log.info("transition event published", attempt=attempt, **what)
            return True
        failed = (response.get("Entries") or [{}])[0]
        log.warning(
            "transition event refused by EventBridge",
            attempt=attempt,
            errorCode=failed.get("ErrorCode"),
            errorMessage=failed.get("ErrorMessage"),
            **what,
        )
        if clock() >= deadline:
            return False


def around_probe(
    events: Any,
    config: TransitionEvents | None,
    queue_arn: str,
    probe: Callable[[], dict[str, Any]],
    *,
    remaining_ms: Callable[[], int] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """Run the probe between its transition events (none without a config).

    The event after the probe is put only while the probe has more than EVENT_BUDGET_S left (a
    Lambda timeout would fail the task: its retry would probe again and lose the verdict)."""
    if config is None:
        return probe()

    def put(from_state: str, to_state: str, reason: str, note: str) -> None:
        left_ms = remaining_ms() if remaining_ms else None
        if left_ms is not None and left_ms < (EVENT_BUDGET_S + 1) * 1000:
            log.warning(
                "transition event skipped: the probe's time is up",
                remainingMs=left_ms,
                **{"from": from_state, "to": to_state},
            )
            return
        entry = transition_entry(
            config,
            from_state=from_state,
            to_state=to_state,
            reason=reason,
            note=note,
            queue_arn=queue_arn,
            now=now(),
        )
        announce(events, entry)

    put("OPEN", "HALF-OPEN", "probe", f"probe {config.attempt}")
    try:
        result = probe()
    except Exception as exc:
        # The state machine retries the probe, or closes after the error: back to OPEN first.
        put("HALF-OPEN", "OPEN", "probe_failed", f"{type(exc).__name__}: {exc}")
        raise
    if result.get("outcome") == "unhealthy":
        put("HALF-OPEN", "OPEN", "probe_unhealthy", str(result.get("reason", "")))
    return result


def give_up_transitions(state: Mapping[str, Any], give_up_action: str) -> list[dict[str, str]]:
    """The OPEN -> GAVE UP transitions a task's decision makes, in order: on the attempts (note:
    the give_up_action), then on the retention (note: close) when the guard of the next wait is
    exceeded: a give-up on the retention itself, a stay_open give-up that cannot keep probing,
    or an episode (started or re-opened) whose first wait could already outlive the backlog."""
    step = state.get("step")
    decided = step.get("next") if isinstance(step, Mapping) else None
    guard = state.get("guard")
    exceeded = isinstance(guard, Mapping) and guard.get("exceeded") is True
    gave_up = []
    if decided == GIVE_UP_ATTEMPTS:
        gave_up.append({"reason": MAX_ATTEMPTS, "note": give_up_action})
        exceeded = exceeded and give_up_action == "stay_open"
    if exceeded or decided == GIVE_UP_RETENTION:
        gave_up.append({"reason": RETENTION, "note": "close"})
    return gave_up


def announce_give_ups(
    events: Any,
    config: TaskEvents | None,
    state: Mapping[str, Any],
    give_up_action: str,
    *,
    time_left: Callable[[], bool] = lambda: True,
) -> dict[str, str] | None:
    """Announce the give-ups of a task's decision (none without a config), each while
    `time_left()` (a probe's time must not run out on a best-effort event: its retry would probe
    again). None, or the error the state records ($.eventError) when one was not published."""
    if config is None:
        return None
    episode = state.get("episode")
    attempt = episode.get("attempt") if isinstance(episode, Mapping) else None
    missed = []
    for gave_up in give_up_transitions(state, give_up_action):
        if not time_left() or not announce_transition(
            events,
            config,
            from_state="OPEN",
            to_state=GAVE_UP,
            reason=gave_up["reason"],
            note=gave_up["note"],
            attempt=attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else None,
        ):
            missed.append(gave_up["reason"])
    if not missed:
        return None
    return not_published(", ".join(missed))
