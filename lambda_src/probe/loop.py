"""The probe loop's decisions, as pure functions of the execution's state.

The state machine keeps the actions a person wants to see (wait, check, probe) and routes on one
field, `$.step.next`; every decision in between is made here:

- `after_check`: after the wait, from what the check saw (the execution's history size, the
  lease, the mapping): hand the episode over to a successor, end superseded, close because
  someone re-enabled the mapping, or probe.
- `before_probe`: the conservative time spent so far and how long a failed message stays hidden.
- `after_probe`: from the probe's verdict: recover (healthy or empty), or count the failure, pick
  the next wait (exponential backoff precomputed by Terraform, equal jitter), and give up on
  attempts or on the queue's retention.

The state keys are the state machine's ($.episode, $.guard, $.tracking, $.schedule, $.queue,
$.started): a successor execution (history hand-over) and the CLI read them. Each function returns
a new state; the input is never changed.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# $.step.next: the state machine's Route state names the state each leads to.
PROBE = "probe"
WAIT = "wait"
RECOVER = "recover"
CLOSE = "close"
GIVE_UP_ATTEMPTS = "give_up_attempts"
GIVE_UP_RETENTION = "give_up_retention"
HAND_OVER = "hand_over"
SUPERSEDED = "superseded"
INVALID = "invalid"  # not a verdict the probe gives: the state machine's failure path
NEXT_STEPS = (
    PROBE,
    WAIT,
    RECOVER,
    CLOSE,
    GIVE_UP_ATTEMPTS,
    GIVE_UP_RETENTION,
    HAND_OVER,
    SUPERSEDED,
    INVALID,
)

GIVE_UP_ACTIONS = ("close", "stay_open")

# A mapping in one of these states was re-enabled by someone else; Updating (another setting of
# the disabled mapping changed) is not.
REENABLED_STATES = ("Enabled", "Enabling")

# The lease could not be read: the episode goes on (an unreadable lease does not stop it).
UNREADABLE = object()


class CheckError(RuntimeError):
    """A read the next step depends on failed (the history size, the mapping, the alarm, the
    lease), or the alarm could not be re-armed: the task fails (retried, then the failure path).
    Its name is what the tasks' Retry matches (the Lambda error type)."""


class LoopStateError(ValueError):
    """The state machine's state lacks a field the loop needs; the message names it."""


@dataclass(frozen=True)
class LoopConfig:
    """The loop's settings, rendered by Terraform into the Probe state's payload."""

    give_up_action: str
    jitter: bool
    probe_budget_seconds: int

    @classmethod
    def parse(cls, value: Any) -> LoopConfig:
        if not isinstance(value, Mapping):
            raise LoopStateError(f"loop must be an object, got {type(value).__name__}")
        action = value.get("giveUpAction")
        if action not in GIVE_UP_ACTIONS:
            raise LoopStateError(
                f"loop.giveUpAction must be one of {GIVE_UP_ACTIONS}, got {action!r}"
            )
        jitter = value.get("jitter")
        if not isinstance(jitter, bool):
            raise LoopStateError(f"loop.jitter must be a boolean, got {jitter!r}")
        budget = whole_number(value, "probeBudgetSeconds", "loop")
        return cls(give_up_action=action, jitter=jitter, probe_budget_seconds=budget)


@dataclass(frozen=True)
class EpisodeConfig:
    """How an episode starts (the open's and the re-open's payload `episode`): the attempts, the
    first wait, and the backoff schedule Terraform precomputed (modules/state-machine/main.tf)."""

    max_attempts: int
    open_wait_seconds: int
    schedule: dict[str, list[int]]
    # One probe's budget for the retention guard (None: a definition older than this code, whose
    # own CheckRetention state computes the guard).
    probe_budget_seconds: int | None = None

    @classmethod
    def parse(cls, value: Any) -> EpisodeConfig:
        if not isinstance(value, Mapping):
            raise LoopStateError(f"episode must be an object, got {type(value).__name__}")
        schedule = value.get("schedule")
        series = ("waits", "base", "spread", "visibility")
        if not isinstance(schedule, Mapping) or not all(
            isinstance(schedule.get(k), list)
            and schedule[k]
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in schedule[k])
            for k in series
        ):
            raise LoopStateError(
                f"episode.schedule must have non-empty lists of whole seconds {series}"
            )
        return cls(
            max_attempts=whole_number(value, "maxAttempts", "episode"),
            open_wait_seconds=whole_number(value, "openWaitSeconds", "episode"),
            schedule={k: list(schedule[k]) for k in series},
            probe_budget_seconds=(
                whole_number(value, "probeBudgetSeconds", "episode")
                if "probeBudgetSeconds" in value
                else None
            ),
        )


