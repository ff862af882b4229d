"""The watch after a close (lambda_src/probe/watch.py) and its task (look.run_look).

Properties (hypothesis): a composite alarm is never re-armed; an alarm in ALARM after an OK seen
since the close, or after the re-arm, always re-opens; the watch ends after a bounded number of
looks whatever the alarm says; a deleted alarm ends it; the input state is never changed.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from handover import CONTINUATION_FIELDS, InvalidContinuation, continuation_problems
from hypothesis import given
from hypothesis import strategies as st
from look import LookConfig, run_look
from loop import HAND_OVER, SUPERSEDED, WAIT, EpisodeConfig, LoopStateError
from sqscb_fakes import (
    RecordingCloudWatch,
    RecordingEvents,
    Scripted,
    client_error,
    path_holder,
)
from step import CheckError, MetricRef
from transitions import TaskEvents
from watch import (
    CLOSED,
    REARM,
    REOPEN,
    REOPEN_REASON,
    SETTLE,
    AlarmView,
    WatchConfig,
    after_close,
    after_look,
    alarm_view,
    rearmed,
    reopened,
    start_watch,
    watch_starts,
)

ME = "arn:aws:states:us-east-1:123456789012:execution:orders-cb:me"
CLOSED_AT = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
CONFIG = WatchConfig(polls=4, poll_seconds=60, rearm_wait_seconds=75)
EPISODE = EpisodeConfig(
    max_attempts=3,
    open_wait_seconds=30,
    schedule={"waits": [30, 60, 120], "base": [15, 30, 60], "spread": [15, 30, 60],
              "visibility": [60, 90, 150]},
    probe_budget_seconds=120,
)  # fmt: skip


def a_state(**watch: Any) -> dict[str, Any]:
    closed_at = CLOSED_AT.isoformat().replace("+00:00", "Z")
    return {
        "started": {"execution": ME},
        "closed": {"at": closed_at},
        "watch": {
            "closedAt": closed_at,
            "polls": 0,
            "rearmed": False,
            "sawOk": False,
            "nextWaitSeconds": 60,
            **watch,
        },
        "step": {"next": WAIT},
        "tracking": {"loops": 7, "reopens": 0, "openSeconds": 300, "openReason": "x"},
        "queue": {"retentionSeconds": 345600, "visibilityTimeoutSeconds": 45, "budgetSeconds": 1},
        "episode": {"attempt": 2, "maxAttempts": 3, "scheduleIndex": 2, "stayingOpen": True,
                    "elapsedSeconds": 900, "nextWaitSeconds": 120},
    }  # fmt: skip


def alarm(state: str = "ALARM", composite: bool = False, minutes: int = -10) -> AlarmView:
    return AlarmView(state, composite, CLOSED_AT + timedelta(minutes=minutes))


alarms = st.builds(
    AlarmView,
    state=st.sampled_from(["OK", "ALARM", "INSUFFICIENT_DATA"]),
    composite=st.booleans(),
    changed_at=st.one_of(
        st.none(),
        st.integers(min_value=-600, max_value=600).map(lambda m: CLOSED_AT + timedelta(minutes=m)),
    ),
)


@given(view=alarms, polls=st.integers(0, 6), saw_ok=st.booleans(), was_rearmed=st.booleans())
def test_a_composite_alarm_is_never_rearmed_and_the_input_never_changes(
    view, polls, saw_ok, was_rearmed
):
    state = a_state(polls=polls, sawOk=saw_ok, rearmed=was_rearmed)
    before = copy.deepcopy(state)
    new = after_look(state, view, CONFIG)
    assert state == before
    if view.composite:
        assert new["step"]["next"] != REARM
    if view.state == "ALARM" and (saw_ok or was_rearmed):
        assert new["step"]["next"] == REOPEN


@given(looks=st.lists(alarms, min_size=12, max_size=12))
def test_the_watch_ends_after_a_bounded_number_of_looks(looks):
    state = a_state()
    for count, view in enumerate(looks, start=1):
        state = after_look(state, view, CONFIG)
        if state["step"]["next"] == REARM:
            state = rearmed(state, CONFIG)
            assert state["watch"]["nextWaitSeconds"] == 75
        if state["step"]["next"] != WAIT:
            assert state["step"]["next"] in (REOPEN, CLOSED)
            assert count <= CONFIG.polls + 2
            return
        assert state["watch"]["polls"] <= CONFIG.polls + 1
    pytest.fail("the watch did not end within polls + 2 looks")


def test_an_alarm_that_entered_alarm_after_the_close_reopens_at_the_next_look():
    assert after_look(a_state(), alarm(minutes=+1), CONFIG)["step"]["next"] == REOPEN
    assert after_look(a_state(), alarm(minutes=-1), CONFIG)["step"]["next"] == WAIT


def test_an_ok_is_remembered_and_the_window_is_polled():
    new = after_look(a_state(), alarm("OK"), CONFIG)
    assert new["step"]["next"] == WAIT and new["watch"]["sawOk"] is True
    assert new["watch"]["polls"] == 1 and new["watch"]["nextWaitSeconds"] == 60


def test_at_the_end_of_the_window_a_stale_alarm_is_rearmed_once_a_quiet_one_closed():
    end = a_state(polls=4)
    assert after_look(end, alarm(), CONFIG)["step"]["next"] == REARM
    assert after_look(end, alarm(composite=True), CONFIG)["step"]["next"] == REOPEN
    assert after_look(end, alarm("OK"), CONFIG)["step"]["next"] == CLOSED
    assert after_look(a_state(polls=4, rearmed=True), alarm("OK"), CONFIG)["step"]["next"] == CLOSED


def test_a_deleted_alarm_ends_the_watch():
    assert after_look(a_state(), None, CONFIG)["step"]["next"] == CLOSED


def test_alarm_view_reads_describe_alarms():
    at = CLOSED_AT + timedelta(minutes=3)
    metric = {"MetricAlarms": [{"StateValue": "ALARM", "StateUpdatedTimestamp": at}]}
    assert alarm_view(metric) == AlarmView("ALARM", False, at)
    composite = {
        "CompositeAlarms": [{"StateValue": "OK", "StateTransitionedTimestamp": at}],
        "MetricAlarms": [],
    }
    assert alarm_view(composite) == AlarmView("OK", True, at)
    assert alarm_view({"CompositeAlarms": [], "MetricAlarms": []}) is None


# ---- the task -----------------------------------------------------------------------------------
LOOK = LookConfig.parse(
    {
        "execution": ME,
        "handoverEvents": 20_000,
        "leaseTable": "orders-cb-lease",
        "circuit": "orders",
        "alarmName": "orders-errors",
        "polls": 4,
        "pollSeconds": 60,
        "rearmWaitSeconds": 75,
    }
)


def look(state: dict, history: int = 100, holder: str = ME, **answers: Any):
    calls = Scripted(
        get_execution_history={"events": [{"id": history}]},
        get_item={"Item": {"holder": {"S": holder}}},
        **answers,
    )
    return run_look(
        state, LOOK, episode=EPISODE, sfn=calls, dynamodb=calls, cloudwatch=calls
    ), calls.made


def look_with(state: dict, alarms: Any, *, cloudwatch: Any = None, **outputs: Any) -> dict:
    """One look at `alarms` by this execution's lease, with the given outputs (the metric, the
    transition events; `update_item`: the lease write's answer)."""
    update = {"update_item": outputs.pop("update_item")} if "update_item" in outputs else {}
    calls = Scripted(
        get_execution_history={"events": [{"id": 100}]},
        get_item={"Item": {"holder": {"S": ME}}},
        describe_alarms=alarms,
        **update,
    )
    return run_look(
        state,
        LOOK,
        episode=EPISODE,
        sfn=calls,
        dynamodb=calls,
        cloudwatch=cloudwatch if cloudwatch is not None else calls,
        **outputs,
    )


