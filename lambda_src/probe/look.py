"""The watch's one task (LookAtAlarm), one invocation of the probe function per look.

After the wait, once closed: the history size, the lease, the alarm (watch.py decides: re-open,
look again, re-arm, or closed for good). The first look after a close says so (CircuitState 0, the
CLOSED event), then starts the watch, or ends the episode (a give-up close), or leaves a close
command's close to be verified first. A look that ends the episode releases the lease. A look that
re-opens takes the lease back from the watch phase, then says so (CircuitState 1, the CLOSED ->
OPEN event).

The state machine's whole state in, changed out (the task's ResultPath is "$"); the decisions
are watch.py's, the AWS calls and their failure modes are here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common import aws
from common.aws import AWS_ERRORS, error_message
from common.log import get_logger
from handover import continue_from_predecessor
from lease import Lease, now_text
from loop import SUPERSEDED, CheckError, EpisodeConfig, next_state, state_part
from step import (
    CHECK_CONFIG,
    MetricRef,
    _config_fields,
    _state,
    handing_over,
    loop_owner,
    publish_circuit_metrics,
)
from transitions import (
    PUT_EVENTS_CONFIG,
    TaskEvents,
    announce_give_ups,
    announce_transition,
    not_published,
)
from watch import (
    CLOSED,
    REARM,
    REOPEN,
    AlarmView,
    WatchConfig,
    after_close,
    after_look,
    alarm_view,
    close_told,
    rearmed,
    reopened,
    start_watch,
    watch_starts,
)

log = get_logger("sqs-circuit-breaker.probe")


@dataclass(frozen=True)
class LookConfig:
    """The LookAtAlarm state's `watch`: this execution, the lease, the alarm, the watch's timing;
    `tellsClose`: the first look after a close says so (a definition older than this code does it
    in states of its own, and sends only watched closes here)."""

    execution: str
    handover_events: int
    lease_table: str
    circuit: str
    alarm_name: str
    watch: WatchConfig
    tells_close: bool = False

    @classmethod
    def parse(cls, value: Any) -> LookConfig:
        f = _config_fields(
            value,
            "watch",
            ("execution", "leaseTable", "circuit", "alarmName"),
            ("handoverEvents", "polls", "pollSeconds", "rearmWaitSeconds"),
        )
        return cls(
            execution=f["execution"],
            handover_events=f["handoverEvents"],
            lease_table=f["leaseTable"],
            circuit=f["circuit"],
            alarm_name=f["alarmName"],
            watch=WatchConfig(f["polls"], f["pollSeconds"], f["rearmWaitSeconds"]),
            tells_close=value.get("tellsClose") is True,
        )


def describe_alarm(cloudwatch: Any, name: str) -> AlarmView | None:
    try:
        response = cloudwatch.describe_alarms(
            AlarmNames=[name], AlarmTypes=["CompositeAlarm", "MetricAlarm"]
        )
    except AWS_ERRORS as exc:
        raise CheckError(f"DescribeAlarms {name} failed: {error_message(exc)}") from exc
    return alarm_view(response)


def rearm_alarm(cloudwatch: Any, config: LookConfig) -> None:
    """Back to OK, now that the alarm's window holds only data from after the close."""
    try:
        cloudwatch.set_alarm_state(
            AlarmName=config.alarm_name,
            StateValue="OK",
            StateReason=(
                f"Circuit breaker {config.circuit} closed the circuit; the data from before the"
                " close has left the evaluation window: alarm re-armed."
            ),
        )
    except AWS_ERRORS as exc:
        raise CheckError(f"SetAlarmState {config.alarm_name} failed: {error_message(exc)}") from exc


def run_look(
    state: Mapping[str, Any],
    config: LookConfig,
    *,
    episode: EpisodeConfig,
    sfn: Any,
    dynamodb: Any,
    cloudwatch: Any,
    metric: MetricRef | None = None,
    events_client: Any = None,
    transitions: TaskEvents | None = None,
) -> dict[str, Any]:
    """One look of the watch: history, lease, the alarm; re-arm it when the watch says so, or
    start the episode again when it re-opens (a successor first takes the lease from its
    predecessor). The first look after a close says so first, then starts the watch, or ends
    the episode, or leaves a close command's close to be verified (watch.after_close)."""
    continued = "continuation" in state
    state, ended = continue_from_predecessor(state, config, dynamodb, "watch")
    if ended is not None:
        return ended
    starting = watch_starts(state)
    telling = starting and config.tells_close and not close_told(state)
    if telling and (route := after_close(state)) is not None:
        told = {
            **next_state(state, route),
            **tell_close(state, cloudwatch, metric, events_client, transitions),
        }
        return _released(told, config, dynamodb)
    if starting:
        state = start_watch(state, config.watch)
    # the first look's conditional write (mark_watching) says whose the lease is, as does a
    # successor's claim from its predecessor: no read before them
    events, _, owned = loop_owner(state, config, sfn, dynamodb, lease_known=continued or starting)
    if telling:  # once the reads that may fail the task (and retry it) are done
        state = {**state, **tell_close(state, cloudwatch, metric, events_client, transitions)}
    if owned is not None:
        return handing_over({**owned, **{k: state[k] for k in TOLD if k in state}}, "watch")
    if starting:
        return _started_watch(state, config, dynamodb, events)
    alarm = describe_alarm(cloudwatch, config.alarm_name)
    new = after_look(state, alarm, config.watch)
    if new["step"]["next"] == REARM:
        rearm_alarm(cloudwatch, config)
        new = rearmed(new, config.watch)
    elif new["step"]["next"] == REOPEN:
        new = _reopening(
            reopened(new, episode),
            config,
            dynamodb=dynamodb,
            cloudwatch=cloudwatch,
            metric=metric,
            events_client=events_client,
            transitions=transitions,
        )
    new["history"] = {"events": events}
    new = _released(new, config, dynamodb)
    log.info(
        "look finished",
        next=new["step"]["next"],
        historyEvents=events,
        alarm=alarm.as_dict() if alarm else None,
        watch=new.get("watch"),
    )
    return new


