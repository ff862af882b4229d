"""The probe loop's decisions (lambda_src/probe/loop.py) and its two tasks (step.py).

Property tests (hypothesis) of the invariants the three promises rest on: never close while the
last real probe was unhealthy, no wait that ends past the retention budget, the history quota is
never passed (hand over first), a superseded episode never touches the mapping, the backoff is
capped and within the schedule before and after jitter, and the input state is never changed.
"""

from __future__ import annotations

import copy
import json
import math
import re
from typing import Any

import probe_task
import pytest
from handover import (
    CONTINUATION_FIELDS,
    PRESENT,
    STRING,
    InvalidContinuation,
    continuation_problems,
    with_hand_over,
)
from hypothesis import given
from hypothesis import strategies as st
from loop import (
    CLOSE,
    GIVE_UP_ATTEMPTS,
    GIVE_UP_RETENTION,
    HAND_OVER,
    INVALID,
    PROBE,
    RECOVER,
    SUPERSEDED,
    UNREADABLE,
    WAIT,
    LoopConfig,
    LoopStateError,
    after_check,
    after_probe,
    before_probe,
    before_recovery,
    given_up_at_once,
    next_wait,
)
from probe_task import checked, probe_request, probe_step
from sqscb_fakes import (
    RecordingCloudWatch,
    RecordingEvents,
    Scripted,
    client_error,
    path_holder,
)
from step import CheckConfig, CheckError, run_check
from transitions import give_up_transitions

ME = "arn:aws:states:us-east-1:123456789012:execution:orders-cb:me"
OTHER = "arn:aws:states:us-east-1:123456789012:execution:orders-cb:other"
HANDOVER = 20_000
NOW = 1_800_000_000_000  # ms since the epoch


def schedule(initial: int = 30, rate: float = 2, cap: int = 900, attempts: int = 10) -> dict:
    """As modules/state-machine/main.tf computes it."""
    waits = [max(1, int(min(cap, initial * rate**i))) for i in range(attempts)]
    base = [w // 2 for w in waits]
    return {
        "waits": waits,
        "base": base,
        "spread": [max(1, w - b) for w, b in zip(waits, base, strict=True)],
        "visibility": [min(43200, w + 30) for w in waits],
    }


FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:f"


def a_state(**episode: Any) -> dict[str, Any]:
    return {
        "started": {"execution": ME},
        "singleFlight": {"self": ME},
        "original": {
            "mapping": {"FunctionArn": FUNCTION, "UUID": "m-1"},
            "scalingConfig": {},
            "responseTypes": ["ReportBatchItemFailures"],
            "state": "Enabled",
        },
        "queue": {
            "budgetSeconds": 345_600 - 3_600,
            "retentionSeconds": 345_600,
            "visibilityTimeoutSeconds": 30,
        },
        "schedule": schedule(attempts=episode.get("maxAttempts", 10)),
        "episode": {
            "attempt": 0,
            "maxAttempts": 10,
            "scheduleIndex": 0,
            "stayingOpen": False,
            "elapsedSeconds": 0,
            "nextWaitSeconds": 60,
            **episode,
        },
        "guard": {"projectedSeconds": 120},
        "tracking": {"loops": 0, "reopens": 0, "openSeconds": 0, "openReason": "alarm"},
        "step": {"next": PROBE},
    }


CLOSE_MODE = LoopConfig(give_up_action="close", jitter=True, probe_budget_seconds=60)
STAY_OPEN = LoopConfig(give_up_action="stay_open", jitter=True, probe_budget_seconds=60)


def lease(holder: str | None) -> dict[str, Any]:
    return {"Item": {"circuit": {"S": "orders"}, "holder": {"S": holder}}} if holder else {}


def unhealthy(age: float = 0) -> dict[str, Any]:
    return {"outcome": "unhealthy", "reason": "function error", "messageAgeSeconds": age}


# ---- after the wait -----------------------------------------------------------------------------
@given(events=st.integers(min_value=0, max_value=30_000))
def test_past_the_threshold_the_episode_hands_over_before_anything(events):
    new = after_check(
        a_state(),
        history_events=events,
        handover_events=HANDOVER,
        lease=lease(OTHER),
        mapping_state="Enabled",
    )
    assert (new["step"]["next"] == HAND_OVER) == (events >= HANDOVER)


@given(
    holder=st.one_of(st.none(), st.just(OTHER), st.text(max_size=5)),
    mapping=st.sampled_from(["Enabled", "Enabling", "Disabled", "Disabling", "Updating"]),
)
def test_a_superseded_episode_never_gets_to_the_mapping(holder, mapping):
    new = after_check(
        a_state(),
        history_events=10,
        handover_events=HANDOVER,
        lease=lease(holder),
        mapping_state=mapping,
    )
    assert new["step"]["next"] == SUPERSEDED
    assert "closeReason" not in new and new["tracking"] == a_state()["tracking"]


def test_an_unreadable_lease_does_not_stop_the_episode():
    new = after_check(
        a_state(),
        history_events=10,
        handover_events=HANDOVER,
        lease=UNREADABLE,
        mapping_state="Disabled",
    )
    assert new["step"]["next"] == PROBE


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [("Enabled", CLOSE), ("Enabling", CLOSE), ("Updating", PROBE), ("Disabled", PROBE)],
)
def test_only_enabled_or_enabling_means_reenabled_elsewhere(mapping, expected):
    new = after_check(
        a_state(),
        history_events=10,
        handover_events=HANDOVER,
        lease=lease(ME),
        mapping_state=mapping,
    )
    assert new["step"]["next"] == expected
    if expected == CLOSE:
        assert new["closeReason"] == {"reason": "reenabled_elsewhere", "from": "OPEN", "note": ""}


