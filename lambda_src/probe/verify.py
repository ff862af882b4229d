"""The look after an operator command (the VerifyAfterCommand task, after SettleAfterCommand).

A superseded execution that read the lease just before a hold or a close took it may still change
the mapping within one API call. So a few seconds after it acted, the command looks again: the
control marker (a later command owns the circuit: this one does not look further), then the
mapping. The answer, in `$.step.next`:

- `held`: a hold whose mapping is off, or that a later command superseded (the later one acts);
- `held_until`: the same for a timed hold (`$.holdUntil`: it waits for its end, then starts the
  close; a definition older than this code routes `held` on `$.holdUntil` itself);
- `superseded`: a close that a later command superseded;
- `disable_again`: a hold whose mapping was found on again (disabled again, then looked at once
  more after the settle; `$.disabledAgain` counts them);
- `contested`: a hold whose mapping was found on after `disableAgainLimit` of those: someone
  keeps re-enabling it, so the hold failed (`$.error` says so, and NotifyCommandFailed);
- `enable_again`: a close whose mapping was found off again (re-enabled with the recorded
  settings);
- `watch`: a close whose mapping is on: the watch, as after any close.

An unreadable marker does not stop the look (the command is taken as current); an unreadable
mapping fails the task (CheckError: retried, then VerifyAfterCommandFailed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from claim import parse_marker, read_control
from common import aws
from common.aws import AWS_ERRORS, error_message
from common.log import get_logger
from loop import LoopStateError
from step import CHECK_CONFIG, CheckError, _config_fields, _state

log = get_logger("sqs-circuit-breaker.probe")

HELD = "held"
HELD_UNTIL = "held_until"
# The outcome of an execution that a step ends ($.outcome: the Ended state, or CloseAfterHold).
ENDS = {HELD: "held", HELD_UNTIL: "hold_ended"}
SUPERSEDED = "superseded"
DISABLE_AGAIN = "disable_again"
CONTESTED = "contested"
ENABLE_AGAIN = "enable_again"
WATCH = "watch"

ON_STATES = ("Enabled", "Enabling")
OFF_STATES = ("Disabled", "Disabling")


@dataclass(frozen=True)
class VerifyConfig:
    """The VerifyAfterCommand state's `verify`. `disableAgainLimit`: how often a hold's mapping
    found on is disabled again before the hold is contested; a definition that sets it routes a
    timed hold (`held_until`) and a contested one itself (older ones route `held` on
    $.holdUntil, and trusted a second disable: None)."""

    control_parameter: str
    mapping_uuid: str
    disable_again_limit: int | None = None

    @classmethod
    def parse(cls, value: Any) -> VerifyConfig:
        f = _config_fields(value, "verify", ("controlParameter", "mappingUuid"), ())
        limit = value.get("disableAgainLimit")
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise LoopStateError(f"verify.disableAgainLimit must be a whole number, got {limit!r}")
        return cls(
            control_parameter=f["controlParameter"],
            mapping_uuid=f["mappingUuid"],
            disable_again_limit=limit,
        )


def marker_execution(value: str | None) -> str | None:
    """The execution the control marker names (None: unreadable, or it names none)."""
    marker = parse_marker(value)
    execution = marker.get("execution") if marker is not None else None
    return execution if isinstance(execution, str) else None


def superseded_step(command: str, marker_names: str | None, execution: str) -> str | None:
    """A later command owns the circuit: a hold ends held, a close superseded (else None)."""
    if marker_names is None or marker_names == execution:
        return None
    return HELD if command == "hold" else SUPERSEDED


def mapping_step(command: str, mapping_state: str, *, may_disable_again: bool = True) -> str:
    """Is the mapping as the command left it? (A hold's mapping found on when it may not be
    disabled again: contested.)"""
    if command == "hold" and mapping_state in ON_STATES:
        return DISABLE_AGAIN if may_disable_again else CONTESTED
    if command == "hold":
        return HELD
    return ENABLE_AGAIN if mapping_state in OFF_STATES else WATCH


def disabled_again(state: Mapping[str, Any]) -> int:
    """How often this hold's mapping was disabled again so far ($.disabledAgain)."""
    count = state.get("disabledAgain", 0)
    return count if isinstance(count, int) and not isinstance(count, bool) else 0


def hold_step(step: str, state: Mapping[str, Any], config: VerifyConfig) -> str:
    """`held` as the definition routes it: `held_until` for a timed hold (a definition without
    the limit routes $.holdUntil itself)."""
    if config.disable_again_limit is not None and step == HELD and state.get("holdUntil"):
        return HELD_UNTIL
    return step


def run_verify(
    state: Mapping[str, Any], config: VerifyConfig, *, ssm: Any, lambda_client: Any
) -> dict[str, Any]:
    command = state.get("command")
    started = state.get("started")
    execution = started.get("execution") if isinstance(started, Mapping) else None
    if command not in ("hold", "close") or not isinstance(execution, str):
        raise LoopStateError("$.command (hold or close) and $.started.execution are required")
    new = dict(state)
    names = marker_execution(read_control(ssm, config.control_parameter))
    step = superseded_step(command, names, execution)
    if step is None:
        try:
            mapping = lambda_client.get_event_source_mapping(UUID=config.mapping_uuid)
            current = str(mapping["State"])
        except (*AWS_ERRORS, KeyError) as exc:
            raise CheckError(
                f"GetEventSourceMapping {config.mapping_uuid} failed: {error_message(exc)}"
            ) from exc
        limit = config.disable_again_limit
        again = disabled_again(state)
        new["current"] = {"state": current}
        step = mapping_step(command, current, may_disable_again=limit is None or again < limit)
        if step == DISABLE_AGAIN and limit is not None:
            new["disabledAgain"] = again + 1
        if step == CONTESTED:
            new["error"] = {
                "Error": "CircuitBreaker.HoldContested",
                "Cause": f"event source mapping {config.mapping_uuid} was found {current} after"
                f" the hold disabled it again {again} time(s): something keeps re-enabling it (a"
                " deployment, a person, another tool)",
            }
    step = hold_step(step, state, config)
    new["step"] = {"next": step}
    if step in ENDS:  # the execution ends here (a timed hold: once it has started the close)
        new["outcome"] = ENDS[step]
    log.info("command verified", command=command, next=step, current=new.get("current"))
    return new


def verify_handler(event: Mapping[str, Any]) -> dict[str, Any]:
    return run_verify(
        _state(event),
        VerifyConfig.parse(event.get("verify")),
        ssm=aws.client("ssm", None, CHECK_CONFIG),
        lambda_client=aws.client("lambda", None, CHECK_CONFIG),
    )