STALE = {"MetricAlarms": [{"StateValue": "ALARM", "StateUpdatedTimestamp": CLOSED_AT}]}


def test_the_look_rearms_a_stale_metric_alarm_then_waits_one_evaluation():
    new, made = look(a_state(polls=4), describe_alarms=STALE)
    assert made == ["get_execution_history", "get_item", "describe_alarms", "set_alarm_state"]
    assert new["step"]["next"] == WAIT and new["watch"]["rearmed"] is True
    assert new["watch"]["nextWaitSeconds"] == 75 and new["history"] == {"events": 100}


def test_the_look_that_ends_the_watch_releases_the_lease_last_and_best_effort():
    quiet = {"MetricAlarms": [{"StateValue": "OK", "StateUpdatedTimestamp": CLOSED_AT}]}
    new, made = look(a_state(polls=4), describe_alarms=quiet)
    assert new["step"]["next"] == CLOSED and "leaseError" not in new
    assert new["outcome"] == "closed"  # the execution ends closed (Ended)
    assert made == ["get_execution_history", "get_item", "describe_alarms", "delete_item"]
    refused = client_error("ProvisionedThroughputExceededException", "DeleteItem")
    new, _ = look(a_state(polls=4), describe_alarms=quiet, delete_item=refused)
    assert new["step"]["next"] == CLOSED  # the next claim takes a lease left behind over
    assert new["leaseError"]["Error"] == "ProvisionedThroughputExceededException"
    taken = client_error("ConditionalCheckFailedException", "DeleteItem")
    new, _ = look(a_state(polls=4), describe_alarms=quiet, delete_item=taken)
    assert new["step"]["next"] == CLOSED and "leaseError" not in new  # not ours: left alone
    _, made = look(a_state(polls=1), describe_alarms=quiet)
    assert "delete_item" not in made  # a look that watches on keeps the lease


