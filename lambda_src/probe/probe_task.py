"""The probe loop's task (Probe), one invocation of this function: the check (step.py: history,
lease, mapping, heartbeat), then the half-open test (probe.run_probe) and the decision on its
verdict (loop.after_probe). Before a recovery, the lease again (a command given during the probe
supersedes it), then CircuitState 0.5 with a rejitter or a ramp; a give-up is announced
(OPEN -> GAVE UP) while the invocation has time.

The state machine's whole state in, changed out (the task's ResultPath is "$"); a check that
did not lead to a probe (hand over, superseded, close) is the task's answer.

The check's reads take the probe's time: a few hundred milliseconds, seconds when an API is slow
(CHECK_CONFIG bounds them). The probe waits for the protected function's answer only as long as
the invocation has left (invoke.invoke_read_timeout): a function that answers later is unhealthy
for this probe (probed again; never a close on a slow check).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from common import aws
from common.log import get_logger
from loop import (
    GIVE_UP_ATTEMPTS,
    GIVE_UP_RETENTION,
    PROBE,
    RECOVER,
    LoopConfig,
    LoopStateError,
    after_probe,
    before_probe,
    before_recovery,
    given_up_at_once,
    state_part,
)
from step import CHECK_CONFIG, MetricRef, _config_fields, _state, check_handler, read_lease
from transitions import (
    EVENT_BUDGET_S,
    PUT_EVENTS_CONFIG,
    TaskEvents,
    TransitionConfigError,
    announce_give_ups,
)

log = get_logger("sqs-circuit-breaker.probe")


@dataclass(frozen=True)
class LeaseRef:
    """Where the episode's lease is (the Probe task's `lease`)."""

    lease_table: str
    circuit: str

    @classmethod
    def parse(cls, value: Any) -> LeaseRef:
        f = _config_fields(value, "lease", ("leaseTable", "circuit"), ())
        return cls(lease_table=f["leaseTable"], circuit=f["circuit"])


def checked(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The Probe task's event with the check's answer as its state (`check`). Without it: a
    definition older than this code, whose check is a task of its own."""
    if "check" not in event:
        return event
    return {**event, "state": check_handler(event)}


def probe_request(state: Mapping[str, Any], request: Any) -> dict[str, Any]:
    """The probe's input: the rendered request, with what the open read (the function the
    mapping invokes, its response types, the mapping) and what this attempt adds (the failure
    visibility, and the attempt the transition events name). A definition older than this code
    renders the open's reads into the request itself."""
    if not isinstance(request, Mapping):
        raise LoopStateError("request (the probe's input) must be an object")
    episode = state["episode"]
    original = state_part(state, "original")
    mapping = original.get("mapping")
    if not isinstance(mapping, Mapping):
        raise LoopStateError(f"$.original.mapping must be an object, got {mapping!r}")
    new = {
        "functionName": mapping.get("FunctionArn"),
        "functionResponseTypes": original.get("responseTypes"),
        "mapping": mapping,
        **request,
    }
    new["failureVisibilityTimeout"] = episode["failureVisibilityTimeout"]
    events = new.get("transitionEvents")
    if isinstance(events, Mapping):
        new["transitionEvents"] = {**events, "attempt": int(episode.get("attempt", 0)) + 1}
    return new


# A give-up's event is put only while the invocation has the event's budget and a second left
# (a Lambda timeout would fail the task, and its retry would probe again).
EVENT_TIME_LEFT_MS = int((EVENT_BUDGET_S + 1) * 1000)


def _events_client() -> Any:
    return aws.client("events", None, PUT_EVENTS_CONFIG)


def task_events(request: Any) -> TaskEvents | None:
    """Where the Probe task announces its give-ups: the probe's transitionEvents, with its
    queue (none without a bus)."""
    if not isinstance(request, Mapping) or request.get("transitionEvents") is None:
        return None
    events = request["transitionEvents"]
    if not isinstance(events, Mapping):
        raise LoopStateError("request.transitionEvents must be an object")
    return TaskEvents.parse({**events, "queue": request.get("queueArn")})


def _announce_give_up(
    event: Mapping[str, Any],
    new: Mapping[str, Any],
    config: LoopConfig,
    events_client: Any,
    remaining_ms: Callable[[], int] | None,
) -> dict[str, str] | None:
    """The give-up the probe step decided, announced (with a bus). Never raises: the probe has
    run, and a failed task would be retried, probing again."""
    try:
        target = task_events(event.get("request"))
    except (TransitionConfigError, LoopStateError) as exc:
        log.warning("give-up not announced: transitionEvents is malformed", error=str(exc))
        return {"Error": "TransitionConfigError", "Cause": str(exc)}
    if target is None:
        return None
    return announce_give_ups(
        events_client if events_client is not None else _events_client(),
        target,
        new,
        config.give_up_action,
        time_left=lambda: remaining_ms is None or remaining_ms() > EVENT_TIME_LEFT_MS,
    )


def probe_step(
    event: Mapping[str, Any],
    probe: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    rand: Callable[[int, int], int] = random.randint,
    now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    dynamodb: Any = None,
    cloudwatch: Any = None,
    events_client: Any = None,
    remaining_ms: Callable[[], int] | None = None,
) -> dict[str, Any]:
    """Probe once and decide; before a recovery, read the lease (still this execution's?), then
    (with a rejitter or a ramp) publish CircuitState 0.5: recovering; a give-up is announced
    (with a bus, while the function's time allows). A check that did not lead to a probe passes
    through untouched."""
    state = _state(event)
    step = state.get("step")
    if not isinstance(step, Mapping) or step.get("next") != PROBE:
        return state
    config = LoopConfig.parse(event.get("loop"))
    lease = LeaseRef.parse(event.get("lease"))
    metric = MetricRef.parse(event.get("recoveryMetric"), "recoveryMetric")
    given_up = given_up_at_once(state)
    if given_up is not None:
        log.info("gave up on the retention before probing", next=given_up["step"]["next"])
        return given_up
    ready = before_probe(state, now_ms())
    result = probe(probe_request(ready, event.get("request")))
    new = after_probe(ready, result, config, rand, now_ms())
    if new["step"]["next"] in (GIVE_UP_ATTEMPTS, GIVE_UP_RETENTION):
        missed = _announce_give_up(event, new, config, events_client, remaining_ms)
        if missed is not None:
            new["eventError"] = missed
    if new["step"]["next"] == RECOVER:
        client = dynamodb if dynamodb is not None else aws.client("dynamodb", None, CHECK_CONFIG)
        new = before_recovery(new, read_lease(client, lease))
    if new["step"]["next"] == RECOVER and metric is not None:
        client = (
            cloudwatch if cloudwatch is not None else aws.client("cloudwatch", None, CHECK_CONFIG)
        )
        error = metric.publish_state(client, 0.5)
        if error is not None:
            new["observabilityError"] = error
    log.info(
        "probe step finished",
        outcome=result.get("outcome"),
        next=new["step"]["next"],
        attempt=new["episode"].get("attempt"),
        nextWaitSeconds=new["episode"].get("nextWaitSeconds"),
    )
    return new