def new_episode(config: EpisodeConfig, visibility_timeout_seconds: int) -> dict[str, Any]:
    """A fresh episode. Messages of the batches that just failed stay invisible for the queue's
    visibility timeout: the first probe waits at least that long, or it would find the queue
    empty (and close on a lie)."""
    return {
        "attempt": 0,
        "maxAttempts": config.max_attempts,
        "scheduleIndex": 0,
        "stayingOpen": False,
        "elapsedSeconds": 0,
        "nextWaitSeconds": max(config.open_wait_seconds, visibility_timeout_seconds),
    }


def projected_seconds(episode: Mapping[str, Any], budget_s: int) -> int:
    """The retention guard's projection: the time spent so far + the next wait + one probe."""
    return (
        whole_number(episode, "elapsedSeconds", "$.episode")
        + whole_number(episode, "nextWaitSeconds", "$.episode")
        + budget_s
    )


def guarded(queue: Mapping[str, Any], projected: int) -> dict[str, Any]:
    """The retention guard of the next wait: `exceeded` when the projection passes the queue's
    budget (its retention less the margin), and then the close reason of the give-up it leads
    to (a give-up never waits: within_guard)."""
    budget = queue.get("budgetSeconds") if isinstance(queue, Mapping) else None
    if isinstance(budget, bool) or not isinstance(budget, int | float):
        raise LoopStateError(f"$.queue.budgetSeconds must be a number, got {budget!r}")
    # (negative when the retention is shorter than its margin: every wait exceeds it)
    exceeded = projected > budget
    parts: dict[str, Any] = {"guard": {"projectedSeconds": projected, "exceeded": exceeded}}
    if exceeded:
        parts["closeReason"] = close_reason(RETENTION, GAVE_UP)
    return parts


def within_guard(episode: Mapping[str, Any], guard: Mapping[str, Any]) -> dict[str, Any]:
    """The episode as it waits under `guard` (guarded's parts): an exceeded guard's wait is 0 s,
    so that no wait ends past the retention budget; the Probe task then gives up on the
    retention without probing (given_up_at_once)."""
    new = dict(episode)
    if guard["guard"]["exceeded"]:
        new["nextWaitSeconds"] = 0
    return new


def first_guard(
    config: EpisodeConfig, episode: Mapping[str, Any], queue: Mapping[str, Any]
) -> dict[str, Any]:
    """The guard before an episode's first wait, with the episode as it waits ({"guard": ...,
    "episode": ...}; {} without a probe budget), so that an episode whose first wait could
    already outlive the backlog gives up at once."""
    if config.probe_budget_seconds is None:
        return {}
    guard = guarded(queue, projected_seconds(episode, config.probe_budget_seconds))
    return {**guard, "episode": within_guard(episode, guard)}


def given_up_at_once(state: Mapping[str, Any]) -> dict[str, Any] | None:
    """The Probe task's decision before it probes, when the guard of the wait it followed was
    exceeded (an episode whose first wait, or a stay_open give-up whose next wait, could outlive
    the backlog: that wait was 0 s): give up on the retention without probing. Its close reason
    and its event are the deciding task's. None: probe."""
    guard = state.get("guard")
    if not isinstance(guard, Mapping) or guard.get("exceeded") is not True:
        return None
    return next_state(state, GIVE_UP_RETENTION)