def test_a_superseded_or_handed_over_look_reads_no_alarm():
    new, made = look(a_state(), holder="someone else")
    assert new["step"]["next"] == SUPERSEDED and "describe_alarms" not in made
    watching = {
        **a_state(),
        "original": {"state": "Enabled"},
        "closeReason": {"reason": "healthy", "from": "HALF-OPEN", "note": ""},
    }
    new, made = look(watching, history=20_000)
    assert new["step"]["next"] == HAND_OVER and made == ["get_execution_history"]
    successor = new["handover"]["input"]
    assert successor["continuation"] == {"phase": "watch", "predecessor": ME}
    for part in ("original", "queue", "tracking", "watch", "closeReason", "closed"):
        assert successor[part] == watching[part], part
    del watching["closed"]
    with pytest.raises(LoopStateError, match=r"\$\.closed is missing"):
        look(watching, history=20_000)  # a watch that cannot say when it closed
    # an unreadable count does not send a superseded look down the failure path
    unreadable = client_error("AccessDeniedException", "GetExecutionHistory")
    calls = Scripted(get_execution_history=unreadable, get_item={"Item": {"holder": {"S": "x"}}})
    new = run_look(a_state(), LOOK, episode=EPISODE, sfn=calls, dynamodb=calls, cloudwatch=calls)
    assert new["step"]["next"] == SUPERSEDED and calls.made == ["get_execution_history", "get_item"]


def test_an_unreadable_alarm_or_a_failed_rearm_fails_the_task():
    with pytest.raises(CheckError, match="DescribeAlarms orders-errors"):
        look(a_state(), describe_alarms=client_error("Throttling", "DescribeAlarms"))
    with pytest.raises(CheckError, match="SetAlarmState orders-errors"):
        look(
            a_state(polls=4),
            describe_alarms=STALE,
            set_alarm_state=client_error("Throttling", "SetAlarmState"),
        )


@given(
    visibility=st.integers(0, 43_200),
    reopens=st.integers(0, 50),
    loops=st.integers(0, 10_000),
    budget=st.sampled_from([1, 342_000]),
)
def test_a_reopen_starts_a_fresh_episode_and_the_counters_go_on(visibility, reopens, loops, budget):
    state = a_state()
    state["queue"]["visibilityTimeoutSeconds"] = visibility
    state["queue"]["budgetSeconds"] = budget
    state["tracking"].update(reopens=reopens, loops=loops)
    before = copy.deepcopy(state)
    new = reopened(state, EPISODE)
    exceeded = max(30, visibility) + 120 > budget
    assert state == before
    assert new["step"]["next"] == REOPEN
    assert new["episode"] == {
        "attempt": 0,
        "maxAttempts": 3,
        "scheduleIndex": 0,
        "stayingOpen": False,
        "elapsedSeconds": 0,
        # never before the failed batches are visible; never past the retention budget (an
        # exceeded guard: no wait, the Probe task gives up on the retention at once)
        "nextWaitSeconds": 0 if exceeded else max(30, visibility),
    }
    # the guard of the first wait of the new episode (and one probe's budget)
    assert new["guard"] == {"projectedSeconds": max(30, visibility) + 120, "exceeded": exceeded}
    if exceeded:
        assert new["closeReason"] == {"reason": "retention", "from": "GAVE UP", "note": ""}
    else:
        assert "closeReason" not in new or new["closeReason"] == before.get("closeReason")
    assert new["tracking"] == {
        "loops": loops,
        "reopens": reopens + 1,
        "openSeconds": 0,
        "openReason": REOPEN_REASON,
    }
    assert new["schedule"] == EPISODE.schedule


