from __future__ import annotations

import json

import pytest
from sqscb_cli_support import PHASES, definition

from sqs_circuit_breaker.catalogue import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    OPENING,
    REJITTER,
    SHARED,
    catalogue,
    phase_of,
    phase_tag,
    untagged,
)


def test_the_catalogue_is_read_from_the_comments() -> None:
    assert catalogue(definition()) == PHASES


@pytest.mark.parametrize(
    ("comment", "tag"),
    [
        ("[HALF-OPEN] Invoke the function", HALF_OPEN),
        ("[OPEN]", OPEN),
        ("[shared] the control check", SHARED),
        ("[OPENING]x", OPENING),
        ("OPEN: no brackets", None),
        (" [OPEN] leading space", None),
        ("[open] lower case", None),
        ("[HALF OPEN]", None),
        (None, None),
        (3, None),
    ],
)
def test_only_a_leading_known_tag_declares_a_phase(comment: object, tag: str | None) -> None:
    assert phase_tag(comment) == tag


def test_untagged_states_are_listed() -> None:
    document = json.loads(definition())
    document["States"]["NewState"] = {"Type": "Pass", "End": True}
    document["States"]["Other"] = {"Type": "Pass", "Comment": "no tag", "End": True}
    assert untagged(document) == ["NewState", "Other"]
    assert untagged(definition()) == []


def test_a_definition_without_states_is_refused() -> None:
    with pytest.raises(ValueError, match="no States"):
        catalogue("{}")


@pytest.mark.parametrize(
    ("state", "phase"),
    [
        ("RouteCommand", OPENING),
        ("DisableMapping", OPENING),
        ("Probe", HALF_OPEN),
        ("RejitterWindow", REJITTER),
        ("WatchAfterClose", CLOSED),
        ("WaitBeforeProbe", OPEN),
    ],
)
def test_a_tagged_state_has_its_phase(state: str, phase: str) -> None:
    assert phase_of([state], PHASES) == phase


def test_shared_states_take_the_phase_of_the_state_before_them() -> None:
    assert phase_of(["NotifyGaveUp", "Probe"], PHASES) == HALF_OPEN
    assert phase_of(["NotifyOpened", "CheckControl", "DisableMapping"], PHASES) == OPENING
    assert phase_of(["CheckControl", "ControlBeforeProbe", "WaitBeforeProbe"], PHASES) == OPEN


def test_a_tagged_notification_has_its_own_phase() -> None:
    assert phase_of(["NotifyClosed", "Probe"], PHASES) == CLOSED


def test_unknown_states_and_only_shared_ones_are_open() -> None:
    assert phase_of(["NoSuchState", "Probe"], PHASES) == OPEN
    assert phase_of(["NotifyOpened"], PHASES) == OPEN
    assert phase_of([], PHASES) == OPEN
