"""The open's preparation (the ClaimEpisode task, after the claim: claim.py), once the execution
owns the episode.

Before anything changes, the state machine needs to know what it will restore and how long it
may keep the circuit open. This task reads the mapping (its state and settings), the settings
recorded at the last open (only when the mapping still runs with the half-open ramp's
MaximumConcurrency: an episode was interrupted during its ramp), and the queue's retention and
visibility timeout, then decides the next step in `$.step.next`:

- `inconsistent`: the mapping does not read the circuit's queue or does not invoke the protected
  function: nothing is changed, the failure is notified (`$.error` says why);
- `save_and_open` / `save_and_hold`: this task records the settings (`$.settingsRecord`, in the
  settings parameter; best effort: `$.settingsError` says why one is missing), then disable (an
  open also starts a fresh episode: `$.schedule`, `$.episode`, its first wait at least the
  queue's visibility timeout);
- `open` / `hold`: the mapping is already off (by hand, or left open by an earlier episode): it is
  not disabled again, and its settings are not recorded over the ones recorded when it was on;
- `close`: a close command (it restores the recorded settings; `$.closeReason`: forced, with the
  operator's reason).

The decisions are the pure functions below; `run_open_read` makes the reads and the record. A
read that fails raises CheckError: the task is retried, then the failure path notifies that
nothing was opened.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from claim import CLAIMED, claim_handler
from commands import read_saved, record_settings
from common import aws
from common.aws import AWS_ERRORS, error_message
from common.log import get_logger
from lease import now_text
from loop import FORCED, EpisodeConfig, LoopStateError, close_reason, first_guard, new_episode
from step import CHECK_CONFIG, CheckError, MetricRef, _state
from transitions import (
    PUT_EVENTS_CONFIG,
    TaskEvents,
    announce_give_ups,
    announce_transition,
    not_published,
)

log = get_logger("sqs-circuit-breaker.probe")


INCONSISTENT = "inconsistent"
SAVE_AND_OPEN = "save_and_open"
SAVE_AND_HOLD = "save_and_hold"
OPEN = "open"
HOLD = "hold"
CLOSE = "close"
OPEN_STEPS = (INCONSISTENT, SAVE_AND_OPEN, SAVE_AND_HOLD, OPEN, HOLD, CLOSE)
OPENING_STEPS = (SAVE_AND_OPEN, SAVE_AND_HOLD, OPEN, HOLD)  # the circuit opens or is held

# A mapping in one of these states is already off: the open does not disable it again.
OFF_STATES = ("Disabled", "Disabling")

INITIAL_TRACKING = {
    "loops": 0,
    "reopens": 0,
    "openSeconds": 0,
    "openReason": "the alarm entered ALARM",
}


@dataclass(frozen=True)
class OpenConfig:
    """The open's settings, rendered by Terraform into the ClaimEpisode task's payload."""

    mapping_uuid: str
    queue_url: str
    queue_arn: str
    function_arn: str
    retention_margin_seconds: int
    settings_parameter: str
    ramp_max_concurrency: int | None

    @classmethod
    def parse(cls, value: Any) -> OpenConfig:
        if not isinstance(value, Mapping):
            raise LoopStateError(f"open must be an object, got {type(value).__name__}")
        strings = {}
        for key in ("mappingUuid", "queueUrl", "queueArn", "functionArn", "settingsParameter"):
            item = value.get(key)
            if not isinstance(item, str) or not item:
                raise LoopStateError(f"open.{key} must be a non-empty string, got {item!r}")
            strings[key] = item
        margin = value.get("retentionMarginSeconds")
        if isinstance(margin, bool) or not isinstance(margin, int) or margin < 0:
            raise LoopStateError(
                f"open.retentionMarginSeconds must be a non-negative integer, got {margin!r}"
            )
        ramp = value.get("rampMaxConcurrency")
        if ramp is not None and (isinstance(ramp, bool) or not isinstance(ramp, int) or ramp < 1):
            raise LoopStateError(
                f"open.rampMaxConcurrency must be a positive integer or null, got {ramp!r}"
            )
        return cls(
            mapping_uuid=strings["mappingUuid"],
            queue_url=strings["queueUrl"],
            queue_arn=strings["queueArn"],
            function_arn=strings["functionArn"],
            retention_margin_seconds=margin,
            settings_parameter=strings["settingsParameter"],
            ramp_max_concurrency=ramp,
        )


def json_safe(value: Any) -> Any:
    """An API answer as JSON (boto3 gives datetimes, Step Functions' SDK tasks ISO strings)."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def mapping_problem(mapping: Mapping[str, Any], config: OpenConfig) -> str | None:
    """Why the mapping is not the circuit's (None when it is): it must read the circuit's queue and
    invoke the protected function (unqualified, or a version or alias of it)."""
    source = mapping.get("EventSourceArn")
    function = mapping.get("FunctionArn")
    if source != config.queue_arn:
        return f"it reads {source!r}, not queue_arn {config.queue_arn}"
    if not isinstance(function, str) or not (
        function == config.function_arn or function.startswith(f"{config.function_arn}:")
    ):
        return f"it invokes {function!r}, not {config.function_arn} (or a version or alias of it)"
    return None


def inconsistent_error(
    mapping: Mapping[str, Any], config: OpenConfig, problem: str
) -> dict[str, Any]:
    return {
        "Error": "CircuitBreaker.MappingInconsistent",
        "Cause": (
            f"The inputs are inconsistent: event source mapping {config.mapping_uuid} must read"
            f" queue_arn {config.queue_arn} and invoke {config.function_arn} (or a version or"
            f" alias of it), but {problem}; see its EventSourceArn and FunctionArn under mapping."
            " Nothing was disabled: fix the module inputs."
        ),
        "mapping": dict(mapping),
    }


def ramp_in_progress(mapping: Mapping[str, Any], config: OpenConfig) -> bool:
    """The mapping runs with the half-open ramp's MaximumConcurrency: its real settings are the
    ones recorded at the last open."""
    scaling = mapping.get("ScalingConfig")
    current = scaling.get("MaximumConcurrency") if isinstance(scaling, Mapping) else None
    return config.ramp_max_concurrency is not None and current == config.ramp_max_concurrency


def remembered_settings(
    mapping: Mapping[str, Any], saved: Mapping[str, Any] | None
) -> tuple[dict[str, Any], list[Any]]:
    """The settings a close restores: ScalingConfig (an empty one removes the ramp's
    MaximumConcurrency) and FunctionResponseTypes (the probe judges batchItemFailures only when
    the mapping does). A saved record's scaling config wins (read only during a ramp)."""
    scaling = mapping.get("ScalingConfig")
    current = scaling.get("MaximumConcurrency") if isinstance(scaling, Mapping) else None
    remembered: dict[str, Any] = {} if current is None else {"MaximumConcurrency": current}
    if saved is not None and isinstance(saved.get("scalingConfig"), Mapping):
        remembered = dict(saved["scalingConfig"])
    types = mapping.get("FunctionResponseTypes")
    return remembered, list(types) if isinstance(types, list) else []


def queue_budget(attributes: Mapping[str, Any], margin_seconds: int) -> dict[str, int]:
    """The retention period bounds the episode (less the margin); the visibility timeout bounds
    the first wait."""
    try:
        retention = int(attributes["MessageRetentionPeriod"])
        visibility = int(attributes["VisibilityTimeout"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"queue attributes unreadable: {attributes!r}") from exc
    return {
        "retentionSeconds": retention,
        "visibilityTimeoutSeconds": visibility,
        "budgetSeconds": retention - margin_seconds,
    }


def next_open_step(command: Any, mapping_state: str) -> str:
    """After a consistent read: an alarm execution opens, a hold command holds (both record the
    settings first unless the mapping is already off), a close command closes."""
    if command == "close":
        return CLOSE
    off = mapping_state in OFF_STATES
    if command == "hold":
        return HOLD if off else SAVE_AND_HOLD
    return OPEN if off else SAVE_AND_OPEN


# The lease phases of an open circuit: an episode's (open, recovering, closing), a close command's.
OPEN_PHASES = frozenset({"open", "recovering", "closing", "command"})


def command_from(previous_lease: Any) -> str:
    """Transition events: the state an operator command takes the circuit from, as the lease it
    replaced says (ClaimEpisode's `$.previousLease`: commands.py): a hold's lease HELD, an open
    circuit's OPEN; a watch after a close, a released lease or none CLOSED."""
    attributes = previous_lease.get("Attributes") if isinstance(previous_lease, Mapping) else None
    if not isinstance(attributes, Mapping):
        return "CLOSED"

    def text(name: str) -> str | None:
        value = attributes.get(name)
        return value.get("S") if isinstance(value, Mapping) else None

    phase = text("phase")
    if text("holder") is None or phase is None:
        return "CLOSED"
    if phase == "held":
        return "HELD"
    return "OPEN" if phase in OPEN_PHASES else "CLOSED"


def operator_note(state: Mapping[str, Any]) -> str:
    """Who gave the command, and why (a transition event's note)."""
    return f"by {state.get('requestedBy')}: {state.get('reason')}"


def forced_close_reason(state: Mapping[str, Any], command_from_state: str) -> dict[str, str]:
    """A close command's close reason: the operator's reason is part of it (the notification,
    the transition event, the history; led by a space: the CLOSED notification reads
    "reason: forced by ...")."""
    return {**close_reason(FORCED, command_from_state), "note": f" {operator_note(state)}"}


def after_open_read(
    state: Mapping[str, Any],
    mapping: Mapping[str, Any],
    attributes: Mapping[str, Any],
    config: OpenConfig,
    *,
    episode: EpisodeConfig,
    saved: Mapping[str, Any] | None = None,
    now: str,
) -> dict[str, Any]:
    """The state with what the open needs: $.singleFlight, $.original, $.queue, $.tracking,
    $.settingsRecord when the settings are recorded, $.schedule and a fresh $.episode when the
    circuit opens (not for a hold or a close), and $.commandFrom for a command that replaced a
    lease (transition events)."""
    started = state.get("started")
    execution = started.get("execution") if isinstance(started, Mapping) else None
    if not isinstance(execution, str):
        raise LoopStateError("$.started.execution is missing from the state machine's state")
    new = copy.deepcopy(dict(state))
    new["singleFlight"] = {"self": execution}
    if "previousLease" in state:  # a command
        new["commandFrom"] = command_from(state["previousLease"])
    problem = mapping_problem(mapping, config)
    if problem is not None:
        new["error"] = inconsistent_error(mapping, config, problem)
        new["step"] = {"next": INCONSISTENT}
        return new
    scaling, types = remembered_settings(mapping, saved)
    mapping_state = str(mapping.get("State", ""))
    new["original"] = {
        "state": mapping_state,
        "mapping": dict(mapping),
        "scalingConfig": scaling,
        "responseTypes": types,
    }
    new["queue"] = queue_budget(attributes, config.retention_margin_seconds)
    new["tracking"] = dict(INITIAL_TRACKING)
    step = next_open_step(state.get("command"), mapping_state)
    if step in (SAVE_AND_OPEN, OPEN):
        new["schedule"] = copy.deepcopy(episode.schedule)
        new["episode"] = new_episode(episode, new["queue"]["visibilityTimeoutSeconds"])
        new.update(first_guard(episode, new["episode"], new["queue"]))
    if step == CLOSE:
        new["closeReason"] = forced_close_reason(state, command_from(state.get("previousLease")))
    if step in (SAVE_AND_OPEN, SAVE_AND_HOLD):
        new["settingsRecord"] = {
            "scalingConfig": scaling,
            "responseTypes": types,
            "at": now,
            "execution": execution,
        }
    new["step"] = {"next": step}
    return new


def announce_opening(new: dict[str, Any], events: Any, transitions: TaskEvents) -> None:
    """The transition event of an open (CLOSED -> OPEN) or a hold (-> HELD, from the state the
    command takes the circuit from), as the task decides it; a failed put is recorded in
    $.eventError (best effort)."""
    if new["step"]["next"] in (SAVE_AND_OPEN, OPEN):
        transition = {
            "from_state": "CLOSED",
            "to_state": "OPEN",
            "reason": "alarm",
            "note": str(new["tracking"]["openReason"]),
            "attempt": 0,
        }
    else:
        transition = {
            "from_state": str(new.get("commandFrom", "CLOSED")),
            "to_state": "HELD",
            "reason": "hold",
            "note": operator_note(new),
            "attempt": None,
        }
    if not announce_transition(events, transitions, **transition):
        new["eventError"] = not_published()
    # an episode whose first wait could already outlive the backlog gives up at once
    missed = announce_give_ups(events, transitions, new, "")
    if missed is not None:
        new["eventError"] = missed


def run_open_read(
    state: Mapping[str, Any],
    config: OpenConfig,
    *,
    episode: EpisodeConfig,
    lambda_client: Any,
    sqs: Any,
    ssm: Any,
    now: str,
    cloudwatch: Any = None,
    metric: MetricRef | None = None,
    events: Any = None,
    transitions: TaskEvents | None = None,
) -> dict[str, Any]:
    """Read the mapping, the recorded settings (during a ramp only) and the queue, in that order,
    then decide (after_open_read), and record the settings when the decision says so. Nothing
    else is changed here."""
    try:
        mapping = json_safe(lambda_client.get_event_source_mapping(UUID=config.mapping_uuid))
    except AWS_ERRORS as exc:
        raise CheckError(
            f"GetEventSourceMapping {config.mapping_uuid} failed: {error_message(exc)}"
        ) from exc
    if mapping_problem(mapping, config) is not None:
        # nothing more to read
        return after_open_read(state, mapping, {}, config, episode=episode, now=now)
    saved, saved_error = None, None
    if ramp_in_progress(mapping, config):
        saved, saved_error = read_saved(ssm, config.settings_parameter)
    try:
        attributes = sqs.get_queue_attributes(
            QueueUrl=config.queue_url,
            AttributeNames=["MessageRetentionPeriod", "VisibilityTimeout"],
        )["Attributes"]
    except (*AWS_ERRORS, KeyError) as exc:
        raise CheckError(
            f"GetQueueAttributes of {config.queue_url} failed: {error_message(exc)}"
        ) from exc
    new = after_open_read(state, mapping, attributes, config, episode=episode, saved=saved, now=now)
    if saved_error is not None:
        new["settingsError"] = saved_error
    if "settingsRecord" in new:
        record_error = record_settings(ssm, config.settings_parameter, new["settingsRecord"])
        if record_error is not None:
            new["settingsError"] = record_error
    if metric is not None and new["step"]["next"] in OPENING_STEPS:
        # CircuitState 1 as the circuit opens (or is held): the disable follows at once, and
        # if it fails, the failure path publishes 0 as it closes
        metric_error = metric.publish_state(cloudwatch, 1)
        if metric_error is not None:
            new["observabilityError"] = metric_error
    if transitions is not None and new["step"]["next"] in OPENING_STEPS:
        announce_opening(new, events, transitions)
    log.info("open read", next=new["step"]["next"], mappingState=mapping.get("State"))
    return new


def open_handler(event: Mapping[str, Any]) -> dict[str, Any]:
    """The ClaimEpisode task: the claim (claim.py), then, once this execution owns the episode,
    the open read. Every config is parsed first (a malformed one changes nothing). Without
    `claim`: a definition older than this code, which claims in a task of its own."""
    config = OpenConfig.parse(event.get("open"))
    episode = EpisodeConfig.parse(event.get("episode"))
    metric = MetricRef.parse(event.get("stateMetric"), "stateMetric")
    transitions = TaskEvents.parse(event.get("transitionEvents"))
    if "claim" in event:
        state = claim_handler(event)
        if state["claim"].get("outcome") != CLAIMED:
            return state
    else:
        state = _state(event)
    return run_open_read(
        state,
        config,
        episode=episode,
        lambda_client=aws.client("lambda", None, CHECK_CONFIG),
        sqs=aws.client("sqs", None, CHECK_CONFIG),
        ssm=aws.client("ssm", None, CHECK_CONFIG),
        now=now_text(),
        cloudwatch=aws.client("cloudwatch", None, CHECK_CONFIG),
        metric=metric,
        events=aws.client("events", None, PUT_EVENTS_CONFIG),
        transitions=transitions,
    )
