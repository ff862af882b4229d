"""Single flight (the ClaimEpisode task): exactly one execution owns an episode.

An alarm execution first reads the control marker (held open by an operator: the alarm is
ignored), then takes the lease: one DynamoDB item per circuit, written with a condition (exact,
unlike ListExecutions, which AWS documents as eventually consistent). The answer, in
`$.claim.outcome`:

- `claimed`: the lease was free, or already this execution's (a retried write that had
  succeeded), or its holder ended without releasing it (stopped, timed out, failed), or it only
  watches the alarm after a close and this alarm event is newer than that close (a second wave);
- `recheck`: the holder runs. It may be ending right now, after its last look at the alarm: the
  state machine waits `$.claim.waitSeconds` (jittered, so executions one alarm event started
  together do not retry in lockstep) and claims again, a few times;
- `duplicate`: the holder still runs after the rechecks, or the lease kept changing hands:
  another execution handles the episode; this one ends without side effects;
- `ignored_held`: held open by an operator (the marker says so; or the lease's phase says so
  and the marker is unreadable): the alarm neither opens nor closes anything;
- `superseded`: the close a timed hold started at its end found a later command owning the
  circuit (commands.py): it changes nothing.

An operator command (hold, close: its input has `command`) claims differently (commands.py):
it writes the control marker, then takes the lease whatever holds it (a timed hold's close: only
from that hold).

The decisions are the pure functions below; `run_claim` makes the calls. A lease call that fails
for another reason than its condition raises CheckError (the task is retried, then the failure
path notifies that nothing was opened). An unreadable marker never keeps the breaker from opening.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from commands import command_claim
from common import aws
from common.aws import AWS_ERRORS, error_code, error_message
from common.log import get_logger
from lease import Lease, now_text
from loop import LoopStateError
from step import CHECK_CONFIG, CheckError, _config_fields, _state

log = get_logger("sqs-circuit-breaker.probe")


CLAIMED = "claimed"
RECHECK = "recheck"
DUPLICATE = "duplicate"
IGNORED_HELD = "ignored_held"
SUPERSEDED = "superseded"

# What a read of the held lease leads to (judge_lease).
RETRY = "retry"  # released meanwhile: take it again
OURS = "ours"
TAKE_OVER_FROM_WATCH = "take_over_from_watch"
ASK_HOLDER = "ask_holder"  # is the holder still running?


@dataclass(frozen=True)
class ClaimConfig:
    """The claim's settings, rendered by Terraform into the ClaimEpisode task's payload."""

    lease_table: str
    circuit: str
    control_parameter: str
    lease_attempts: int
    rechecks: int
    recheck_min_seconds: int
    recheck_max_seconds: int

    @classmethod
    def parse(cls, value: Any) -> ClaimConfig:
        f = _config_fields(
            value,
            "claim",
            ("leaseTable", "circuit", "controlParameter"),
            ("leaseAttempts", "rechecks", "recheckMinSeconds", "recheckMaxSeconds"),
        )
        if f["recheckMinSeconds"] > f["recheckMaxSeconds"]:
            raise LoopStateError(
                "claim.recheckMinSeconds must not exceed claim.recheckMaxSeconds, got"
                f" {f['recheckMinSeconds']} > {f['recheckMaxSeconds']}"
            )
        return cls(
            lease_table=f["leaseTable"],
            circuit=f["circuit"],
            control_parameter=f["controlParameter"],
            lease_attempts=f["leaseAttempts"],
            rechecks=f["rechecks"],
            recheck_min_seconds=f["recheckMinSeconds"],
            recheck_max_seconds=f["recheckMaxSeconds"],
        )


def parse_marker(value: str | None) -> Mapping[str, Any] | None:
    """The control marker's record (commands.control_record), or None when it is unreadable (no
    value, not JSON, not a JSON object)."""
    if value is None:
        return None
    try:
        marker = json.loads(value)
    except ValueError:
        return None
    return marker if isinstance(marker, Mapping) else None


def control_mode(value: str | None) -> str | None:
    """The marker's mode ('hold', 'auto', ...), '' for a readable marker without one, or None when
    the marker is unreadable."""
    marker = parse_marker(value)
    if marker is None:
        return None
    mode = marker.get("mode")
    return mode if isinstance(mode, str) else ""


def _timestamp(value: Any) -> dt.datetime | None:
    """An RFC 3339 timestamp with its offset (as Step Functions' IsTimestamp wants), else None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _text(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value.get("S") if isinstance(value, Mapping) else None


def judge_lease(
    item: Mapping[str, Any] | None, execution: str, *, control_unreadable: bool, alarm_time: Any
) -> str:
    """What to do about a lease the conditional write found held (`item`: GetItem's Item).

    Released meanwhile: try again. Ours: act. Held by an operator and the marker unreadable:
    ignore the alarm (a readable marker that is not a hold means the hold was lifted by hand, and
    the ended hold's lease is stale). Only watching after a close, and this alarm event is newer
    than the close: a second wave, take it over. Otherwise ask whether the holder still runs."""
    holder = _text(item, "holder") if item else None
    if holder is None:
        return RETRY
    if holder == execution:
        return OURS
    phase = _text(item, "phase") if item else None
    if phase == "held" and control_unreadable:
        return IGNORED_HELD
    if phase == "watch" and item:
        closed, alarmed = _timestamp(_text(item, "closedAt")), _timestamp(alarm_time)
        if closed is not None and alarmed is not None and alarmed > closed:
            return TAKE_OVER_FROM_WATCH
    return ASK_HOLDER


def after_running_holder(state: Mapping[str, Any], config: ClaimConfig) -> tuple[str, int]:
    """The holder runs: recheck (the next count) while rechecks are left, else a duplicate."""
    previous = state.get("claim")
    count = previous.get("rechecks", 0) if isinstance(previous, Mapping) else 0
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise LoopStateError(f"$.claim.rechecks must be a non-negative integer, got {count!r}")
    return (RECHECK, count + 1) if count < config.rechecks else (DUPLICATE, count)


def holder_status(sfn: Any, holder: str) -> str:
    """The holder execution's status (GONE when it no longer exists: it owns nothing)."""
    try:
        return str(sfn.describe_execution(executionArn=holder)["status"])
    except AWS_ERRORS as exc:
        if error_code(exc) == "ExecutionDoesNotExist":
            return "GONE"
        raise CheckError(f"DescribeExecution of {holder} failed: {error_message(exc)}") from exc


def read_control(ssm: Any, name: str) -> str | None:
    """The control marker's value, None when unreadable (logged: the breaker acts as without)."""
    try:
        return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    except (*AWS_ERRORS, KeyError, TypeError) as exc:
        log.warning("control marker unreadable: acting as without one", error=error_message(exc))
        return None


# The outcome of an execution that its claim ends ($.outcome: the Ended state).
ENDS = {DUPLICATE: "duplicate", IGNORED_HELD: "alarm_ignored_held"}


def with_outcome(new: dict[str, Any]) -> dict[str, Any]:
    """The claimed state with `$.outcome` when the claim ends the execution (a duplicate, an
    alarm ignored during a hold)."""
    outcome = new["claim"].get("outcome")
    if outcome in ENDS:
        new["outcome"] = ENDS[outcome]
    return new


def run_claim(
    state: Mapping[str, Any],
    config: ClaimConfig,
    *,
    dynamodb: Any,
    ssm: Any,
    sfn: Any,
    now: str,
    rand: Callable[[int, int], int] = random.randint,
) -> dict[str, Any]:
    """Claim the episode for this execution; the state with `$.claim` (outcome, how, holder,
    the rechecks so far, the next wait). A command claims as commands.py says."""
    started = state.get("started")
    execution = started.get("execution") if isinstance(started, Mapping) else None
    if not isinstance(execution, str):
        raise LoopStateError("$.started.execution is missing from the state machine's state")
    new = dict(state)
    if "command" in state:
        new["previousLease"], mode = command_claim(
            state,
            table=config.lease_table,
            circuit=config.circuit,
            control_parameter=config.control_parameter,
            dynamodb=dynamodb,
            ssm=ssm,
            now=now,
        )
        if new["previousLease"] is None:
            del new["previousLease"]
            new["claim"] = {"outcome": SUPERSEDED, "how": "the timed hold no longer owns it"}
            return new
        new["claim"] = {"outcome": CLAIMED, "how": "command", "control": mode}
        return new
    previous = state.get("claim")
    rechecks = previous.get("rechecks", 0) if isinstance(previous, Mapping) else 0
    claim: dict[str, Any] = {"rechecks": rechecks}
    new["claim"] = claim

    mode = control_mode(read_control(ssm, config.control_parameter))
    claim["control"] = "unreadable" if mode is None else (mode or "auto")
    if mode == "hold":
        claim.update(outcome=IGNORED_HELD, how="control marker")
        return new

    lease = Lease(dynamodb, config.lease_table, config.circuit, execution, now)
    for attempt in range(1, config.lease_attempts + 1):
        claim["attempts"] = attempt
        if lease.take("attribute_not_exists(holder)"):
            claim.update(outcome=CLAIMED, how="free")
            return new
        item = lease.read()
        holder = _text(item, "holder") if item else None
        claim["holder"] = holder
        verdict = judge_lease(
            item, execution, control_unreadable=mode is None, alarm_time=state.get("time")
        )
        if verdict == RETRY:
            continue
        if verdict == OURS:
            claim.update(outcome=CLAIMED, how="ours")
            return new
        if verdict == IGNORED_HELD:
            claim.update(outcome=IGNORED_HELD, how="lease held, control marker unreadable")
            return new
        values = {":holder": {"S": holder}}
        if verdict == TAKE_OVER_FROM_WATCH:
            # only while the holder still watches: if it re-opens itself, it keeps the episode
            values[":watch"] = {"S": "watch"}
            if lease.take("holder = :holder AND phase = :watch", values):
                claim.update(outcome=CLAIMED, how="took over from the watch")
                return new
            continue
        status = holder_status(sfn, str(holder))
        claim["holderStatus"] = status
        if status != "RUNNING":
            # compare-and-set: of several executions that found it ended, exactly one takes it
            if lease.take("holder = :holder", values):
                claim.update(outcome=CLAIMED, how="took over a stale lease")
                return new
            continue
        outcome, count = after_running_holder(state, config)
        claim.update(outcome=outcome, how="the holder runs", rechecks=count)
        if outcome == RECHECK:
            claim["waitSeconds"] = rand(config.recheck_min_seconds, config.recheck_max_seconds)
        return new
    claim.update(outcome=DUPLICATE, how="the lease kept changing hands")
    return new


def with_started(state: Mapping[str, Any], started: Any) -> dict[str, Any]:
    """The state with `$.started` (the execution, its start time and name: the task's `started`,
    from the context object), which every later step names the execution by. A state that has
    one keeps it (a definition older than this code records it in a state of its own)."""
    new = dict(state)
    if "started" in new:
        return new
    if not isinstance(started, Mapping) or not all(
        isinstance(started.get(k), str) and started.get(k) for k in ("execution", "at", "name")
    ):
        raise LoopStateError(f"started must name the execution, its start and name: {started!r}")
    new["started"] = dict(started)
    return new


def claim_handler(event: Mapping[str, Any]) -> dict[str, Any]:
    config = ClaimConfig.parse(event.get("claim"))
    now = now_text()
    new = run_claim(
        with_started(_state(event), event.get("started")),
        config,
        dynamodb=aws.client("dynamodb", None, CHECK_CONFIG),
        ssm=aws.client("ssm", None, CHECK_CONFIG),
        sfn=aws.client("stepfunctions", None, CHECK_CONFIG),
        now=now,
    )
    log.info("claim", **{k: v for k, v in new["claim"].items() if k != "control"})
    return with_outcome(new)
