"""The open's preparation (lambda_src/probe/opening.py): what the ClaimEpisode task reads and
decides, once it has claimed the episode, before anything changes.

Properties: an inconsistent mapping never leads to a step that changes it; a mapping that is
already off is never disabled again and its recorded settings are never overwritten; the budget is
the retention less the margin; the input state is never changed.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import opening
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
from sqscb_fakes import RecordingCloudWatch, RecordingEvents, Scripted, client_error
from step import CheckError, MetricRef
from transitions import TaskEvents

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
        "probeBudgetSeconds": 120,
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
        # the guard's projection before the first wait: the wait and one probe's budget
        projected = 60 + 120
        exceeded = projected > new["queue"]["budgetSeconds"]
        assert new["guard"] == {"projectedSeconds": projected, "exceeded": exceeded}
        # (exceeded: no wait at all, the Probe task gives up at once)
        assert new["episode"]["attempt"] == 0
        assert new["episode"]["nextWaitSeconds"] == (0 if exceeded else 60)
        # a first wait that could outlive the backlog gives up on the retention at once
        assert (new.get("closeReason", {}).get("reason") == "retention") is exceeded
    else:
        assert "guard" not in new
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
    assert made == ["get_event_source_mapping", "get_queue_attributes", "put_parameter"]
    assert "ResponseMetadata" not in new["original"]["mapping"]
    json.dumps(new)  # the task's output is JSON: no datetimes
    saved = {"Parameter": {"Value": json.dumps({"scalingConfig": {"MaximumConcurrency": 9}})}}
    ramp = a_mapping(ScalingConfig={"MaximumConcurrency": 2})
    new, made = read(ramp, get_parameter=saved)
    assert made == [
        "get_event_source_mapping",
        "get_parameter",
        "get_queue_attributes",
        "put_parameter",
    ]
    assert new["original"]["scalingConfig"] == {"MaximumConcurrency": 9}
    # an unreadable record: the mapping's own settings, and the state says why
    new, _ = read(ramp, get_parameter=client_error("AccessDeniedException", "GetParameter"))
    assert new["original"]["scalingConfig"] == {"MaximumConcurrency": 2}
    assert new["settingsError"]["Error"] == "AccessDeniedException"


class RecordingSsm:
    """An SSM client that records PutParameter's arguments (and may refuse it)."""

    def __init__(self, refusal: Exception | None = None) -> None:
        self.refusal = refusal
        self.puts: list[dict[str, Any]] = []

    def put_parameter(self, **kwargs: Any) -> dict[str, Any]:
        self.puts.append(kwargs)
        if self.refusal is not None:
            raise self.refusal
        return {"Version": 2}


def record(mapping: dict, ssm: RecordingSsm, **state: Any) -> dict:
    calls = Scripted(
        get_event_source_mapping=mapping, get_queue_attributes={"Attributes": ATTRIBUTES}
    )
    return run_open_read(
        a_state(**state), CONFIG, episode=EPISODE, lambda_client=calls, sqs=calls, ssm=ssm, now=NOW
    )


@pytest.mark.parametrize("command", [None, "hold"])
def test_the_settings_are_recorded_before_a_running_mapping_is_disabled(command):
    ssm = RecordingSsm()
    new = record(
        a_mapping(ScalingConfig={"MaximumConcurrency": 7}),
        ssm,
        **({"command": command} if command else {}),
    )
    assert new["step"]["next"] == (SAVE_AND_HOLD if command else SAVE_AND_OPEN)
    [put] = ssm.puts
    assert put["Name"] == "/sqs-circuit-breaker/orders/settings"
    assert put["Type"] == "String" and put["Overwrite"] is True
    assert json.loads(put["Value"]) == new["settingsRecord"]
    assert json.loads(put["Value"])["scalingConfig"] == {"MaximumConcurrency": 7}
    assert "settingsError" not in new


def test_a_mapping_already_off_keeps_its_record_and_a_refused_record_does_not_stop_the_open():
    ssm = RecordingSsm()
    assert record(a_mapping("Disabled"), ssm)["step"]["next"] == OPEN
    assert record(a_mapping("Enabled"), ssm, command="close")["step"]["next"] == CLOSE
    assert ssm.puts == []
    refused = RecordingSsm(client_error("TooManyUpdates", "PutParameter"))
    new = record(a_mapping(), refused)
    assert new["step"]["next"] == SAVE_AND_OPEN and len(refused.puts) == 1
    assert new["settingsError"]["Error"] == "TooManyUpdates"
    assert "boom" in new["settingsError"]["Cause"]