def test_the_look_that_reopens_starts_the_episode_again():
    late = {
        "MetricAlarms": [
            {"StateValue": "ALARM", "StateTransitionedTimestamp": CLOSED_AT + timedelta(minutes=1)}
        ]
    }
    roomy = a_state()
    roomy["queue"]["budgetSeconds"] = 342_000
    new, made = look(roomy, describe_alarms=late)
    # the lease leaves the watch phase before the re-open (the open's conditional write)
    assert made == ["get_execution_history", "get_item", "describe_alarms", "update_item"]
    assert new["step"]["next"] == REOPEN and new["episode"]["attempt"] == 0
    assert new["tracking"]["reopens"] == 1 and new["episode"]["nextWaitSeconds"] == 45
    # with its metric (the definition's stateMetric): CircuitState 1 as the circuit opens again
    cloudwatch = RecordingCloudWatch(describe_alarms=late)
    new = look_with(a_state(), late, cloudwatch=cloudwatch, metric=METRIC)
    assert new["step"]["next"] == REOPEN and cloudwatch.states() == [1]
    refused = RecordingCloudWatch(client_error("Throttling", "PutMetricData"), describe_alarms=late)
    new = look_with(a_state(), late, cloudwatch=refused, metric=METRIC)
    assert new["step"]["next"] == REOPEN  # best effort: the re-open goes on
    assert new["observabilityError"]["Error"] == "Throttling"


def test_a_look_that_does_not_reopen_publishes_no_state():
    cloudwatch = RecordingCloudWatch(describe_alarms=STALE)
    new = look_with(a_state(), STALE, cloudwatch=cloudwatch, metric=METRIC)
    assert new["step"]["next"] != REOPEN and cloudwatch.states() == []


# ---- the first look after a close starts the watch ---------------------------------------------
def just_closed(**extra: Any) -> dict[str, Any]:
    """The state as the close leaves it: $.closed of this close, a watch of an earlier one."""
    state = a_state(closedAt="2026-12-03T10:00:00Z", polls=4, sawOk=True, rearmed=True)
    return {**state, **extra}


def test_the_first_look_after_a_close_starts_the_watch_and_says_so_in_the_lease():
    calls = Scripted(
        get_execution_history={"events": [{"id": 100}]}, get_item={"Item": {"holder": {"S": ME}}}
    )
    new = run_look(just_closed(), LOOK, episode=EPISODE, sfn=calls, dynamodb=calls, cloudwatch={})
    assert new["step"]["next"] == WAIT
    assert new["watch"] == {
        "rearmed": False,
        "sawOk": False,
        "polls": 0,
        "closedAt": just_closed()["closed"]["at"],
        "nextWaitSeconds": 60,  # the alarm still judges the data from before the close
    }
    # the history measured, the lease marked (its condition says whose it is: no read); the
    # alarm not looked at yet
    assert calls.made == ["get_execution_history", "update_item"]
    assert watch_starts(just_closed()) and not watch_starts(new)


def test_a_watch_whose_lease_was_taken_ends_superseded_and_a_failed_mark_goes_on():
    taken = client_error("ConditionalCheckFailedException", "UpdateItem")
    calls = Scripted(
        get_execution_history={"events": [{"id": 100}]},
        get_item={"Item": {"holder": {"S": ME}}},
        update_item=taken,
    )
    new = run_look(just_closed(), LOOK, episode=EPISODE, sfn=calls, dynamodb=calls, cloudwatch={})
    assert new["step"]["next"] == SUPERSEDED and new["outcome"] == "superseded"
    throttled = client_error("ProvisionedThroughputExceededException", "UpdateItem")
    calls = Scripted(
        get_execution_history={"events": [{"id": 100}]},
        get_item={"Item": {"holder": {"S": ME}}},
        update_item=throttled,
    )
    new = run_look(just_closed(), LOOK, episode=EPISODE, sfn=calls, dynamodb=calls, cloudwatch={})
    assert new["step"]["next"] == WAIT and new["watch"]["polls"] == 0
    assert "ProvisionedThroughputExceeded" in new["leaseError"]["Cause"]


