"""Single flight (lambda_src/probe/claim.py): the ClaimEpisode task.

The lease's conditional writes run against moto's DynamoDB (the conditions are DynamoDB's, not a
fake's); Step Functions' DescribeExecution is scripted. Properties: a claim that does not claim
never changes the lease; a claim that claims leaves the lease held by this execution, phase open;
a running holder is never taken over unless it only watches and the alarm is newer than its close.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from claim import (
    ASK_HOLDER,
    CLAIMED,
    DUPLICATE,
    IGNORED_HELD,
    OURS,
    RECHECK,
    RETRY,
    SUPERSEDED,
    TAKE_OVER_FROM_WATCH,
    ClaimConfig,
    control_mode,
    judge_lease,
    run_claim,
    with_outcome,
    with_started,
)
from commands import ClaimError, control_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lease import NONE, Lease
from loop import LoopStateError
from opening import command_from
from sqscb_fakes import Scripted, client_error
from step import CheckError

PREFIX = "arn:aws:states:us-east-1:123456789012:execution:orders-cb:"
ME, OTHER = PREFIX + "me", PREFIX + "other"
NOW = "2026-12-04T10:00:00.000Z"
TABLE, CONTROL = "orders-cb-lease", "/sqs-circuit-breaker/orders/control"
CONFIG = ClaimConfig.parse(
    {
        "leaseTable": TABLE,
        "circuit": "orders",
        "controlParameter": CONTROL,
        "leaseAttempts": 3,
        "rechecks": 2,
        "recheckMinSeconds": 5,
        "recheckMaxSeconds": 15,
    }
)
KEY = {"circuit": {"S": "orders"}}


@pytest.fixture
def ddb(aws: None) -> Any:
    import boto3

    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "circuit", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "circuit", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


@pytest.fixture
def ssm(aws: None) -> Any:
    import boto3

    return boto3.client("ssm", region_name="us-east-1")


def put_lease(ddb: Any, **attributes: str) -> None:
    ddb.put_item(TableName=TABLE, Item={**KEY, **{k: {"S": v} for k, v in attributes.items()}})


def lease(ddb: Any) -> dict[str, str]:
    item = ddb.get_item(TableName=TABLE, Key=KEY, ConsistentRead=True).get("Item", {})
    return {k: v["S"] for k, v in item.items() if k != "circuit"}


def state(**extra: Any) -> dict[str, Any]:
    return {"started": {"execution": ME}, "time": "2026-12-04T10:00:00Z", **extra}


def sfn(status: str = "RUNNING") -> Scripted:
    if status == "GONE":
        return Scripted(describe_execution=client_error("ExecutionDoesNotExist", "Describe"))
    return Scripted(describe_execution={"status": status})


def claim(ddb: Any, ssm: Any, the_sfn: Any = None, **extra: Any) -> dict[str, Any]:
    new = with_outcome(
        run_claim(
            state(**extra),
            CONFIG,
            dynamodb=ddb,
            ssm=ssm,
            sfn=the_sfn or sfn(),
            now=NOW,
            rand=lambda low, high: high,
        )
    )
    # a claim that ends the execution says how (Ended): a duplicate, an ignored alarm
    ends = {DUPLICATE: "duplicate", IGNORED_HELD: "alarm_ignored_held"}
    assert new.get("outcome") == ends.get(new["claim"]["outcome"])
    return new["claim"]


def test_a_free_lease_is_taken(ddb: Any, ssm: Any):
    put_lease(ddb, phase="closing", closedAt="2026-12-04T09:00:00.000Z")  # released: no holder
    assert claim(ddb, ssm) | {"control": "x"} == {
        "outcome": CLAIMED,
        "how": "free",
        "attempts": 1,
        "rechecks": 0,
        "control": "x",
    }
    assert lease(ddb) == {"holder": ME, "phase": "open", "since": NOW}  # closedAt removed


def test_a_retried_claim_finds_the_lease_its_own(ddb: Any, ssm: Any):
    put_lease(ddb, holder=ME, phase="open", since=NOW)
    assert claim(ddb, ssm)["how"] == "ours"


def test_a_hold_ignores_the_alarm_and_touches_nothing(ddb: Any, ssm: Any):
    ssm.put_parameter(Name=CONTROL, Value=json.dumps({"mode": "hold"}), Type="String")
    result = claim(ddb, ssm)
    assert (result["outcome"], result["control"]) == (IGNORED_HELD, "hold")
    assert lease(ddb) == {}


def test_a_held_lease_with_an_unreadable_marker_ignores_the_alarm(ddb: Any, ssm: Any):
    put_lease(ddb, holder=OTHER, phase="held", since=NOW)  # no marker at all: unreadable
    result = claim(ddb, ssm, sfn("SUCCEEDED"))
    assert (result["outcome"], result["control"]) == (IGNORED_HELD, "unreadable")
    assert lease(ddb)["holder"] == OTHER


def test_a_hold_lifted_by_hand_leaves_a_stale_lease_that_is_taken_over(ddb: Any, ssm: Any):
    ssm.put_parameter(Name=CONTROL, Value=json.dumps({"mode": "auto"}), Type="String")
    put_lease(ddb, holder=OTHER, phase="held", since=NOW)
    result = claim(ddb, ssm, sfn("SUCCEEDED"))
    assert (result["outcome"], result["how"], result["holderStatus"]) == (
        CLAIMED,
        "took over a stale lease",
        "SUCCEEDED",
    )
    assert lease(ddb)["holder"] == ME


@pytest.mark.parametrize("status", ["GONE", "FAILED", "TIMED_OUT", "ABORTED"])
def test_an_ended_holder_loses_the_lease(ddb: Any, ssm: Any, status: str):
    put_lease(ddb, holder=OTHER, phase="open", since=NOW)
    assert claim(ddb, ssm, sfn(status))["how"] == "took over a stale lease"
    assert lease(ddb) == {"holder": ME, "phase": "open", "since": NOW}


def test_a_running_holder_is_rechecked_then_the_alarm_event_is_a_duplicate(ddb: Any, ssm: Any):
    put_lease(ddb, holder=OTHER, phase="open", since=NOW)
    first = claim(ddb, ssm)
    assert (first["outcome"], first["rechecks"], first["waitSeconds"]) == (RECHECK, 1, 15)
    second = claim(ddb, ssm, claim=first)
    assert (second["outcome"], second["rechecks"]) == (RECHECK, 2)
    third = claim(ddb, ssm, claim=second)
    assert (third["outcome"], third["rechecks"], third["holderStatus"]) == (DUPLICATE, 2, "RUNNING")
    assert "waitSeconds" not in third
    assert lease(ddb)["holder"] == OTHER


def test_a_second_wave_after_the_close_takes_the_episode_over_from_the_watch(ddb: Any, ssm: Any):
    put_lease(ddb, holder=OTHER, phase="watch", since=NOW, closedAt="2026-12-04T09:59:00.000Z")
    the_sfn = sfn()
    result = claim(ddb, ssm, the_sfn)
    assert result["how"] == "took over from the watch"
    assert the_sfn.made == []  # no need to ask the watching holder
    assert lease(ddb) == {"holder": ME, "phase": "open", "since": NOW}


def test_an_alarm_from_before_the_close_does_not_take_the_watch_over(ddb: Any, ssm: Any):
    put_lease(ddb, holder=OTHER, phase="watch", since=NOW, closedAt="2026-12-04T10:00:01.000Z")
    assert claim(ddb, ssm)["outcome"] == RECHECK
    assert lease(ddb)["phase"] == "watch"


class Racing:
    """DynamoDB whose every conditional write loses, and whose lease is held by an ended
    execution: the lease keeps changing hands."""

    def __init__(self) -> None:
        self.updates = 0

    def update_item(self, **kwargs: Any) -> None:
        self.updates += 1
        raise client_error("ConditionalCheckFailedException", "UpdateItem")

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        return {"Item": {**KEY, "holder": {"S": OTHER}, "phase": {"S": "open"}}}


def test_a_lease_that_keeps_changing_hands_is_given_up_after_the_attempts(ssm: Any):
    racing = Racing()
    result = claim(racing, ssm, sfn("FAILED"))
    assert (result["outcome"], result["attempts"]) == (DUPLICATE, 3)
    assert racing.updates == 2 * 3  # each attempt: the free write, then the takeover


@pytest.mark.parametrize(
    ("fail", "expected"),
    [
        ("update_item", "UpdateItem of the lease failed: ProvisionedThroughputExceededException"),
        ("get_item", "GetItem of the lease failed: InternalServerError"),
    ],
)
def test_a_failed_lease_call_fails_the_task(ssm: Any, fail: str, expected: str):
    answers: dict[str, Any] = {
        "update_item": client_error("ConditionalCheckFailedException", "UpdateItem"),
        "get_item": {"Item": {"holder": {"S": OTHER}}},
    }
    answers[fail] = client_error(expected.split(": ")[1], fail)
    with pytest.raises(CheckError, match=expected):
        claim(Scripted(**answers), ssm)


def test_a_holder_that_cannot_be_described_fails_the_task(ddb: Any, ssm: Any):
    put_lease(ddb, holder=OTHER, phase="open", since=NOW)
    denied = Scripted(describe_execution=client_error("AccessDeniedException", "Describe"))
    with pytest.raises(CheckError, match=r"DescribeExecution of .*other failed"):
        claim(ddb, ssm, denied)
    assert lease(ddb)["holder"] == OTHER


def test_an_unreadable_marker_does_not_keep_the_breaker_from_opening(ddb: Any):
    broken = Scripted(get_parameter=client_error("ThrottlingException", "GetParameter"))
    result = claim(ddb, broken)
    assert (result["outcome"], result["control"]) == (CLAIMED, "unreadable")


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        (None, None),
        ("not json", None),
        ("[1]", None),
        ('{"mode": "hold"}', "hold"),
        ('{"mode": "auto", "execution": null}', "auto"),
        ("{}", ""),
    ],
)
def test_control_mode(value: str | None, mode: str | None):
    assert control_mode(value) == mode


@pytest.mark.parametrize(
    ("item", "unreadable", "time", "verdict"),
    [
        (None, False, None, RETRY),
        ({"phase": {"S": "open"}}, False, None, RETRY),
        ({"holder": {"S": ME}}, False, None, OURS),
        ({"holder": {"S": OTHER}, "phase": {"S": "held"}}, True, None, IGNORED_HELD),
        ({"holder": {"S": OTHER}, "phase": {"S": "held"}}, False, None, ASK_HOLDER),
        (
            {"holder": {"S": OTHER}, "phase": {"S": "watch"}, "closedAt": {"S": "garbage"}},
            False,
            "2026-12-04T10:00:00Z",
            ASK_HOLDER,
        ),
        (
            {"holder": {"S": OTHER}, "phase": {"S": "watch"}, "closedAt": {"S": NOW}},
            False,
            "2026-12-04T10:00:00.001Z",
            TAKE_OVER_FROM_WATCH,
        ),
        (
            {"holder": {"S": OTHER}, "phase": {"S": "watch"}, "closedAt": {"S": NOW}},
            False,
            "2026-12-04T10:00:00",  # no offset: not a timestamp Step Functions would compare
            ASK_HOLDER,
        ),
    ],
)
def test_judge_lease(item: Any, unreadable: bool, time: Any, verdict: str):
    assert judge_lease(item, ME, control_unreadable=unreadable, alarm_time=time) == verdict


def test_the_settings_are_checked():
    with pytest.raises(LoopStateError, match=r"claim.leaseAttempts must be a positive integer"):
        ClaimConfig.parse({**vars_of(CONFIG), "leaseAttempts": 0})
    with pytest.raises(LoopStateError, match="recheckMinSeconds must not exceed"):
        ClaimConfig.parse({**vars_of(CONFIG), "recheckMinSeconds": 20})
    with pytest.raises(LoopStateError, match=r"\$.started.execution is missing"):
        run_claim({}, CONFIG, dynamodb=None, ssm=None, sfn=None, now=NOW)


def vars_of(config: ClaimConfig) -> dict[str, Any]:
    return {
        "leaseTable": config.lease_table,
        "circuit": config.circuit,
        "controlParameter": config.control_parameter,
        "leaseAttempts": config.lease_attempts,
        "rechecks": config.rechecks,
        "recheckMinSeconds": config.recheck_min_seconds,
        "recheckMaxSeconds": config.recheck_max_seconds,
    }


HOLDERS = st.sampled_from([None, ME, OTHER])
PHASES = st.sampled_from([None, "open", "recovering", "closing", "watch", "held", "command"])
TIMES = st.sampled_from([None, "2026-12-04T09:59:00.000Z", "2026-12-04T10:00:01.000Z", "bad"])
STATUSES = st.sampled_from(["RUNNING", "SUCCEEDED", "FAILED", "GONE"])
MARKERS = st.sampled_from([None, '{"mode": "hold"}', '{"mode": "auto"}', "broken"])


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    holder=HOLDERS,
    phase=PHASES,
    closed=TIMES,
    status=STATUSES,
    marker=MARKERS,
    checks=st.integers(0, 3),
)
def test_a_claim_changes_the_lease_only_to_take_it(
    ddb: Any,
    *,
    holder: str | None,
    phase: str | None,
    closed: str | None,
    status: str,
    marker: str | None,
    checks: int,
):
    import boto3

    ssm = boto3.client("ssm", region_name="us-east-1")
    if marker is None:
        ssm.delete_parameters(Names=[CONTROL])
    else:
        ssm.put_parameter(Name=CONTROL, Value=marker, Type="String", Overwrite=True)
    ddb.delete_item(TableName=TABLE, Key=KEY)
    attributes = {
        k: v for k, v in (("holder", holder), ("phase", phase), ("closedAt", closed)) if v
    }
    if attributes:
        put_lease(ddb, **attributes)
    before = lease(ddb)
    result = claim(ddb, ssm, sfn(status), claim={"rechecks": checks})
    after = lease(ddb)
    if result["outcome"] == CLAIMED:
        assert after == {"holder": ME, "phase": "open", "since": NOW} or (
            holder == ME and after == before
        )
    else:
        assert after == before
    if marker == '{"mode": "hold"}':
        assert result["outcome"] == IGNORED_HELD
    if holder == OTHER and status == "RUNNING" and result["outcome"] == CLAIMED:
        # a running holder keeps its episode, unless it only watches and the alarm is newer
        assert phase == "watch" and closed == "2026-12-04T09:59:00.000Z"
    if result["outcome"] == RECHECK:
        assert 5 <= result["waitSeconds"] <= 15 and result["rechecks"] == checks + 1 <= 2


# ---- operator commands ------------------------------------------------------------------------
STARTED_AT = "2026-12-04T09:59:58.123Z"


def command(ddb: Any, ssm: Any, name: str = "hold", execution: str = ME, **extra: Any) -> dict:
    given = {
        "started": {"execution": execution, "at": STARTED_AT},
        "command": name,
        "reason": "deploy",
        "requestedBy": "arn:aws:iam::123456789012:user/ops",
        **extra,
    }
    return run_claim(given, CONFIG, dynamodb=ddb, ssm=ssm, sfn=None, now=NOW)


def marker(ssm: Any) -> dict[str, Any]:
    value = ssm.get_parameter(Name=CONTROL)["Parameter"]["Value"]
    assert " " not in value.replace("deploy", "")  # compact, as States.JsonToString writes it
    return json.loads(value)


def test_a_hold_writes_the_marker_then_takes_the_lease_from_a_running_episode(ddb: Any, ssm: Any):
    put_lease(ddb, holder=OTHER, phase="recovering", since=NOW)
    new = command(ddb, ssm, holdUntil="2026-12-04T12:00:00Z")
    assert new["claim"] == {"outcome": CLAIMED, "how": "command", "control": "hold"}
    assert marker(ssm) == {
        "mode": "hold",
        "command": "hold",
        "reason": "deploy",
        "requestedBy": "arn:aws:iam::123456789012:user/ops",
        "at": STARTED_AT,
        "execution": ME,
        "until": "2026-12-04T12:00:00Z",
    }
    taken = lease(ddb)
    assert (taken["holder"], taken["phase"], taken["since"]) == (ME, "held", NOW)
    assert new["previousLease"] == {
        "Attributes": {"holder": {"S": OTHER}, "phase": {"S": "recovering"}}
    }
    assert command_from(new["previousLease"]) == "OPEN"


def test_a_close_takes_the_lease_from_a_hold(ddb: Any, ssm: Any):
    put_lease(ddb, holder=OTHER, phase="held", since=NOW)
    new = command(ddb, ssm, "close", holdUntil="2026-12-04T12:00:00Z")
    assert "until" not in marker(ssm) and marker(ssm)["mode"] == "auto"
    assert lease(ddb)["phase"] == "command"
    assert command_from(new["previousLease"]) == "HELD"


def test_a_command_on_a_closed_circuit_replaced_no_lease(ddb: Any, ssm: Any):
    new = command(ddb, ssm)
    assert new["previousLease"] == {"Attributes": {}}
    assert command_from(new["previousLease"]) == "CLOSED"
    assert lease(ddb)["replacedHolder"] == NONE


def test_a_retried_command_reports_the_lease_its_first_write_replaced(ddb: Any, ssm: Any):
    put_lease(ddb, holder=OTHER, phase="watch", since=NOW, closedAt=NOW)
    first = command(ddb, ssm, "close")
    again = command(ddb, ssm, "close")  # the task retried after its write had succeeded
    assert again["previousLease"] == first["previousLease"]
    assert command_from(again["previousLease"]) == "CLOSED"  # a watch after a close
    assert "closedAt" not in lease(ddb)
    # a later command replaces this one's lease (and says so)
    later = command(ddb, ssm, "hold", execution=PREFIX + "later")
    assert later["previousLease"]["Attributes"] == {
        "holder": {"S": ME},
        "phase": {"S": "command"},
    }


def test_a_marker_that_cannot_be_written_changes_nothing(ddb: Any):
    put_lease(ddb, holder=OTHER, phase="open", since=NOW)
    too_long = Scripted(put_parameter=client_error("ValidationException", "PutParameter"))
    with pytest.raises(ClaimError, match="the control marker was refused"):
        command(ddb, too_long)
    throttled = Scripted(put_parameter=client_error("ThrottlingException", "PutParameter"))
    with pytest.raises(CheckError, match=r"PutParameter .* failed: ThrottlingException"):
        command(ddb, throttled)
    assert lease(ddb)["holder"] == OTHER


def test_only_hold_and_close_are_commands():
    with pytest.raises(LoopStateError, match="must be hold or close, got 'open'"):
        control_record({"command": "open", "started": {}})


# ---- the close a timed hold starts at its end ($.ifHeldBy) -------------------------------------
HOLD = PREFIX + "hold-timed"


def test_a_timed_holds_close_takes_the_circuit_from_the_hold(ddb: Any, ssm: Any):
    put_lease(ddb, holder=HOLD, phase="held", since=NOW)
    new = command(ddb, ssm, "close", ifHeldBy=HOLD)
    assert new["claim"] == {"outcome": CLAIMED, "how": "command", "control": "auto"}
    assert command_from(new["previousLease"]) == "HELD"
    assert (lease(ddb)["holder"], lease(ddb)["phase"]) == (ME, "command")
    assert marker(ssm)["command"] == "close" and marker(ssm)["execution"] == ME
    # the task retried after its writes had succeeded: the same answer, nothing else changes
    again = command(ddb, ssm, "close", ifHeldBy=HOLD)
    assert again["claim"]["outcome"] == CLAIMED
    assert again["previousLease"] == new["previousLease"]


@pytest.mark.parametrize("owner", [PREFIX + "later-hold", PREFIX + "later-close", None])
def test_a_timed_holds_close_changes_nothing_once_a_later_command_owns_the_circuit(
    ddb: Any, ssm: Any, owner: str | None
):
    # a hold given during the timed hold (or a close, which may since have released the lease)
    later = {"mode": "hold", "command": "hold", "execution": owner or PREFIX + "gone"}
    compact = json.dumps(later, separators=(",", ":"))
    ssm.put_parameter(Name=CONTROL, Value=compact, Type="String", Overwrite=True)
    if owner is not None:
        put_lease(ddb, holder=owner, phase="held", since=NOW)
    before = lease(ddb)
    new = command(ddb, ssm, "close", ifHeldBy=HOLD)
    assert new["claim"] == {"outcome": SUPERSEDED, "how": "the timed hold no longer owns it"}
    assert "previousLease" not in new
    assert lease(ddb) == before  # untouched (or still no lease)
    assert marker(ssm) == later  # the later command's marker stays


def test_if_held_by_names_a_hold_for_a_close_only(ddb: Any, ssm: Any):
    with pytest.raises(LoopStateError, match=r"\$\.ifHeldBy"):
        command(ddb, ssm, "hold", ifHeldBy=HOLD)
    with pytest.raises(LoopStateError, match=r"\$\.ifHeldBy"):
        command(ddb, ssm, "close", ifHeldBy=7)


# ---- a successor after a hand-over (step.continue_from_predecessor) ----------------------------
def test_a_successor_takes_the_lease_from_its_predecessor_and_keeps_its_phase(ddb: Any):
    put_lease(ddb, holder=OTHER, phase="watch", since=NOW, closedAt="2026-12-04T09:00:00.000Z")
    successor = Lease(ddb, TABLE, "orders", ME, "2026-12-04T10:05:00.000Z")
    assert successor.pass_from(OTHER)
    assert lease(ddb) == {
        "holder": ME,
        "phase": "watch",
        "since": "2026-12-04T10:05:00.000Z",
        "closedAt": "2026-12-04T09:00:00.000Z",
    }
    assert successor.pass_from(OTHER)  # a retried task: already ours
    # a command took the lease from the predecessor first: the successor does not get it
    put_lease(ddb, holder=PREFIX + "hold", phase="held", since=NOW)
    assert not successor.pass_from(OTHER)
    assert lease(ddb)["holder"] == PREFIX + "hold"


def test_the_watch_marks_its_own_lease_only(ddb: Any):
    put_lease(ddb, holder=ME, phase="closing", since=NOW)
    mine = Lease(ddb, TABLE, "orders", ME, NOW)
    assert mine.mark_watching("2026-12-04T10:01:00.000Z")
    assert lease(ddb) == {
        "holder": ME,
        "phase": "watch",
        "since": NOW,
        "closedAt": "2026-12-04T10:01:00.000Z",
    }
    # an alarm execution newer than the close took the episode over: the watch is superseded
    put_lease(ddb, holder=OTHER, phase="open", since=NOW)
    assert not mine.mark_watching("2026-12-04T10:02:00.000Z")
    assert lease(ddb) == {"holder": OTHER, "phase": "open", "since": NOW}


def test_the_episode_releases_its_own_lease_only(ddb: Any):
    put_lease(ddb, holder=ME, phase="watch", since=NOW)
    assert Lease(ddb, TABLE, "orders", OTHER, NOW).release() is None  # not its lease: kept
    assert lease(ddb)["holder"] == ME
    assert Lease(ddb, TABLE, "orders", ME, NOW).release() is None
    assert lease(ddb) == {}
    assert Lease(ddb, TABLE, "orders", ME, NOW).release() is None  # a retry: nothing left
    broken = Lease(
        Scripted(delete_item=client_error("InternalServerError", "D")), TABLE, "o", ME, NOW
    )
    cause = "InternalServerError: boom"
    assert broken.release() == {"Error": "InternalServerError", "Cause": cause}


def test_the_claim_records_when_and_which_execution_started():
    started = {"execution": ME, "at": STARTED_AT, "name": "me"}
    assert with_started({"time": "t"}, started) == {"time": "t", "started": started}
    # an execution of an older definition recorded it itself: kept
    older = {"started": {"execution": OTHER, "at": NOW, "name": "other"}}
    assert with_started(older, started) == older
    with pytest.raises(LoopStateError, match="started must name the execution"):
        with_started({}, {"execution": ME})
