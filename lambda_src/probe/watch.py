"""The watch after a close, as pure functions of the execution's state and the alarm.

After a healthy, empty or overridden close the episode watches the alarm until the data from
before the close has left its window (`polls` looks, one per period). The state machine waits,
the probe function looks (`LookAtAlarm`: step.py reads the alarm), and `after_look` decides:

- an alarm in ALARM after an OK seen since the close, or after the breaker re-armed it, or one
  that entered ALARM after the close: a new failure wave, re-open at once;
- not in ALARM: seen OK;
- at the end of the window, still ALARM: a composite alarm follows its children, which judged
  data from after the close: re-open; a metric alarm may just not have transitioned (missing data
  keeps a state): re-arm it once (SetAlarmState OK) and let its next evaluation decide; a
  composite alarm is never reset (SetAlarmState does not make it re-evaluate);
- otherwise closed for good. A deleted alarm: nothing to watch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from loop import (
    FORCED,
    WAIT,
    EpisodeConfig,
    LoopStateError,
    first_guard,
    new_episode,
    next_state,
    state_part,
    whole_number,
)

REOPEN = "reopen"
SETTLE = "settle"  # a close command's close: settle, verify the mapping, then watch
REOPEN_REASON = "re-opened: the alarm breaches on data from after the close"
REARM = "rearm"
CLOSED = "closed"
ALARM = "ALARM"
# The closes after which the episode owns the alarm's window: it watches until the data from
# before the close has left it. After a give-up close the function may still fail: the alarm is
# left as it is (it returns to OK when the function recovers; the next wave opens again).
WATCHED_REASONS = ("healthy", "empty", "reenabled_elsewhere")


@dataclass(frozen=True)
class AlarmView:
    """What the watch needs of the alarm DescribeAlarms returned."""

    state: str
    composite: bool
    changed_at: datetime | None  # StateTransitionedTimestamp, else StateUpdatedTimestamp

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "composite": self.composite,
            "changedAt": self.changed_at.isoformat() if self.changed_at else None,
        }


def _aware(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def alarm_view(response: Mapping[str, Any]) -> AlarmView | None:
    """The alarm of a DescribeAlarms response (composite first), or None when it is gone."""
    for key, composite in (("CompositeAlarms", True), ("MetricAlarms", False)):
        alarms = response.get(key) or []
        if alarms and isinstance(alarms[0], Mapping) and alarms[0].get("StateValue"):
            alarm = alarms[0]
            changed = _aware(alarm.get("StateTransitionedTimestamp")) or _aware(
                alarm.get("StateUpdatedTimestamp")
            )
            return AlarmView(str(alarm["StateValue"]), composite, changed)
    return None


@dataclass(frozen=True)
class WatchConfig:
    """The watch's settings, rendered by Terraform into the LookAtAlarm state's payload."""

    polls: int
    poll_seconds: int
    rearm_wait_seconds: int


def _watch(state: Mapping[str, Any]) -> dict[str, Any]:
    watch = state.get("watch")
    if not isinstance(watch, Mapping):
        raise LoopStateError("$.watch is missing from the state machine's state")
    return dict(watch)


def watch_starts(state: Mapping[str, Any]) -> bool:
    """The first look after a close (`$.closed.at`, the close's time, which the current watch
    does not name yet): it starts the watch instead of looking at the alarm."""
    closed = state_part(state, "closed")
    watch = state.get("watch")
    return not isinstance(watch, Mapping) or watch.get("closedAt") != closed.get("at")


def close_told(state: Mapping[str, Any]) -> bool:
    """The first look after this close has said so (CircuitState 0, the CLOSED event)."""
    return state_part(state, "closed").get("told") is True


def after_close(state: Mapping[str, Any]) -> str | None:
    """Where the first look after a close goes: None, start the watch (a healthy, empty or
    overridden close); SETTLE, a close command's close is verified first (then watched); CLOSED,
    a give-up close (max_attempts, retention) ends the episode."""
    reason = state_part(state, "closeReason").get("reason")
    if not isinstance(reason, str) or not reason:
        raise LoopStateError(
            f"$.closeReason.reason must say why the circuit closed, got {reason!r}"
        )
    if reason in WATCHED_REASONS:
        return None
    return SETTLE if reason == FORCED else CLOSED


def start_watch(state: Mapping[str, Any], config: WatchConfig) -> dict[str, Any]:
    """The watch of this close: nothing seen yet, the first look after one period (the alarm
    still judges the data from before the close right now)."""
    closed_at = state_part(state, "closed").get("at")
    if not isinstance(closed_at, str) or not closed_at:
        raise LoopStateError(f"$.closed.at must be the close's time, got {closed_at!r}")
    watch = {
        "rearmed": False,
        "sawOk": False,
        "polls": 0,
        "closedAt": closed_at,
        "nextWaitSeconds": config.poll_seconds,
    }
    return next_state(state, WAIT, watch=watch)


def after_look(
    state: Mapping[str, Any], alarm: AlarmView | None, config: WatchConfig
) -> dict[str, Any]:
    """The next step of the watch after one look at the alarm."""
    watch = _watch(state)
    if alarm is None:
        return next_state(state, CLOSED, alarmNow=None)
    now = {"alarmNow": alarm.as_dict()}
    in_alarm = alarm.state == ALARM
    if in_alarm and (watch.get("sawOk") is True or watch.get("rearmed") is True):
        return next_state(state, REOPEN, **now)
    if not in_alarm:
        watch["sawOk"] = True
    else:
        closed_at = _aware(watch.get("closedAt"))
        if alarm.changed_at and closed_at and alarm.changed_at > closed_at:
            return next_state(state, REOPEN, **now)  # it went OK and back between two looks
    polls = int(watch.get("polls", 0))
    if polls < config.polls:
        watch["polls"] = polls + 1
        watch["nextWaitSeconds"] = config.poll_seconds
        return next_state(state, WAIT, watch=watch, **now)
    if in_alarm and alarm.composite:
        return next_state(state, REOPEN, watch=watch, **now)
    if in_alarm and watch.get("rearmed") is not True:
        return next_state(state, REARM, watch=watch, **now)
    return next_state(state, CLOSED, watch=watch, **now)


def rearmed(state: Mapping[str, Any], config: WatchConfig) -> dict[str, Any]:
    """After SetAlarmState OK: wait one evaluation (and a margin), then look again."""
    watch = _watch(state)
    watch["rearmed"] = True
    watch["nextWaitSeconds"] = config.rearm_wait_seconds
    return next_state(state, WAIT, watch=watch, alarmNow=state.get("alarmNow"))


def reopened(state: Mapping[str, Any], config: EpisodeConfig) -> dict[str, Any]:
    """A new failure wave after the close: the execution re-opens the circuit itself (no new
    execution would start: the alarm may never have left ALARM). The episode starts again (the
    attempts, the first wait, the schedule); the execution's counters go on (one more re-open)."""
    tracking = state_part(state, "tracking")
    visibility = whole_number(state_part(state, "queue"), "visibilityTimeoutSeconds", "$.queue")
    first = {"episode": new_episode(config, visibility)}
    first.update(first_guard(config, first["episode"], state_part(state, "queue")))
    return next_state(
        state,
        REOPEN,
        **first,
        tracking={
            "loops": whole_number(tracking, "loops", "$.tracking"),
            "reopens": whole_number(tracking, "reopens", "$.tracking") + 1,
            "openSeconds": 0,
            "openReason": REOPEN_REASON,
        },
        schedule={k: list(v) for k, v in config.schedule.items()},
    )