@given(reopens=st.integers(0, 5))
def test_every_close_starts_a_watch_of_its_own(reopens):
    # the state after a re-open and another close keeps the earlier watch until the first look
    state = just_closed()
    for index in range(reopens):
        started = start_watch(state, CONFIG)
        assert started["watch"]["closedAt"] == state["closed"]["at"] and not watch_starts(started)
        state = {**started, "closed": {"at": f"2026-12-03T13:0{index}:00Z"}}
        assert watch_starts(state)
    with pytest.raises(LoopStateError, match=r"\$\.closed\.at"):
        start_watch({**state, "closed": {}}, CONFIG)


METRIC = MetricRef("SqsCircuitBreaker", "orders")
TASK_EVENTS = TaskEvents("arn:bus", "orders", ME, "uuid-1", "arn:aws:sqs:us-east-1:1:orders")
LATE = {
    "MetricAlarms": [
        {"StateValue": "ALARM", "StateTransitionedTimestamp": CLOSED_AT + timedelta(minutes=1)}
    ]
}


def test_a_reopen_takes_the_lease_back_from_the_watch_then_says_so():
    events = RecordingEvents()
    roomy = a_state()
    roomy["queue"]["budgetSeconds"] = 342_000
    new = look_with(roomy, LATE, events_client=events, transitions=TASK_EVENTS)
    assert new["step"]["next"] == REOPEN and "eventError" not in new
    [entry] = events.entries
    detail = json.loads(entry["Detail"])
    assert (detail["from"], detail["to"], detail["reason"]) == ("CLOSED", "OPEN", "alarm")
    assert detail["note"] == REOPEN_REASON and detail["attempt"] == 0
    assert detail["episode"] == ME and detail["queue"] == "arn:aws:sqs:us-east-1:1:orders"
    # a re-open whose first wait could outlive the backlog gives up on the retention at once
    events = RecordingEvents()
    new = look_with(a_state(), LATE, events_client=events, transitions=TASK_EVENTS)
    assert new["guard"]["exceeded"] is True
    steps = [json.loads(e["Detail"]) for e in events.entries]
    assert [(d["from"], d["to"], d["reason"], d["note"]) for d in steps] == [
        ("CLOSED", "OPEN", "alarm", REOPEN_REASON),
        ("OPEN", "GAVE UP", "retention", "close"),
    ]


def test_a_reopen_whose_lease_was_taken_ends_superseded_and_says_nothing():
    # an alarm execution newer than the close took the episode over: it opens, not this one
    events, cloudwatch = RecordingEvents(), RecordingCloudWatch(describe_alarms=LATE)
    new = look_with(
        a_state(),
        LATE,
        cloudwatch=cloudwatch,
        metric=METRIC,
        events_client=events,
        transitions=TASK_EVENTS,
        update_item=client_error("ConditionalCheckFailedException", "UpdateItem"),
    )
    assert new["step"]["next"] == SUPERSEDED and new["outcome"] == "superseded"
    assert events.entries == [] and cloudwatch.puts == []


# ---- the first look after a close says so -------------------------------------------------------
TELLING = dataclasses.replace(LOOK, tells_close=True)
WATCHED = ("healthy", "empty", "reenabled_elsewhere")


def closed_by(reason: str, **extra: Any) -> dict[str, Any]:
    """The state as the close leaves it, with its close reason (from: the state it left)."""
    origin = {"forced": "HELD", "max_attempts": "GAVE UP", "retention": "GAVE UP"}
    note = " by ops: done" if reason == "forced" else ""
    reason_part = {"reason": reason, "from": origin.get(reason, "HALF-OPEN"), "note": note}
    return just_closed(closeReason=reason_part, **extra)


def first_look(state: dict[str, Any], **clients: Any) -> tuple[dict[str, Any], Any, Any, Any]:
    """The first look after a close, telling it: (the new state, the calls, the metrics, the
    events)."""
    calls = clients.pop("calls", None) or Scripted(
        get_execution_history={"events": [{"id": 100}]}, get_item={"Item": {"holder": {"S": ME}}}
    )
    cloudwatch = clients.pop("cloudwatch", None) or RecordingCloudWatch()
    events = clients.pop("events", None) or RecordingEvents()
    new = run_look(
        state,
        clients.pop("config", TELLING),
        episode=EPISODE,
        sfn=calls,
        dynamodb=calls,
        cloudwatch=cloudwatch,
        metric=METRIC,
        events_client=events,
        transitions=TASK_EVENTS,
    )
    return new, calls, cloudwatch, events