def _reopening(
    new: dict[str, Any],
    config: LookConfig,
    *,
    dynamodb: Any,
    cloudwatch: Any,
    metric: MetricRef | None,
    events_client: Any,
    transitions: TaskEvents | None,
) -> dict[str, Any]:
    """A re-open leaves the watch phase of the lease first (of this execution and an alarm
    execution taking the episode over after the close, exactly one opens: the lease taken
    meanwhile, superseded), then says so: CircuitState 1, the transition event."""
    now = now_text()
    lease = Lease(dynamodb, config.lease_table, config.circuit, config.execution, now)
    if not lease.take("holder = :self"):
        return next_state(new, SUPERSEDED, outcome="superseded")
    if metric is not None:  # the circuit opens again: CircuitState 1 from now on
        error = metric.publish_state(cloudwatch, 1)
        if error is not None:
            new["observabilityError"] = error
    announced = announce_transition(
        events_client,
        transitions,
        from_state="CLOSED",
        to_state="OPEN",
        reason="alarm",
        note=str(new["tracking"]["openReason"]),
        attempt=0,
    )
    if transitions is not None and not announced:
        new["eventError"] = not_published()
    # a re-opened episode whose first wait could already outlive the backlog gives up at once
    missed = announce_give_ups(events_client, transitions, new, "")
    if missed is not None:
        new["eventError"] = missed
    return new


def _released(new: dict[str, Any], config: LookConfig, dynamodb: Any) -> dict[str, Any]:
    """A look that ends the episode (closed: `$.outcome`) releases the lease, as its last call
    (best effort: `$.leaseError` says why one is left behind, for the next claim to take over)."""
    if new["step"]["next"] != CLOSED:
        return new
    new["outcome"] = "closed"
    lease = Lease(dynamodb, config.lease_table, config.circuit, config.execution, now_text())
    error = lease.release()
    if error is not None:
        log.warning("lease not released: the next claim takes it over", error=error["Cause"])
        new["leaseError"] = error
    return new


# What telling the close adds to the state (kept by a hand-over right after it).
TOLD = ("closed", "observabilityError", "eventError")


def tell_close(
    state: Mapping[str, Any],
    cloudwatch: Any,
    metric: MetricRef | None,
    events_client: Any,
    transitions: TaskEvents | None,
) -> dict[str, Any]:
    """The close, said once (after the CLOSED notification): CircuitState 0 and OpenSeconds 0,
    then the transition event from the state it closed from. Best effort, never raises: the
    parts of the state to update, `$.closed.told` and what could not be published."""
    reason = state_part(state, "closeReason")
    told: dict[str, Any] = {"closed": {**state_part(state, "closed"), "told": True}}
    if metric is not None:
        error = publish_circuit_metrics(
            cloudwatch,
            metric.namespace,
            metric.circuit,
            {"CircuitState": (0, "None"), "OpenSeconds": (0, "Seconds")},
        )
        if error is not None:
            told["observabilityError"] = error
    announced = announce_transition(
        events_client,
        transitions,
        from_state=str(reason.get("from") or "OPEN"),
        to_state="CLOSED",
        reason=str(reason.get("reason")),
        note=str(reason.get("note") or ""),
        attempt=None,
    )
    if transitions is not None and not announced:
        told["eventError"] = not_published()
    log.info("close told", reason=reason.get("reason"), eventPublished=announced)
    return told


def _started_watch(
    state: dict[str, Any], config: LookConfig, dynamodb: Any, events: int
) -> dict[str, Any]:
    """The first look after a close starts the watch: the lease's phase says watch (and since
    when the circuit is closed), then the first wait. The lease taken meanwhile: superseded; a
    failed write does not stop the watch (`$.leaseError`: an alarm execution then waits for this
    watch's next look before it takes the episode over)."""
    now = now_text()
    lease = Lease(dynamodb, config.lease_table, config.circuit, config.execution, now)
    state["history"] = {"events": events}
    try:
        if not lease.mark_watching(state["watch"]["closedAt"]):
            return next_state(state, SUPERSEDED, outcome="superseded")
    except CheckError as exc:
        log.warning("the lease does not say watch", error=str(exc))
        state["leaseError"] = {"Error": "CheckError", "Cause": str(exc)}
    log.info("watch started", closedAt=state["watch"]["closedAt"], historyEvents=events)
    return state


def look_handler(event: Mapping[str, Any]) -> dict[str, Any]:
    config = LookConfig.parse(event.get("watch"))
    return run_look(
        _state(event),
        config,
        episode=EpisodeConfig.parse(event.get("episode")),
        sfn=aws.client("stepfunctions", None, CHECK_CONFIG),
        dynamodb=aws.client("dynamodb", None, CHECK_CONFIG),
        cloudwatch=aws.client("cloudwatch", None, CHECK_CONFIG),
        metric=MetricRef.parse(event.get("stateMetric"), "stateMetric"),
        events_client=aws.client("events", None, PUT_EVENTS_CONFIG),
        transitions=TaskEvents.parse(event.get("transitionEvents")),
    )