def whole_number(obj: Any, key: str, where: str) -> int:
    value = obj.get(key) if isinstance(obj, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise LoopStateError(f"{where}.{key} must be a non-negative number, got {value!r}")
    return int(value)


def state_part(state: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = state.get(key)
    if not isinstance(value, Mapping):
        raise LoopStateError(f"$.{key} is missing from the state machine's state")
    return dict(value)


def _schedule_entry(state: Mapping[str, Any], series: str, index: int) -> int:
    schedule = state_part(state, "schedule")
    values = schedule.get(series)
    if not isinstance(values, list) or not values:
        raise LoopStateError(f"$.schedule.{series} must be a non-empty list")
    # Never past the last entry (the capped interval): attempt < maxAttempts keeps the index in
    # range, and a stay-open episode keeps the last one.
    value = values[min(index, len(values) - 1)]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LoopStateError(f"$.schedule.{series}[{index}] must be a non-negative integer")
    return value


def next_state(state: Mapping[str, Any], next_step: str, **parts: Any) -> dict[str, Any]:
    new = copy.deepcopy(dict(state))
    new.update(parts)
    new["step"] = {"next": next_step}
    return new


# The state a give-up closes from (docs/events.md).
GAVE_UP = "GAVE UP"
FORCED = "forced"  # a close command's close reason
RETENTION = "retention"  # a give-up before the backlog could outlive the queue's retention
MAX_ATTEMPTS = "max_attempts"


def close_reason(reason: str, from_state: str) -> dict[str, str]:
    """A close reason as every state of the close reads it (docs/events.md: `from`)."""
    return {"reason": reason, "from": from_state, "note": ""}


def needs_hand_over(history_events: int, handover_events: int) -> bool:
    """Past the threshold the episode continues in a fresh execution (a STANDARD execution fails,
    uncatchably, at 25,000 history events)."""
    return history_events >= handover_events


def is_superseded(lease: Any, execution: str) -> bool:
    """The execution owns the episode only while the lease names it (an unreadable lease does not
    stop the episode; a missing lease or another holder does)."""
    if lease is UNREADABLE:
        return False
    item = lease.get("Item") if isinstance(lease, Mapping) else None
    holder = item.get("holder") if isinstance(item, Mapping) else None
    value = holder.get("S") if isinstance(holder, Mapping) else None
    return value != execution


def superseded(state: Mapping[str, Any], lease: Any, **parts: Any) -> dict[str, Any] | None:
    """The state ended as superseded when the lease no longer names this execution, else None."""
    execution = str(state_part(state, "started").get("execution", ""))
    if not is_superseded(lease, execution):
        return None
    return next_state(state, SUPERSEDED, **parts, outcome="superseded")


def ownership(
    state: Mapping[str, Any], *, history_events: int | None, handover_events: int, lease: Any
) -> dict[str, Any] | None:
    """Before any other step of a loop (the probe's, the watch's): hand over past the history
    threshold, or end superseded when the lease no longer names this execution; None: go on.
    `history_events` None: the count could not be read, only the lease decides."""
    history = {} if history_events is None else {"history": {"events": history_events}}
    if history_events is not None and needs_hand_over(history_events, handover_events):
        return next_state(state, HAND_OVER, **history)
    return superseded(state, lease, **history)


def before_recovery(state: Mapping[str, Any], lease: Any) -> dict[str, Any]:
    """A healthy or empty probe leads to the recovery, which changes the mapping, only while the
    lease still names this execution: a hold or close command given during the probe superseded
    it (an unreadable lease does not stop the episode). Any other step is returned unchanged."""
    step = state_part(state, "step")
    ended = superseded(state, lease) if step.get("next") == RECOVER else None
    if ended is None:
        return dict(state)
    ended["step"]["outcome"] = step.get("outcome")  # the probe ran: what it found
    return ended


def after_check(
    state: Mapping[str, Any],
    *,
    history_events: int,
    handover_events: int,
    lease: Any = UNREADABLE,
    mapping_state: str | None = None,
) -> dict[str, Any]:
    """The next step after the wait. `lease` and `mapping_state` are read only when needed: pass
    what was read (None: not read yet)."""
    owned = ownership(
        state, history_events=history_events, handover_events=handover_events, lease=lease
    )
    if owned is not None:
        return owned
    history = {"events": history_events}
    if mapping_state in REENABLED_STATES:
        return next_state(
            state,
            CLOSE,
            history=history,
            current={"state": mapping_state},
            closeReason=close_reason("reenabled_elsewhere", "OPEN"),
        )
    if mapping_state is None:
        raise LoopStateError("the mapping's state is needed before probing")
    episode = state_part(state, "episode")
    tracking = state_part(state, "tracking")
    tracking["loops"] = whole_number(tracking, "loops", "$.tracking") + 1
    tracking["openSeconds"] = whole_number(tracking, "openSeconds", "$.tracking") + whole_number(
        episode, "nextWaitSeconds", "$.episode"
    )
    return next_state(
        state, PROBE, history=history, current={"state": mapping_state}, tracking=tracking
    )


def advance_clock(episode: dict[str, Any], now_ms: int, fallback_s: int) -> None:
    """Bring the time spent so far ($.episode.elapsedSeconds) up to `now_ms`, by the wall clock.

    $.episode.clockAtMs is when elapsedSeconds was last brought up to date; whole seconds are
    added and the clock moves by exactly those, so rounding never drifts. Without a clock (the
    first probe of an episode, or a successor of a version without one) the time spent is
    `fallback_s`, the retention guard's projection: the time before the wait, the whole wait and
    one probe's budget, more than has passed."""
    clock = episode.get("clockAtMs")
    if isinstance(clock, int) and not isinstance(clock, bool) and clock <= now_ms:
        whole = (now_ms - clock) // 1000
        episode["elapsedSeconds"] = whole_number(episode, "elapsedSeconds", "$.episode") + whole
        episode["clockAtMs"] = clock + whole * 1000
    else:
        episode["elapsedSeconds"] = fallback_s
        episode["clockAtMs"] = now_ms


def before_probe(state: Mapping[str, Any], now_ms: int) -> dict[str, Any]:
    """The episode as the probe runs: the time spent so far (the wall clock's, or the guard's
    projection the first time), and how long a message that fails this probe stays hidden: until
    after the next probe (the schedule's visibility at this attempt)."""
    episode = state_part(state, "episode")
    guard = state_part(state, "guard")
    advance_clock(episode, now_ms, whole_number(guard, "projectedSeconds", "$.guard"))
    index = whole_number(episode, "scheduleIndex", "$.episode")
    episode["failureVisibilityTimeout"] = _schedule_entry(state, "visibility", index)
    new = copy.deepcopy(dict(state))
    new["episode"] = episode
    return new


def next_wait(
    state: Mapping[str, Any], index: int, jitter: bool, rand: Callable[[int, int], int]
) -> int:
    """The backoff at `index`: waits[i] = min(cap, initial * rate^i), or with equal jitter
    base[i] + a whole number in [0, spread[i]] (never more than waits[i])."""
    if not jitter:
        return _schedule_entry(state, "waits", index)
    base = _schedule_entry(state, "base", index)
    spread = _schedule_entry(state, "spread", index)
    return base + min(spread, max(0, rand(0, spread)))


def _next_guard(
    state: Mapping[str, Any], episode: Mapping[str, Any], config: LoopConfig
) -> dict[str, Any]:
    """The retention guard of the next wait: the time spent so far + the next wait + one probe
    must stay within the queue's retention less its margin, or the backlog could expire."""
    return guarded(
        state_part(state, "queue"), projected_seconds(episode, config.probe_budget_seconds)
    )


def after_probe(
    state: Mapping[str, Any],
    result: Mapping[str, Any],
    config: LoopConfig,
    rand: Callable[[int, int], int],
    now_ms: int,
) -> dict[str, Any]:
    """The next step after the probe's verdict (`result`, the probe's output)."""
    probe = {"result": dict(result)}
    outcome = result.get("outcome")

    def decided(next_step: str, **parts: Any) -> dict[str, Any]:
        # $.step.outcome: this step probed (a check's step has none), and what it found.
        new = next_state(state, next_step, probe=probe, **parts)
        new["step"]["outcome"] = outcome
        return new

    if outcome in ("healthy", "empty"):
        return decided(RECOVER, closeReason=close_reason(outcome, "HALF-OPEN"))
    if outcome != "unhealthy":
        return decided(INVALID)
    episode = state_part(state, "episode")
    advance_clock(episode, now_ms, whole_number(episode, "elapsedSeconds", "$.episode"))
    # SQS retention counts from each message's SentTimestamp: a probed message older than the
    # time spent so far moves the guard's clock forward.
    # (rounded up: a fraction of a second older is older, and the guard errs towards giving up)
    age = result.get("messageAgeSeconds")
    if isinstance(age, int | float) and not isinstance(age, bool) and math.isfinite(age):
        spent = whole_number(episode, "elapsedSeconds", "$.episode")
        episode["elapsedSeconds"] = max(spent, math.ceil(age))
    attempt = whole_number(episode, "attempt", "$.episode") + 1
    index = whole_number(episode, "scheduleIndex", "$.episode")
    episode["attempt"] = attempt
    episode["nextWaitSeconds"] = next_wait(state, index, config.jitter, rand)
    staying_open = config.give_up_action == "stay_open" and episode.get("stayingOpen") is True
    if not staying_open:
        if attempt >= whole_number(episode, "maxAttempts", "$.episode"):
            # NotifyGaveUp, once; stay_open then keeps probing at this interval (stayingOpen:
            # the limit is not judged again), with this guard first (exceeded: no wait, and
            # the next Probe task gives up on the retention at once).
            if config.give_up_action == "stay_open":
                episode["stayingOpen"] = True
            guard = _next_guard(state, episode, config)
            if config.give_up_action != "stay_open" or not guard["guard"]["exceeded"]:
                guard["closeReason"] = close_reason(MAX_ATTEMPTS, GAVE_UP)
            return decided(GIVE_UP_ATTEMPTS, episode=within_guard(episode, guard), **guard)
        episode["scheduleIndex"] = attempt
    guard = _next_guard(state, episode, config)
    if guard["guard"]["exceeded"]:
        return decided(GIVE_UP_RETENTION, episode=within_guard(episode, guard), **guard)
    return decided(WAIT, episode=episode, **guard)