@given(reason=st.sampled_from((*WATCHED, "forced", "max_attempts", "retention", "later_reason")))
def test_after_close_watches_only_a_healthy_empty_or_overridden_close(reason):
    route = after_close(closed_by(reason))
    expected = None if reason in WATCHED else SETTLE if reason == "forced" else CLOSED
    assert route == expected
    for broken in ({}, {"reason": ""}, {"reason": 3}):
        with pytest.raises(LoopStateError, match=r"\$\.closeReason\.reason"):
            after_close({**closed_by(reason), "closeReason": broken})


@pytest.mark.parametrize("reason", WATCHED)
def test_the_first_look_after_a_watched_close_says_so_then_starts_the_watch(reason):
    new, calls, cloudwatch, events = first_look(closed_by(reason))
    assert new["step"]["next"] == WAIT and new["watch"]["polls"] == 0
    assert calls.made == ["get_execution_history", "update_item"]
    assert cloudwatch.states() == [0]
    [put] = cloudwatch.puts
    assert {d["MetricName"]: d["Value"] for d in put["MetricData"]} == {
        "CircuitState": 0,
        "OpenSeconds": 0,
    }
    [entry] = events.entries
    detail = json.loads(entry["Detail"])
    assert (detail["from"], detail["to"], detail["reason"]) == ("HALF-OPEN", "CLOSED", reason)
    assert detail["attempt"] is None and detail["note"] == ""
    assert new["closed"] == {**closed_by(reason)["closed"], "told": True}
    assert "observabilityError" not in new and "eventError" not in new
    # the next look (after the wait) looks at the alarm and says nothing more
    quiet = {"MetricAlarms": [{"StateValue": "OK", "StateUpdatedTimestamp": CLOSED_AT}]}
    later, _, cloudwatch, events = first_look(
        new, cloudwatch=RecordingCloudWatch(describe_alarms=quiet)
    )
    assert later["step"]["next"] == WAIT and later["watch"]["polls"] == 1
    assert cloudwatch.puts == [] and events.entries == []


@pytest.mark.parametrize(
    ("reason", "route"), [("max_attempts", CLOSED), ("retention", CLOSED), ("forced", SETTLE)]
)
def test_the_first_look_after_another_close_says_so_and_reads_nothing(reason, route):
    new, calls, cloudwatch, events = first_look(closed_by(reason))
    # a give-up close ends the episode: its only call releases the lease
    assert new["step"]["next"] == route
    assert calls.made == (["delete_item"] if route == CLOSED else [])
    assert cloudwatch.states() == [0]
    detail = json.loads(events.entries[0]["Detail"])
    assert (detail["from"], detail["to"], detail["reason"]) == (
        closed_by(reason)["closeReason"]["from"],
        "CLOSED",
        reason,
    )
    assert detail["note"] == closed_by(reason)["closeReason"]["note"]
    assert new["watch"] == closed_by(reason)["watch"]  # no watch started
    if route == SETTLE:  # verified, then watched: the look after the settle does not say it again
        again, calls, cloudwatch, events = first_look(new)
        assert again["step"]["next"] == WAIT and again["watch"]["polls"] == 0
        assert calls.made == ["get_execution_history", "update_item"]
        assert cloudwatch.puts == [] and events.entries == []


def test_a_first_look_that_cannot_read_says_nothing_so_that_its_retry_says_it_once():
    unreadable = client_error("ThrottlingException", "GetExecutionHistory")
    calls = Scripted(get_execution_history=unreadable, get_item={"Item": {"holder": {"S": ME}}})
    cloudwatch, events = RecordingCloudWatch(), RecordingEvents()
    with pytest.raises(CheckError):
        first_look(closed_by("healthy"), calls=calls, cloudwatch=cloudwatch, events=events)
    assert cloudwatch.puts == [] and events.entries == []