def test_a_loop_that_probes_is_counted_with_its_wait():
    new = after_check(
        a_state(nextWaitSeconds=45),
        history_events=10,
        handover_events=HANDOVER,
        lease=lease(ME),
        mapping_state="Disabled",
    )
    assert new["tracking"]["loops"] == 1 and new["tracking"]["openSeconds"] == 45


# ---- after the probe ----------------------------------------------------------------------------
@st.composite
def episodes(draw) -> dict[str, Any]:
    max_attempts = draw(st.integers(min_value=1, max_value=12))
    attempt = draw(st.integers(min_value=0, max_value=max_attempts - 1))
    state = a_state(
        attempt=attempt,
        maxAttempts=max_attempts,
        scheduleIndex=attempt,
        stayingOpen=draw(st.booleans()),
        elapsedSeconds=draw(st.integers(min_value=0, max_value=400_000)),
    )
    state["schedule"] = schedule(
        initial=draw(st.integers(min_value=1, max_value=900)),
        rate=draw(st.sampled_from([1, 1.5, 2, 3])),
        cap=draw(st.integers(min_value=1, max_value=43_000)),
        attempts=max_attempts,
    )
    state["queue"]["budgetSeconds"] = draw(st.integers(min_value=0, max_value=1_209_600))
    return before_probe(state, NOW)


randoms = st.integers(min_value=0, max_value=2**31)


def rand_from(seed: int):
    return lambda low, high: low + seed % (high - low + 1)