def test_without_a_probe_budget_the_open_writes_no_guard():
    # a definition older than first_guard computes the guard itself (its CheckRetention state)
    older = EpisodeConfig.parse(
        {"maxAttempts": 5, "openWaitSeconds": 30, "schedule": EPISODE.schedule}
    )
    new = after_open_read(a_state(), a_mapping(), ATTRIBUTES, CONFIG, episode=older, now=NOW)
    assert "episode" in new and "guard" not in new


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


# ---- one task: the claim, then the read ---------------------------------------------------------
EPISODE_INPUT = {
    "maxAttempts": 5,
    "openWaitSeconds": 30,
    "schedule": {"waits": [30], "base": [15], "spread": [15], "visibility": [60]},
}


def claim_task(monkeypatch: pytest.MonkeyPatch, outcome: str, **event: Any) -> tuple[dict, list]:
    """The ClaimEpisode task's handler, its claim answering `outcome`: its answer, and the
    reads it made (the open read's state)."""
    reads: list[dict] = []

    def claimed(task_event: dict) -> dict:
        return {**task_event["state"], "started": {"execution": ME}, "claim": {"outcome": outcome}}

    def read(state: dict, config: OpenConfig, **_: Any) -> dict:
        reads.append(state)
        return {**state, "step": {"next": OPEN}}

    monkeypatch.setattr(opening, "claim_handler", claimed)
    monkeypatch.setattr(opening, "run_open_read", read)
    monkeypatch.setattr(opening.aws, "client", lambda *_, **__: None)
    base = {"open": CONFIG_INPUT, "episode": EPISODE_INPUT, "claim": {}, "state": {"time": NOW}}
    task_event = {k: v for k, v in {**base, **event}.items() if v is not None}
    return opening.open_handler(task_event), reads


@pytest.mark.parametrize("outcome", ["recheck", "duplicate", "ignored_held", "superseded"])
def test_the_claim_task_reads_nothing_unless_it_claimed(monkeypatch, outcome: str):
    answer, reads = claim_task(monkeypatch, outcome)
    assert answer["claim"] == {"outcome": outcome} and "step" not in answer and reads == []


def test_once_claimed_the_same_task_reads_and_decides(monkeypatch):
    answer, reads = claim_task(monkeypatch, "claimed")
    assert answer["step"] == {"next": OPEN} and reads == [{k: answer[k] for k in reads[0]}]
    assert reads[0]["claim"] == {"outcome": "claimed"}  # the read sees what the claim found


def test_a_malformed_open_setting_fails_the_task_before_the_claim(monkeypatch):
    with pytest.raises(LoopStateError, match=r"open\.queueArn"):
        claim_task(monkeypatch, "claimed", open={**CONFIG_INPUT, "queueArn": ""})
    with pytest.raises(LoopStateError, match=r"episode\.maxAttempts"):
        claim_task(monkeypatch, "claimed", episode={**EPISODE_INPUT, "maxAttempts": -1})


def test_an_older_definitions_read_task_does_not_claim(monkeypatch):
    answer, reads = claim_task(monkeypatch, "duplicate", claim=None)
    assert answer["step"] == {"next": OPEN} and "claim" not in reads[0]


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


def test_a_close_command_closes_for_the_operators_reason():
    state = a_state(
        command="close",
        reason="deploy done",
        requestedBy="arn:aws:iam::123456789012:user/ops",
        previousLease=lease("arn:hold", "held"),
    )
    new = after_open_read(state, a_mapping(), ATTRIBUTES, CONFIG, episode=EPISODE, now=NOW)
    assert new["step"]["next"] == CLOSE
    assert new["closeReason"] == {
        "reason": "forced",
        "from": "HELD",
        "note": " by arn:aws:iam::123456789012:user/ops: deploy done",
    }
    # only a close command has a close reason at the open
    for command in (None, "hold"):
        opened = a_state(**({"command": command} if command else {}))
        other = after_open_read(opened, a_mapping(), ATTRIBUTES, CONFIG, episode=EPISODE, now=NOW)
        assert "closeReason" not in other


METRIC = MetricRef("SqsCircuitBreaker", "orders")
EVENTS = TaskEvents("arn:bus", "orders", ME, "uuid-1", QUEUE_ARN)


def open_with(state: dict, mapping: dict, attributes: dict = ATTRIBUTES, **outputs: Any) -> dict:
    """The open's read of `mapping` (and the queue's `attributes`), with the given metric and
    event clients."""
    calls = Scripted(
        get_event_source_mapping=mapping, get_queue_attributes={"Attributes": attributes}
    )
    return run_open_read(
        state,
        CONFIG,
        episode=EPISODE,
        lambda_client=calls,
        sqs=calls,
        ssm=calls,
        now=NOW,
        **outputs,
    )