def test_a_first_look_that_hands_over_or_is_superseded_has_said_so():
    watching = {**closed_by("healthy"), "original": {"state": "Enabled"}}
    calls = Scripted(get_execution_history={"events": [{"id": 20_000}]})
    new, _, cloudwatch, events = first_look(watching, calls=calls)
    assert new["step"]["next"] == HAND_OVER and cloudwatch.states() == [0]
    assert len(events.entries) == 1
    # the successor continues the same close: told, its watch started
    successor = new["handover"]["input"]
    assert successor["closed"]["told"] is True and not watch_starts(successor)
    calls = Scripted(
        get_execution_history={"events": [{"id": 100}]},
        update_item=client_error("ConditionalCheckFailedException", "UpdateItem"),
    )
    new, _, cloudwatch, events = first_look(closed_by("empty"), calls=calls)
    assert new["step"]["next"] == SUPERSEDED and new["closed"]["told"] is True
    assert cloudwatch.states() == [0] and len(events.entries) == 1


def test_telling_the_close_is_best_effort():
    refused = client_error("Throttling", "PutMetricData")
    new, _, _, _ = first_look(closed_by("healthy"), cloudwatch=RecordingCloudWatch(refused))
    assert new["step"]["next"] == WAIT and new["observabilityError"]["Error"] == "Throttling"
    assert new["closed"]["told"] is True


def test_an_older_definition_tells_the_close_itself():
    # without tellsClose (a definition older than this code) the look says nothing
    new, _, cloudwatch, events = first_look(closed_by("healthy"), config=LOOK)
    assert new["step"]["next"] == WAIT and cloudwatch.puts == [] and events.entries == []
    assert "told" not in new["closed"]


def handed_over_watch() -> tuple[dict[str, Any], str]:
    """A successor's input after a hand-over during the watch (the predecessor's state), and
    the successor's ARN."""
    original = {
        "state": "Enabled",
        "scalingConfig": {},
        "responseTypes": [],
        "mapping": {"FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:f"},
    }
    predecessor = {**closed_by("healthy"), "original": original}
    started = start_watch(predecessor, CONFIG)
    handed = run_look(
        {**started, "closed": {**started["closed"], "told": True}},
        TELLING,
        episode=EPISODE,
        sfn=Scripted(get_execution_history={"events": [{"id": 20_000}]}),
        dynamodb=Scripted(),
        cloudwatch=RecordingCloudWatch(),
    )
    assert handed["step"]["next"] == HAND_OVER
    return handed["handover"]["input"], ME.rsplit(":", 1)[0] + ":" + handed["handover"]["name"]


@pytest.mark.parametrize(
    "path", [path for path, _ in CONTINUATION_FIELDS["watch"] if path != "continuation.predecessor"]
)
def test_a_forged_watch_continuation_fails_before_any_call(path):
    # the watch's successor is LookAtAlarm's: the same check as the probe's (test_probe_loop.py)
    state, successor_arn = handed_over_watch()
    assert continuation_problems(state, "watch") == []
    holder, last = path_holder(state, path)
    del holder[last]
    calls = Scripted()
    with pytest.raises(InvalidContinuation, match=re.escape(f"$.{path} is missing")):
        first_look(state, calls=calls, config=dataclasses.replace(TELLING, execution=successor_arn))
    assert calls.made == []


def test_a_successors_first_look_takes_the_lease_from_its_predecessor_then_looks():
    # the predecessor handed over during the watch: the successor's input is its state
    state, successor_arn = handed_over_watch()
    assert state["singleFlight"] == {"self": successor_arn}
    calls = Scripted(
        get_execution_history={"events": [{"id": 5}]},
        get_item={"Item": {"holder": {"S": successor_arn}}},
    )
    cloudwatch = RecordingCloudWatch(
        describe_alarms={"MetricAlarms": [{"StateValue": "OK", "StateUpdatedTimestamp": CLOSED_AT}]}
    )
    new, _, _, events = first_look(
        state,
        calls=calls,
        cloudwatch=cloudwatch,
        config=dataclasses.replace(TELLING, execution=successor_arn),
    )
    # the lease passed from the predecessor first, then a look like any other: no second close
    assert calls.made == ["update_item", "get_execution_history"]
    assert new["claim"]["holder"] == ME and "continuation" not in new
    assert new["step"]["next"] == WAIT and new["watch"]["polls"] == 1
    assert cloudwatch.puts == [] and events.entries == []