@given(
    state=episodes(),
    age=st.integers(min_value=0, max_value=1_300_000)
    | st.floats(min_value=0, max_value=1_300_000, allow_nan=False),
    seed=randoms,
    config=st.sampled_from([CLOSE_MODE, STAY_OPEN]),
    spent=st.integers(min_value=0, max_value=900_000),
)
def test_an_unhealthy_probe_never_closes_and_no_wait_ends_past_the_retention_budget(
    state, age, seed, config, spent
):
    before = copy.deepcopy(state)
    new = after_probe(state, unhealthy(age), config, rand_from(seed), NOW + spent)
    assert state == before  # the input is never changed
    assert new["step"]["next"] in (WAIT, GIVE_UP_ATTEMPTS, GIVE_UP_RETENTION)
    if new["step"]["next"] == WAIT:
        assert "closeReason" not in new
    else:  # never a healthy close: a give-up's reason, from GAVE UP
        # (a stay_open give-up whose next wait could outlive the backlog: the next Probe task
        # gives up on the retention at once, and closes for it)
        exceeded = new["guard"]["exceeded"]
        on_attempts = new["step"]["next"] == GIVE_UP_ATTEMPTS
        reason = (
            "max_attempts"
            if on_attempts and not (exceeded and config == STAY_OPEN)
            else "retention"
        )
        assert new["closeReason"] == {"reason": reason, "from": "GAVE UP", "note": ""}
    episode = new["episode"]
    assert episode["attempt"] == before["episode"]["attempt"] + 1
    # the probe's own time counts (the wall clock), and an older message's age
    at_least = max(math.ceil(age), before["episode"]["elapsedSeconds"] + spent // 1000)
    assert episode["elapsedSeconds"] >= at_least
    ends = episode["elapsedSeconds"] + episode["nextWaitSeconds"] + config.probe_budget_seconds
    # every way back to a wait carries the guard of that wait: the loop's own, and a give-up's
    # (stay_open: the next Probe task gives up at once when it is exceeded)
    projected = new["guard"]["projectedSeconds"]
    assert new["guard"]["exceeded"] is (projected > before["queue"]["budgetSeconds"])
    if new["guard"]["exceeded"]:
        assert episode["nextWaitSeconds"] == 0  # no wait ends past the retention budget
        assert new["step"]["next"] != WAIT
    else:
        assert projected == ends <= before["queue"]["budgetSeconds"]
    if new["step"]["next"] == GIVE_UP_ATTEMPTS:
        assert episode["attempt"] == episode["maxAttempts"] and not (
            config == STAY_OPEN and before["episode"]["stayingOpen"]
        )
        # stay_open gives up once: from now on the episode stays open and keeps probing
        if config == STAY_OPEN:
            assert episode["stayingOpen"] is True


@given(state=episodes(), seed=randoms, jitter=st.booleans())
def test_the_backoff_stays_within_the_schedule_and_is_capped(state, seed, jitter):
    index = state["episode"]["scheduleIndex"]
    wait = next_wait(state, index, jitter, rand_from(seed))
    waits = state["schedule"]["waits"]
    assert state["schedule"]["base"][index] * jitter <= wait <= waits[index] <= max(waits)
    assert waits == sorted(waits)  # monotone before jitter
    assert (
        next_wait(state, 10_000, jitter, rand_from(seed)) <= waits[-1]
    )  # never past the last entry


@given(state=episodes(), seed=randoms)
def test_attempts_give_up_exactly_at_the_limit_in_close_mode(state, seed):
    new = after_probe(state, unhealthy(), CLOSE_MODE, rand_from(seed), NOW)
    reached = state["episode"]["attempt"] + 1 >= state["episode"]["maxAttempts"]
    assert (new["step"]["next"] == GIVE_UP_ATTEMPTS) == reached
    if not reached:
        assert new["episode"]["scheduleIndex"] == new["episode"]["attempt"]


def test_a_stay_open_episode_that_gave_up_keeps_probing_at_the_capped_interval():
    state = before_probe(a_state(attempt=10, scheduleIndex=9, stayingOpen=True), NOW)
    new = after_probe(state, unhealthy(), STAY_OPEN, lambda low, high: high, NOW)
    assert new["step"]["next"] == WAIT and new["episode"]["scheduleIndex"] == 9
    assert new["episode"]["nextWaitSeconds"] == state["schedule"]["waits"][9]


@pytest.mark.parametrize("outcome", ["healthy", "empty"])
def test_a_healthy_or_empty_probe_recovers_from_half_open(outcome):
    new = after_probe(
        before_probe(a_state(), NOW), {"outcome": outcome}, CLOSE_MODE, rand_from(0), NOW
    )
    assert new["step"]["next"] == RECOVER
    assert new["closeReason"] == {"reason": outcome, "from": "HALF-OPEN", "note": ""}
    assert new["probe"] == {"result": {"outcome": outcome}}
    assert new["step"]["outcome"] == outcome  # this step probed (the tests' probe_outcome)


@given(
    outcome=st.one_of(st.none(), st.text(max_size=10)).filter(
        lambda o: o not in ("healthy", "empty", "unhealthy")
    )
)
def test_any_other_verdict_takes_the_failure_path(outcome):
    new = after_probe(
        before_probe(a_state(), NOW), {"outcome": outcome}, CLOSE_MODE, rand_from(0), NOW
    )
    assert new["step"]["next"] == INVALID and "closeReason" not in new


@given(
    gaps=st.lists(st.integers(min_value=0, max_value=3_600_000), min_size=1, max_size=40),
    seed=randoms,
)
def test_the_time_spent_is_the_wall_clocks_without_drift(gaps, seed):
    """However the loops split the time, the episode's elapsed seconds are the wall clock's (the
    first probe's projection, then every second that passed), never a sum of budgets."""
    state = a_state()
    state["queue"]["budgetSeconds"] = 10**9
    first = before_probe(state, NOW)
    assert first["episode"]["elapsedSeconds"] == state["guard"]["projectedSeconds"]
    now, current = NOW, first
    for gap in gaps:
        now += gap
        current = after_probe(current, unhealthy(), CLOSE_MODE, rand_from(seed), now)
        current["episode"]["maxAttempts"] = 10**6  # keep probing
        current = before_probe(current, now)
    elapsed = current["episode"]["elapsedSeconds"]
    assert elapsed == state["guard"]["projectedSeconds"] + (now - NOW) // 1000


def test_the_probe_runs_with_the_projected_time_and_the_attempts_visibility():
    state = before_probe(a_state(attempt=2, scheduleIndex=2), NOW)
    assert state["episode"]["elapsedSeconds"] == 120
    assert state["episode"]["failureVisibilityTimeout"] == schedule()["visibility"][2]


def test_a_state_without_the_loops_fields_is_refused_with_a_message():
    state = a_state()
    del state["guard"]
    with pytest.raises(LoopStateError, match=r"\$\.guard"):
        before_probe(state, NOW)
    with pytest.raises(LoopStateError, match="giveUpAction"):
        LoopConfig.parse({"giveUpAction": "maybe", "jitter": True, "probeBudgetSeconds": 60})


# ---- the two tasks ------------------------------------------------------------------------------
CHECK = CheckConfig.parse(
    {
        "execution": ME,
        "handoverEvents": HANDOVER,
        "leaseTable": "orders-cb-lease",
        "circuit": "orders",
        "mappingUuid": "u-1",
        "metricNamespace": "SqsCircuitBreaker",
    }
)


def check(history: Any = None, item: Any = None, mapping: Any = None, metrics: Any = None):
    calls = Scripted(
        get_execution_history=history if history is not None else {"events": [{"id": 321}]},
        get_item=item if item is not None else lease(ME),
        get_event_source_mapping=mapping if mapping is not None else {"State": "Disabled"},
        put_metric_data=metrics if metrics is not None else {},
    )
    new = run_check(
        a_state(), CHECK, sfn=calls, dynamodb=calls, lambda_client=calls, cloudwatch=calls
    )
    return new, calls.made


def test_the_check_reads_history_lease_mapping_then_beats():
    new, made = check()
    assert new["step"]["next"] == PROBE and new["history"] == {"events": 321}
    assert "outcome" not in new["step"]  # a check does not probe
    assert made == [
        "get_execution_history",
        "get_item",
        "get_event_source_mapping",
        "put_metric_data",
    ]


def successor_check(update: Any, item: Any) -> tuple[dict, list[str]]:
    calls = Scripted(
        update_item=update,
        get_execution_history={"events": [{"id": 12}]},
        get_item=item,
        get_event_source_mapping={"State": "Disabled"},
    )
    state = {
        **a_state(),
        "continuation": {"phase": "probe", "predecessor": OTHER},
        "started": {"execution": ME, "name": "continued-1"},
    }
    new = run_check(state, CHECK, sfn=calls, dynamodb=calls, lambda_client=calls, cloudwatch=calls)
    return new, calls.made


def test_a_successors_first_check_takes_the_lease_from_its_predecessor_first():
    new, made = successor_check({}, lease(ME))
    assert made[:2] == ["update_item", "get_execution_history"]
    assert new["step"]["next"] == PROBE and "continuation" not in new
    assert new["claim"] == {"outcome": "claimed", "how": "from the predecessor", "holder": OTHER}
    # this execution's own, as its task's context says (the predecessor's guess confirmed)
    assert new["singleFlight"] == {"self": ME}
    assert (new["started"]["execution"], new["started"]["name"]) == (ME, "continued-1")
    # a retried task whose first write had succeeded finds the lease its own: it goes on
    taken = client_error("ConditionalCheckFailedException", "UpdateItem")
    new, made = successor_check(taken, lease(ME))
    assert new["step"]["next"] == PROBE and made[:2] == ["update_item", "get_item"]


@pytest.mark.parametrize("holder", [ME + "-command", None])
def test_a_successor_whose_lease_was_taken_meanwhile_ends_superseded_untouched(holder):
    taken = client_error("ConditionalCheckFailedException", "UpdateItem")
    new, made = successor_check(taken, lease(holder))
    assert new["step"]["next"] == SUPERSEDED and new["outcome"] == "superseded"
    assert made == ["update_item", "get_item"]  # no history, no mapping, no metric
    with pytest.raises(CheckError, match="UpdateItem of the lease failed"):
        successor_check(client_error("ProvisionedThroughputExceededException", "U"), lease(ME))


def test_the_check_of_a_superseded_episode_reads_no_mapping():
    new, made = check(item=lease(OTHER))
    assert new["step"]["next"] == SUPERSEDED and "get_event_source_mapping" not in made


def test_past_the_threshold_the_check_hands_over_without_further_calls():
    new, made = check(history={"events": [{"id": HANDOVER}]})
    assert new["step"]["next"] == HAND_OVER and made == ["get_execution_history"]
    # this execution's outcome (StartSuccessor ends it), the successor's name and input: the
    # probe phase's state as the successor's first check needs it, this execution its
    # predecessor (the successor's first check validates it, then claims from it), the
    # successor's ARN for the failure path
    assert new["outcome"] == "handed_over" and "outcome" not in new["handover"]["input"]
    name = new["handover"]["name"]
    assert name.startswith("continued-") and len(name) <= 80
    successor = ME.rsplit(":", 1)[0] + ":" + name
    state = a_state()
    assert new["handover"]["input"] == {
        "continuation": {"phase": "probe", "predecessor": ME},
        "started": {"execution": successor, "name": name},
        "singleFlight": {"self": successor},
        **{k: state[k] for k in ("original", "queue", "schedule", "episode", "guard")},
        "tracking": new["tracking"],
    }
    again, _ = check(history={"events": [{"id": HANDOVER}]})
    assert again["handover"]["name"] != new["handover"]["name"]  # one successor per hand-over


def test_a_hand_overs_input_is_a_valid_continuation_of_its_phase():
    handed = with_hand_over(a_state(), "probe", "continued-x")["handover"]["input"]
    assert continuation_problems(handed, "probe") == []
    assert continuation_problems(handed, "watch") == [
        f"$.continuation.phase must be 'watch', got {handed['continuation']!r}"
    ]


FORGERIES = [
    (path, kind)
    for path, kind in CONTINUATION_FIELDS["probe"]
    if path != "continuation.predecessor"  # the one field of the continuation itself
]


@pytest.mark.parametrize(("path", "kind"), FORGERIES)
def test_a_forged_continuation_fails_before_any_call(path, kind):
    # RouteCommand sends a continuation to its phase's first task (LookAtAlarm for the watch,
    # else Probe), which checks it before anything else (the watch's fields: test_watch.py): a
    # missing or mistyped path would otherwise fail a state that reads it (the failure path among
    # them) with an uncatchable runtime error. InvalidContinuation is caught into InvalidInput.
    handed = with_hand_over(a_state(), "probe", "continued-x")["handover"]["input"]
    missing = copy.deepcopy(handed)
    holder, last = path_holder(missing, path)
    del holder[last]
    calls = Scripted()
    with pytest.raises(InvalidContinuation, match=re.escape(f"$.{path} is missing")):
        run_check(missing, CHECK, sfn=calls, dynamodb=calls, lambda_client=calls, cloudwatch=calls)
    assert calls.made == []
    if kind != PRESENT:
        holder[last] = [] if kind != STRING else 1
        with pytest.raises(InvalidContinuation, match=re.escape(f"$.{path} must be {kind}")):
            run_check(
                missing, CHECK, sfn=calls, dynamodb=calls, lambda_client=calls, cloudwatch=calls
            )
        assert calls.made == []


@pytest.mark.parametrize("continuation", [None, "probe", {"phase": "watch"}, {"phase": "probe"}])
def test_a_continuation_must_name_its_phase_and_predecessor(continuation):
    state = {**with_hand_over(a_state(), "probe", "x")["handover"]["input"]}
    state["continuation"] = continuation
    assert continuation_problems(state, "probe")
    if isinstance(continuation, dict) and continuation["phase"] == "probe":
        state["continuation"] = {"phase": "probe", "predecessor": ""}
        assert continuation_problems(state, "probe") == [
            "$.continuation.predecessor must name the predecessor"
        ]


def test_a_hand_over_without_the_episode_fails_the_task_rather_than_the_successor():
    state = a_state()
    del state["guard"]
    with pytest.raises(LoopStateError, match=r"\$\.guard is missing"):
        with_hand_over(state, "probe", "continued-x")
    with pytest.raises(LoopStateError, match="phase must be probe or watch"):
        with_hand_over(a_state(), "open", "continued-x")
    with pytest.raises(LoopStateError, match="must be an execution's ARN"):
        with_hand_over({**a_state(), "started": {"execution": "me"}}, "probe", "continued-x")


def test_an_unreadable_history_fails_the_task_rather_than_hand_over_again_and_again():
    with pytest.raises(CheckError, match="GetExecutionHistory"):
        check(history=client_error("AccessDeniedException", "GetExecutionHistory"))


def test_an_unreadable_history_still_ends_a_superseded_episode_without_the_failure_path():
    # the failure path re-enables the mapping: an execution that no longer holds the episode
    # must end superseded, not fail, when the count is unreadable too
    new, made = check(
        history=client_error("AccessDeniedException", "GetExecutionHistory"), item=lease(OTHER)
    )
    assert new["step"]["next"] == SUPERSEDED and new["outcome"] == "superseded"
    assert made == ["get_execution_history", "get_item"]
    with pytest.raises(CheckError, match="GetExecutionHistory"):
        check(
            history=client_error("AccessDeniedException", "GetExecutionHistory"),
            item=client_error("InternalServerError", "GetItem"),
        )


def test_failures_of_the_lease_read_and_the_heartbeat_are_not_the_episodes():
    new, _ = check(
        item=client_error("InternalServerError", "GetItem"),
        metrics=client_error("InternalServiceError", "PutMetricData"),
    )
    assert new["step"]["next"] == PROBE


def test_an_unreadable_mapping_fails_the_task():
    with pytest.raises(CheckError, match="GetEventSourceMapping u-1"):
        check(mapping=client_error("ServiceException", "GetEventSourceMapping"))


def test_the_probe_step_passes_a_check_that_did_not_lead_to_a_probe_through():
    state = a_state()
    state["step"] = {"next": SUPERSEDED}

    def probe(request):
        raise AssertionError("no probe after a check that said no")

    assert probe_step({"state": state, "loop": {}, "request": {}}, probe) == state


LOOP = {"giveUpAction": "close", "jitter": False, "probeBudgetSeconds": 60}
LEASE = {"leaseTable": "orders-cb-lease", "circuit": "orders"}


@pytest.mark.parametrize(
    ("holder", "expected"), [(ME, RECOVER), (OTHER, SUPERSEDED), (None, SUPERSEDED)]
)
def test_a_healthy_probe_recovers_only_while_the_lease_names_this_execution(holder, expected):
    # a hold or close command given during the probe took the episode over: the recovery (which
    # re-enables the mapping) is not this execution's to make
    calls = Scripted(get_item=lease(holder))
    event = {"state": a_state(), "loop": LOOP, "lease": LEASE, "request": {}}
    new = probe_step(event, lambda request: {"outcome": "healthy"}, dynamodb=calls)
    assert new["step"] == {"next": expected, "outcome": "healthy"}
    assert calls.made == ["get_item"]


def test_an_unreadable_lease_does_not_stop_the_recovery_and_an_unhealthy_probe_reads_none():
    calls = Scripted(get_item=client_error("InternalServerError", "GetItem"))
    event = {"state": a_state(), "loop": LOOP, "lease": LEASE, "request": {}}
    new = probe_step(event, lambda request: {"outcome": "empty"}, dynamodb=calls)
    assert new["step"]["next"] == RECOVER
    calls = Scripted()
    new = probe_step(event, lambda request: unhealthy(), dynamodb=calls)
    assert new["step"]["next"] == WAIT and calls.made == []


@given(state=episodes(), outcome=st.sampled_from(["healthy", "empty", "unhealthy"]))
def test_before_recovery_changes_nothing_but_a_superseded_recovery(state, outcome):
    decided = after_probe(state, {"outcome": outcome}, CLOSE_MODE, lambda low, high: low, NOW)
    assert before_recovery(decided, lease(ME)) == decided
    other = before_recovery(decided, lease(OTHER))
    if decided["step"]["next"] == RECOVER:
        assert other["step"]["next"] == SUPERSEDED and "closeReason" in other
    else:
        assert other == decided


def test_the_probe_step_gives_the_probe_this_attempts_visibility_and_number():
    seen: list[dict[str, Any]] = []

    def probe(request):
        seen.append(request)
        return unhealthy()

    state = a_state(attempt=3, scheduleIndex=3)
    request = {"queueUrl": "q", "transitionEvents": {"circuit": "orders"}}
    new = probe_step({"state": state, "loop": LOOP, "lease": LEASE, "request": request}, probe)
    assert seen[0]["failureVisibilityTimeout"] == schedule()["visibility"][3]
    assert seen[0]["transitionEvents"] == {"circuit": "orders", "attempt": 4}
    assert (
        new["step"]["next"] == WAIT and new["episode"]["nextWaitSeconds"] == schedule()["waits"][3]
    )
    assert probe_request(before_probe(state, NOW), {"queueUrl": "q"}) == {
        "queueUrl": "q",
        "functionName": FUNCTION,  # the open's reads, from the state
        "functionResponseTypes": ["ReportBatchItemFailures"],
        "mapping": state["original"]["mapping"],
        "failureVisibilityTimeout": 270,
    }
    # a definition older than this code renders them into the request: its values are kept
    older = {"queueUrl": "q", "functionName": "g", "functionResponseTypes": [], "mapping": {}}
    assert probe_request(before_probe(state, NOW), older) == {
        **older,
        "failureVisibilityTimeout": 270,
    }


def test_the_handler_routes_the_check_the_look_the_probe_step_and_a_plain_probe(monkeypatch):
    import probe as probe_module

    seen: list[str] = []
    monkeypatch.setattr(probe_module, "check_handler", lambda event: seen.append("check") or {})
    monkeypatch.setattr(probe_module, "look_handler", lambda event: seen.append("look") or {})
    monkeypatch.setattr(
        probe_module, "probe_step", lambda event, probe, **_: seen.append("step") or {}
    )
    monkeypatch.setattr(
        probe_module, "probe_once", lambda event, context: seen.append("probe") or {}
    )
    for event in ({"check": {}}, {"watch": {}}, {"loop": {}}, {"queueUrl": "q"}):
        probe_module.handler(event, None)
    assert seen == ["check", "look", "step", "probe"]
    seen.clear()  # the Probe task: its check first, then the probe step on the check's answer
    monkeypatch.setattr(probe_task, "check_handler", lambda event: seen.append("check") or {})
    probe_module.handler({"check": {}, "loop": {}}, None)
    assert seen == ["check", "step"]


def test_a_wait_whose_guard_was_exceeded_gives_up_without_probing():
    def probe(request):
        raise AssertionError("no probe once the guard is exceeded")

    events = RecordingEvents()
    state = {**a_state(nextWaitSeconds=0), "step": {"next": PROBE}}
    state["guard"] = {"projectedSeconds": 999_999, "exceeded": True}
    state["closeReason"] = {"reason": "retention", "from": "GAVE UP", "note": ""}
    event = {"state": state, "loop": LOOP, "lease": LEASE, "request": {}}
    new = probe_step(event, probe, events_client=events)
    assert new["step"] == {"next": GIVE_UP_RETENTION} and new["closeReason"] == state["closeReason"]
    assert events.entries == []  # the task that judged the guard announced the give-up
    assert given_up_at_once({**state, "guard": {"projectedSeconds": 1, "exceeded": False}}) is None
    assert given_up_at_once(a_state()) is None


@pytest.mark.parametrize("decided", [SUPERSEDED, HAND_OVER, "close"])
def test_the_probe_task_probes_only_when_its_check_says_so(monkeypatch, decided: str):
    def probe(request):
        raise AssertionError("no probe after a check that said no")

    answer = {**a_state(), "step": {"next": decided}}
    monkeypatch.setattr(probe_task, "check_handler", lambda event: answer)
    event = {"check": {}, "state": a_state(), "loop": {}, "request": {}}
    assert probe_step(checked(event), probe) == answer  # the check's answer is the task's


def test_the_probe_task_probes_the_state_its_check_wrote(monkeypatch):
    seen: list[dict] = []
    monkeypatch.setattr(
        probe_task, "check_handler", lambda event: {**event["state"], "step": {"next": PROBE}}
    )
    event = {"check": {}, "state": a_state(), "loop": LOOP, "lease": LEASE, "request": {}}
    new = probe_step(checked(event), lambda request: seen.append(request) or unhealthy())
    assert len(seen) == 1 and new["step"]["next"] == WAIT and new["step"]["outcome"] == "unhealthy"
    older = {"state": a_state(), "loop": LOOP}  # an older definition checks in a task of its own
    assert checked(older) is older


RECOVERY_METRIC = {"namespace": "SqsCircuitBreaker", "circuit": "orders"}


@pytest.mark.parametrize("outcome", ["healthy", "empty", "unhealthy"])
def test_a_recovery_with_a_rejitter_or_ramp_says_half_open_and_nothing_else_does(outcome):
    event = {
        "state": a_state(),
        "loop": LOOP,
        "lease": LEASE,
        "request": {},
        "recoveryMetric": RECOVERY_METRIC,
    }
    cloudwatch = RecordingCloudWatch()
    new = probe_step(
        event,
        lambda request: {"outcome": outcome} if outcome != "unhealthy" else unhealthy(),
        dynamodb=Scripted(get_item=lease(ME)),
        cloudwatch=cloudwatch,
    )
    if outcome == "unhealthy":
        assert new["step"]["next"] == WAIT and cloudwatch.puts == []
        return
    assert new["step"]["next"] == RECOVER
    [put] = cloudwatch.puts
    assert put["Namespace"] == "SqsCircuitBreaker"
    assert put["MetricData"] == [
        {
            "MetricName": "CircuitState",
            "Value": 0.5,
            "Unit": "None",
            "Dimensions": [{"Name": "Circuit", "Value": "orders"}],
        }
    ]
    # a superseded recovery says nothing; without a rejitter or ramp the close says CLOSED itself
    quiet = RecordingCloudWatch()
    superseded = probe_step(
        event,
        lambda request: {"outcome": outcome},
        dynamodb=Scripted(get_item=lease(OTHER)),
        cloudwatch=quiet,
    )
    plain = probe_step(
        {**event, "recoveryMetric": None},
        lambda request: {"outcome": outcome},
        dynamodb=Scripted(get_item=lease(ME)),
        cloudwatch=quiet,
    )
    assert superseded["step"]["next"] == SUPERSEDED and plain["step"]["next"] == RECOVER
    assert quiet.puts == []


def test_a_refused_half_open_metric_does_not_stop_the_recovery():
    event = {
        "state": a_state(),
        "loop": LOOP,
        "lease": LEASE,
        "request": {},
        "recoveryMetric": RECOVERY_METRIC,
    }
    refused = RecordingCloudWatch(client_error("Throttling", "PutMetricData"))
    new = probe_step(
        event,
        lambda request: {"outcome": "healthy"},
        dynamodb=Scripted(get_item=lease(ME)),
        cloudwatch=refused,
    )
    assert new["step"]["next"] == RECOVER and len(refused.puts) == 1
    assert new["observabilityError"]["Error"] == "Throttling"
    with pytest.raises(LoopStateError, match=r"recoveryMetric\.namespace"):
        probe_step(
            {**event, "recoveryMetric": {"circuit": "orders"}},
            lambda request: {"outcome": "healthy"},
        )


# ---- the task that decides a give-up announces it ----------------------------------------------
@pytest.mark.parametrize(
    ("next_step", "action", "exceeded", "expected"),
    [
        (GIVE_UP_ATTEMPTS, "close", False, [("max_attempts", "close")]),
        (GIVE_UP_ATTEMPTS, "close", True, [("max_attempts", "close")]),  # closes: no next wait
        (GIVE_UP_ATTEMPTS, "stay_open", False, [("max_attempts", "stay_open")]),
        (
            GIVE_UP_ATTEMPTS,
            "stay_open",
            True,
            [("max_attempts", "stay_open"), ("retention", "close")],
        ),
        (GIVE_UP_RETENTION, "close", True, [("retention", "close")]),
        ("save_and_open", "", True, [("retention", "close")]),  # an episode's first wait
        ("reopen", "", False, []),
        (WAIT, "stay_open", False, []),
    ],
)
def test_give_up_transitions_follow_the_decision(next_step, action, exceeded, expected):
    state = {"step": {"next": next_step}, "guard": {"projectedSeconds": 9, "exceeded": exceeded}}
    found = give_up_transitions(state, action)
    assert [(t["reason"], t["note"]) for t in found] == expected


REQUEST = {
    "queueArn": "arn:aws:sqs:us-east-1:123456789012:orders",
    "transitionEvents": {"eventBusName": "arn:bus", "circuit": "orders", "episode": ME,
                         "mapping": "uuid-1"},
}  # fmt: skip


def test_the_probe_step_announces_the_give_up_it_decides():
    events = RecordingEvents()
    event = {"state": a_state(attempt=9, scheduleIndex=9), "loop": LOOP, "lease": LEASE,
             "request": REQUEST}  # fmt: skip
    new = probe_step(event, lambda request: unhealthy(), events_client=events)
    assert new["step"]["next"] == GIVE_UP_ATTEMPTS and "eventError" not in new
    [detail] = [json.loads(e["Detail"]) for e in events.entries]
    assert (detail["from"], detail["to"], detail["reason"]) == ("OPEN", "GAVE UP", "max_attempts")
    assert detail["note"] == "close" and detail["attempt"] == 10
    assert detail["queue"] == REQUEST["queueArn"] and detail["episode"] == ME
    # an unhealthy probe that waits again announces nothing more (the probe's own events aside)
    events = RecordingEvents()
    probe_step({**event, "state": a_state()}, lambda request: unhealthy(), events_client=events)
    assert events.entries == []


def test_a_give_up_event_never_takes_the_probes_last_seconds():
    events = RecordingEvents()
    event = {"state": a_state(attempt=9, scheduleIndex=9), "loop": LOOP, "lease": LEASE,
             "request": REQUEST}  # fmt: skip
    new = probe_step(
        event, lambda request: unhealthy(), events_client=events, remaining_ms=lambda: 2_999
    )
    # the decision stands; the event is skipped and the state says so
    assert new["step"]["next"] == GIVE_UP_ATTEMPTS and events.entries == []
    assert new["eventError"]["Cause"].startswith("not published (max_attempts)")
    new = probe_step(
        event, lambda request: unhealthy(), events_client=events, remaining_ms=lambda: 3_001
    )
    assert "eventError" not in new and len(events.entries) == 1
    # without a bus, nothing to announce
    plain = {**event, "request": {"queueArn": REQUEST["queueArn"]}}
    assert "eventError" not in probe_step(plain, lambda request: unhealthy())


def test_a_malformed_bus_never_fails_a_probe_that_ran():
    # the probe ran and its verdict stands: a retried task would probe again
    bad = {**REQUEST, "transitionEvents": {"circuit": "orders"}}
    event = {"state": a_state(attempt=9, scheduleIndex=9), "loop": LOOP, "lease": LEASE,
             "request": bad}  # fmt: skip
    new = probe_step(event, lambda request: unhealthy(), events_client=RecordingEvents())
    assert new["step"]["next"] == GIVE_UP_ATTEMPTS
    assert new["eventError"]["Error"] == "TransitionConfigError"
    assert "eventBusName" in new["eventError"]["Cause"]