@pytest.mark.parametrize(
    ("mapping_state", "command", "publishes"),
    [
        ("Enabled", None, True),  # save_and_open
        ("Disabled", None, True),  # open (already off)
        ("Enabled", "hold", True),  # save_and_hold
        ("Disabled", "hold", True),  # hold
        ("Enabled", "close", False),
    ],
)
def test_the_open_says_circuit_state_1_as_it_opens_or_holds(mapping_state, command, publishes):
    cloudwatch = RecordingCloudWatch()
    state = a_state(**({"command": command} if command else {}))
    new = open_with(state, a_mapping(mapping_state), cloudwatch=cloudwatch, metric=METRIC)
    assert cloudwatch.states() == ([1] if publishes else [])
    if publishes:
        assert cloudwatch.puts[0]["Namespace"] == "SqsCircuitBreaker"
        assert cloudwatch.puts[0]["MetricData"][0]["Dimensions"] == [
            {"Name": "Circuit", "Value": "orders"}
        ]
    assert new["step"]["next"] in ("save_and_open", "open", "save_and_hold", "hold", "close")
    # an inconsistent mapping opens nothing, and says nothing
    quiet = RecordingCloudWatch()
    open_with(state, a_mapping(FunctionArn="other"), cloudwatch=quiet, metric=METRIC)
    assert quiet.puts == []


def test_a_refused_open_metric_does_not_stop_the_open():
    refused = RecordingCloudWatch(client_error("Throttling", "PutMetricData"))
    new = open_with(a_state(), a_mapping(), cloudwatch=refused, metric=METRIC)
    assert new["step"]["next"] == SAVE_AND_OPEN and len(refused.puts) == 1
    assert new["observabilityError"]["Error"] == "Throttling"


@pytest.mark.parametrize(
    ("mapping_state", "command", "expected"),
    [
        ("Enabled", None, ("CLOSED", "OPEN", "alarm", 0)),
        ("Disabled", None, ("CLOSED", "OPEN", "alarm", 0)),
        ("Enabled", "hold", ("OPEN", "HELD", "hold", None)),
        ("Disabled", "hold", ("OPEN", "HELD", "hold", None)),
        ("Enabled", "close", None),
    ],
)
def test_the_open_announces_the_transition_it_decides(mapping_state, command, expected):
    events = RecordingEvents()
    extra = (
        {"command": command, "reason": "deploy", "requestedBy": "ops"}
        | {"previousLease": lease(ME, "open")}
        if command
        else {}
    )
    new = open_with(a_state(**extra), a_mapping(mapping_state), events=events, transitions=EVENTS)
    if expected is None:
        assert events.entries == []
        return
    [entry] = events.entries
    detail = json.loads(entry["Detail"])
    assert (detail["from"], detail["to"], detail["reason"], detail["attempt"]) == expected
    assert detail["note"] == ("by ops: deploy" if command else new["tracking"]["openReason"])
    assert entry["Source"] == "sqs-circuit-breaker" and entry["EventBusName"] == "arn:bus"
    assert "eventError" not in new


def test_a_refused_open_event_is_recorded_and_the_open_goes_on():
    class Refusing:
        def put_events(self, Entries):
            raise client_error("AccessDeniedException", "PutEvents")

    new = open_with(a_state(), a_mapping(), events=Refusing(), transitions=EVENTS)
    assert new["step"]["next"] == SAVE_AND_OPEN and new["eventError"]["Error"] == "PutEvents"


def test_an_open_whose_first_wait_could_outlive_the_backlog_gives_up_and_says_so():
    # a queue that keeps messages for 1 h 2 min: less the 1 h margin, 120 s of budget, and the
    # first wait (60 s, the visibility timeout) and one probe (120 s) do not fit
    events = RecordingEvents()
    short = {"MessageRetentionPeriod": "3720", "VisibilityTimeout": "60"}
    new = open_with(a_state(), a_mapping(), short, events=events, transitions=EVENTS)
    assert new["step"]["next"] == SAVE_AND_OPEN  # it opens, then the Probe task gives up
    assert new["guard"]["exceeded"] is True and new["episode"]["nextWaitSeconds"] == 0
    assert new["closeReason"] == {"reason": "retention", "from": "GAVE UP", "note": ""}
    details = [json.loads(e["Detail"]) for e in events.entries]
    assert [(d["from"], d["to"], d["reason"], d["note"]) for d in details] == [
        ("CLOSED", "OPEN", "alarm", new["tracking"]["openReason"]),
        ("OPEN", "GAVE UP", "retention", "close"),
    ]
    assert details[1]["attempt"] == 0 and "eventError" not in new
