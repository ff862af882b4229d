"""The open's preparation (lambda_src/probe/opening.py): what the ReadMappingAndQueue task reads
and decides before anything changes.

Properties: an inconsistent mapping never leads to a step that changes it; a mapping that is
already off is never disabled again and its recorded settings are never overwritten; the budget is
the retention less the margin; the input state is never changed.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from loop import EpisodeConfig, LoopStateError
from opening import (
    CLOSE,
    HOLD,
    INCONSISTENT,
    OPEN,
    SAVE_AND_HOLD,
    SAVE_AND_OPEN,
    OpenConfig,
    after_open_read,
    command_from,
    run_open_read,
)
from sqscb_fakes import Scripted, client_error
from step import CheckError

ME = "arn:aws:states:us-east-1:123456789012:execution:orders-cb:me"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:orders"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:orders"
NOW = "2026-12-04T10:00:00.000Z"
EPISODE = EpisodeConfig.parse(
    {
        "maxAttempts": 5,
        "openWaitSeconds": 30,
        "schedule": {
            "waits": [30, 60],
            "base": [15, 30],
            "spread": [15, 30],
            "visibility": [60, 90],
        },
    }
)
ATTRIBUTES = {"MessageRetentionPeriod": "345600", "VisibilityTimeout": "60"}

CONFIG_INPUT = {
    "mappingUuid": "uuid-1",
    "queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
    "queueArn": QUEUE_ARN,
    "functionArn": FUNCTION,
    "retentionMarginSeconds": 3600,
    "settingsParameter": "/sqs-circuit-breaker/orders/settings",
    "rampMaxConcurrency": 2,
}
CONFIG = OpenConfig.parse(CONFIG_INPUT)


def a_mapping(state: str = "Enabled", **extra: Any) -> dict[str, Any]:
    return {
        "UUID": "uuid-1",
        "State": state,
        "EventSourceArn": QUEUE_ARN,
        "FunctionArn": FUNCTION,
        **extra,
    }


def a_state(**extra: Any) -> dict[str, Any]:
    return {"started": {"execution": ME, "at": NOW, "name": "me"}, **extra}


MAPPING_STATES = st.sampled_from(["Enabled", "Enabling", "Disabled", "Disabling", "Updating"])
COMMANDS = st.sampled_from([None, "hold", "close"])


@given(
    mapping_state=MAPPING_STATES,
    command=COMMANDS,
    source=st.sampled_from([QUEUE_ARN, f"{QUEUE_ARN}-other", None]),
    function=st.sampled_from([FUNCTION, f"{FUNCTION}:live", f"{FUNCTION}-v2", None]),
)
def test_only_a_consistent_mapping_that_is_on_is_changed(mapping_state, command, source, function):
    mapping = a_mapping(mapping_state, EventSourceArn=source, FunctionArn=function)
    state = a_state(**({"command": command} if command else {}))
    before = copy.deepcopy(state)
    new = after_open_read(state, mapping, ATTRIBUTES, CONFIG, episode=EPISODE, now=NOW)
    assert state == before
    step = new["step"]["next"]
    consistent = source == QUEUE_ARN and function in (FUNCTION, f"{FUNCTION}:live")
    if not consistent:
        assert step == INCONSISTENT
        assert new["error"]["Error"] == "CircuitBreaker.MappingInconsistent"
        assert "Nothing was disabled" in new["error"]["Cause"] and "original" not in new
        return
    off = mapping_state in ("Disabled", "Disabling")
    expected = {
        None: OPEN if off else SAVE_AND_OPEN,
        "hold": HOLD if off else SAVE_AND_HOLD,
        "close": CLOSE,
    }[command]
    assert step == expected
    # the settings are recorded only on the way to disabling an enabled mapping
    assert ("settingsRecord" in new) == (step in (SAVE_AND_OPEN, SAVE_AND_HOLD))
    # only an open starts an episode; its first wait never ends before the failed batches show
    assert ("episode" in new) == (step in (SAVE_AND_OPEN, OPEN)) == ("schedule" in new)
    if "episode" in new:
        assert new["episode"]["attempt"] == 0 and new["episode"]["nextWaitSeconds"] == 60
    assert new["singleFlight"] == {"self": ME} and new["original"]["state"] == mapping_state


@given(
    retention=st.integers(60, 1_209_600),
    visibility=st.integers(0, 43_200),
    margin=st.integers(0, 86_400),
)
def test_the_budget_is_the_retention_less_the_margin(retention, visibility, margin):
    config = OpenConfig(**{**CONFIG.__dict__, "retention_margin_seconds": margin})
    attributes = {"MessageRetentionPeriod": str(retention), "VisibilityTimeout": str(visibility)}
    new = after_open_read(a_state(), a_mapping(), attributes, config, episode=EPISODE, now=NOW)
    assert new["queue"] == {
        "retentionSeconds": retention,
        "visibilityTimeoutSeconds": visibility,
        "budgetSeconds": retention - margin,
    }
    assert new["tracking"] == {
        "loops": 0,
        "reopens": 0,
        "openSeconds": 0,
        "openReason": "the alarm entered ALARM",
    }


def test_the_remembered_settings_are_the_mappings_unless_a_ramp_was_interrupted():
    plain = after_open_read(a_state(), a_mapping(), ATTRIBUTES, CONFIG, episode=EPISODE, now=NOW)
    assert plain["original"]["scalingConfig"] == {} and plain["original"]["responseTypes"] == []
    assert plain["settingsRecord"] == {
        "scalingConfig": {},
        "responseTypes": [],
        "at": NOW,
        "execution": ME,
    }
    own = a_mapping(
        ScalingConfig={"MaximumConcurrency": 5}, FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    new = after_open_read(a_state(), own, ATTRIBUTES, CONFIG, episode=EPISODE, now=NOW)
    assert new["original"]["scalingConfig"] == {"MaximumConcurrency": 5}
    assert new["original"]["responseTypes"] == ["ReportBatchItemFailures"]
    saved = {"scalingConfig": {"MaximumConcurrency": 20}}
    ramp = a_mapping(ScalingConfig={"MaximumConcurrency": 2})
    new = after_open_read(
        a_state(), ramp, ATTRIBUTES, CONFIG, saved=saved, episode=EPISODE, now=NOW
    )
    assert new["original"]["scalingConfig"] == {"MaximumConcurrency": 20}


def read(mapping: dict, **answers: Any) -> tuple[dict, list[str]]:
    defaults = {
        "get_event_source_mapping": {**mapping, "ResponseMetadata": {"HTTPStatusCode": 200}},
        "get_queue_attributes": {"Attributes": ATTRIBUTES},
    }
    calls = Scripted(**{**defaults, **answers})
    new = run_open_read(
        a_state(), CONFIG, episode=EPISODE, lambda_client=calls, sqs=calls, ssm=calls, now=NOW
    )
    return new, calls.made


def test_the_recorded_settings_are_read_only_during_a_ramp():
    new, made = read(a_mapping(LastModified=dt.datetime(2026, 12, 4, tzinfo=dt.UTC)))
    assert made == ["get_event_source_mapping", "get_queue_attributes"]
    assert "ResponseMetadata" not in new["original"]["mapping"]
    json.dumps(new)  # the task's output is JSON: no datetimes
    saved = {"Parameter": {"Value": json.dumps({"scalingConfig": {"MaximumConcurrency": 9}})}}
    ramp = a_mapping(ScalingConfig={"MaximumConcurrency": 2})
    new, made = read(ramp, get_parameter=saved)
    assert made == ["get_event_source_mapping", "get_parameter", "get_queue_attributes"]
    assert new["original"]["scalingConfig"] == {"MaximumConcurrency": 9}
    # an unreadable record: the mapping's own settings, and the state says why
    new, _ = read(ramp, get_parameter=client_error("AccessDeniedException", "GetParameter"))
    assert new["original"]["scalingConfig"] == {"MaximumConcurrency": 2}
    assert new["settingsError"]["Error"] == "AccessDeniedException"


def test_a_failed_read_fails_the_task_and_an_inconsistent_mapping_reads_no_more():
    with pytest.raises(CheckError, match="GetEventSourceMapping uuid-1"):
        read(a_mapping(), get_event_source_mapping=client_error("Throttling", "Get"))
    with pytest.raises(CheckError, match="GetQueueAttributes"):
        read(a_mapping(), get_queue_attributes=client_error("QueueDoesNotExist", "Get"))
    new, made = read(a_mapping(EventSourceArn="arn:aws:sqs:us-east-1:123456789012:other"))
    assert new["step"]["next"] == INCONSISTENT and made == ["get_event_source_mapping"]
    assert "other" in new["error"]["Cause"]


def test_bad_settings_and_state_are_named():
    with pytest.raises(LoopStateError, match=r"open\.retentionMarginSeconds"):
        OpenConfig.parse({**CONFIG_INPUT, "retentionMarginSeconds": -1})
    with pytest.raises(LoopStateError, match=r"open\.queueArn"):
        OpenConfig.parse({**CONFIG_INPUT, "queueArn": ""})
    with pytest.raises(LoopStateError, match=r"started\.execution"):
        after_open_read({}, a_mapping(), ATTRIBUTES, CONFIG, episode=EPISODE, now=NOW)


def test_a_bad_episode_setting_is_named():
    with pytest.raises(LoopStateError, match=r"episode\.schedule"):
        EpisodeConfig.parse({"maxAttempts": 5, "openWaitSeconds": 30, "schedule": {"waits": []}})
    with pytest.raises(LoopStateError, match=r"episode\.maxAttempts"):
        EpisodeConfig.parse({**EPISODE.__dict__, "maxAttempts": -1})


# ---- the state a command takes the circuit from (transition events) -----------------------------
def lease(holder: str | None, phase: str | None) -> dict:
    attributes = {}
    if holder is not None:
        attributes["holder"] = {"S": holder}
    if phase is not None:
        attributes["phase"] = {"S": phase}
    return {"Attributes": attributes}


@pytest.mark.parametrize(
    ("previous", "expected"),
    [
        (lease("arn:hold", "held"), "HELD"),
        (lease("arn:episode", "open"), "OPEN"),
        (lease("arn:episode", "recovering"), "OPEN"),
        (lease("arn:episode", "closing"), "OPEN"),
        (lease("arn:close", "command"), "OPEN"),
        (lease("arn:episode", "watch"), "CLOSED"),  # a watch after a close
        (lease(None, "held"), "CLOSED"),  # released
        (lease("arn:episode", None), "CLOSED"),
        ({}, "CLOSED"),  # no lease at all (ALL_OLD of a new item)
        (None, "CLOSED"),
        ({"Attributes": {"holder": "not-a-typed-value", "phase": {"S": "open"}}}, "CLOSED"),
    ],
)
def test_command_from(previous, expected):
    assert command_from(previous) == expected


@given(holder=st.one_of(st.none(), st.text(min_size=1)), phase=st.one_of(st.none(), st.text()))
def test_command_from_is_always_a_state_of_the_circuit(holder, phase):
    assert command_from(lease(holder, phase)) in {"HELD", "OPEN", "CLOSED"}


def test_a_command_with_transition_events_records_the_state_it_takes_the_circuit_from():
    state = a_state(command="close", previousLease=lease("arn:hold", "held"))
    new = after_open_read(state, a_mapping(), ATTRIBUTES, CONFIG, episode=EPISODE, now=NOW)
    assert new["commandFrom"] == "HELD" and new["step"]["next"] == CLOSE
    inconsistent = after_open_read(
        state, a_mapping(FunctionArn="other"), ATTRIBUTES, CONFIG, episode=EPISODE, now=NOW
    )
    assert inconsistent["commandFrom"] == "HELD"  # known on every path
    plain = after_open_read(a_state(), a_mapping(), ATTRIBUTES, CONFIG, episode=EPISODE, now=NOW)
    assert "commandFrom" not in plain  # an alarm execution, or no bus
