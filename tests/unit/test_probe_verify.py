"""The look after an operator command (lambda_src/probe/verify.py): the VerifyAfterCommand task.

Properties: a hold never ends with its mapping on, a close never watches with its mapping off,
and a command that a later one superseded never reads or touches the mapping.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from loop import LoopStateError
from sqscb_fakes import Scripted, client_error
from step import CheckError
from verify import (
    DISABLE_AGAIN,
    ENABLE_AGAIN,
    HELD,
    SUPERSEDED,
    WATCH,
    VerifyConfig,
    run_verify,
)

ME = "arn:aws:states:us-east-1:123456789012:execution:orders-cb:hold-1"
LATER = "arn:aws:states:us-east-1:123456789012:execution:orders-cb:close-2"
CONFIG = VerifyConfig.parse({"controlParameter": "/cb/orders/control", "mappingUuid": "uuid-1"})
STATES = ["Enabled", "Enabling", "Disabled", "Disabling", "Updating", "Creating"]


def verify(command: str, marker: Any, mapping: Any) -> tuple[dict[str, Any], list[str]]:
    answers: dict[str, Any] = {
        "get_parameter": marker
        if isinstance(marker, Exception)
        else {"Parameter": {"Value": marker}},
        "get_event_source_mapping": mapping
        if isinstance(mapping, Exception)
        else {"State": mapping},
    }
    calls = Scripted(**answers)
    state = {"command": command, "started": {"execution": ME}, "step": {"next": command}}
    return run_verify(state, CONFIG, ssm=calls, lambda_client=calls), calls.made


def marker(execution: Any) -> str:
    return json.dumps({"mode": "hold", "execution": execution})


@pytest.mark.parametrize(
    ("command", "mapping", "step"),
    [
        ("hold", "Enabled", DISABLE_AGAIN),  # a superseded execution re-enabled it
        ("hold", "Enabling", DISABLE_AGAIN),
        ("hold", "Disabled", HELD),
        ("close", "Disabled", ENABLE_AGAIN),
        ("close", "Disabling", ENABLE_AGAIN),
        ("close", "Enabled", WATCH),
    ],
)
def test_the_mapping_is_set_once_more_if_it_is_not_as_commanded(command, mapping, step):
    new, made = verify(command, marker(ME), mapping)
    assert (new["step"]["next"], new["current"]) == (step, {"state": mapping})
    assert made == ["get_parameter", "get_event_source_mapping"]


@pytest.mark.parametrize(("command", "step"), [("hold", HELD), ("close", SUPERSEDED)])
def test_a_later_command_owns_the_circuit_and_this_one_looks_no_further(command, step):
    new, made = verify(command, marker(LATER), "Enabled")
    assert new["step"]["next"] == step and "current" not in new
    assert made == ["get_parameter"]


@pytest.mark.parametrize(
    "unreadable",
    [client_error("ThrottlingException", "GetParameter"), "not json", marker(None), "[]"],
)
def test_an_unreadable_marker_does_not_stop_the_look(unreadable):
    new, _ = verify("hold", unreadable, "Enabled")
    assert new["step"]["next"] == DISABLE_AGAIN


def test_an_unreadable_mapping_fails_the_task():
    with pytest.raises(CheckError, match="GetEventSourceMapping uuid-1 failed: ServiceException"):
        verify("close", marker(ME), client_error("ServiceException", "GetEventSourceMapping"))


def test_only_a_command_is_verified():
    with pytest.raises(LoopStateError, match=r"\$\.command \(hold or close\)"):
        run_verify({"started": {"execution": ME}}, CONFIG, ssm=None, lambda_client=None)


@given(
    command=st.sampled_from(["hold", "close"]),
    owner=st.sampled_from([ME, LATER, None]),
    mapping=st.sampled_from(STATES),
)
def test_a_command_never_ends_with_the_mapping_against_it(command, owner, mapping):
    new, made = verify(command, marker(owner), mapping)
    step = new["step"]["next"]
    if owner == LATER:
        assert "get_event_source_mapping" not in made and step in (HELD, SUPERSEDED)
    elif command == "hold":
        assert step == (DISABLE_AGAIN if mapping in ("Enabled", "Enabling") else HELD)
    else:
        assert step == (ENABLE_AGAIN if mapping in ("Disabled", "Disabling") else WATCH)


ROUTING = VerifyConfig.parse(
    {"controlParameter": "/cb/orders/control", "mappingUuid": "uuid-1", "disableAgainLimit": 1}
)


def verify_hold(mapping: str, owner: str = ME, **state: Any) -> dict[str, Any]:
    calls = Scripted(
        get_parameter={"Parameter": {"Value": marker(owner)}},
        get_event_source_mapping={"State": mapping},
    )
    hold = {"command": "hold", "started": {"execution": ME}, "step": {"next": "hold"}, **state}
    return run_verify(hold, ROUTING, ssm=calls, lambda_client=calls)


@given(
    mapping=st.sampled_from(STATES),
    owner=st.sampled_from([ME, LATER]),
    timed=st.booleans(),
    again=st.booleans(),
)
def test_a_hold_is_routed_by_its_end_and_never_held_with_its_mapping_on(
    mapping, owner, timed, again
):
    extra: dict[str, Any] = {"holdUntil": "2026-12-05T10:00:00Z"} if timed else {}
    if again:  # the look before decided disable_again (HoldDisableMappingAgain answered)
        extra.update(current={"state": "Disabling"}, disabledAgain=1)
    new = verify_hold(mapping, owner, **extra)
    step = new["step"]["next"]
    on = mapping in ("Enabled", "Enabling")
    if owner == ME and on:
        # disabled once more, then looked at again; on even then: the hold failed, and says why
        assert step == ("contested" if again else DISABLE_AGAIN)
        assert ("error" in new) is again
        assert new.get("disabledAgain") == 1  # counted: the loop is bounded
        if again:
            assert new["error"]["Error"] == "CircuitBreaker.HoldContested"
            assert mapping in new["error"]["Cause"]
    else:
        # held (a later command owns the circuit, or the mapping is off): a timed hold waits
        assert step == ("held_until" if timed else HELD) and "error" not in new
        # the execution's outcome: it ends held (Ended), or once its close is started
        assert new["outcome"] == ("hold_ended" if timed else "held")


def test_a_definition_that_does_not_route_holds_gets_held_as_before():
    # an older definition: no limit (it trusted a second disable), and it routes holdUntil itself
    timed = {"command": "hold", "started": {"execution": ME}, "holdUntil": "2026-12-05T10:00:00Z"}
    for mapping, expected in (("Enabled", DISABLE_AGAIN), ("Disabled", HELD)):
        calls = Scripted(
            get_parameter={"Parameter": {"Value": marker(ME)}},
            get_event_source_mapping={"State": mapping},
        )
        new = run_verify({**timed, "disabledAgain": 3}, CONFIG, ssm=calls, lambda_client=calls)
        assert new["step"]["next"] == expected and new["disabledAgain"] == 3  # not counted
    with pytest.raises(LoopStateError, match="disableAgainLimit must be a whole number"):
        VerifyConfig.parse({"controlParameter": "p", "mappingUuid": "u", "disableAgainLimit": -1})
