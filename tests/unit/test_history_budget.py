"""scripts/history_budget.py: the longest stretch of history events between two measurements."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def budget():
    spec = importlib.util.spec_from_file_location(
        "history_budget", ROOT / "scripts" / "history_budget.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["history_budget"] = module
    spec.loader.exec_module(module)
    return module


MEASURE = "arn:aws:states:::aws-sdk:sfn:getExecutionHistory"


def task(next_state: str | None = None, retry: list | None = None, **extra) -> dict:
    state = {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sqs:getQueueAttributes"}
    if retry is not None:
        state["Retry"] = retry
    if next_state is None:
        state["End"] = True
    else:
        state["Next"] = next_state
    return state | extra


def loop_definition(threshold: int = 20000, loop_retry: list | None = None) -> dict:
    """Wait -> Measure -> (hand over | Work) -> Wait: a loop cut by its measurement."""
    return {
        "StartAt": "Wait",
        "States": {
            "Wait": {"Type": "Wait", "Seconds": 1, "Next": "Measure"},
            "Measure": {"Type": "Task", "Resource": MEASURE, "Next": "Left"},
            "Left": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.n", "NumericGreaterThanEquals": threshold, "Next": "Done"}
                ],
                "Default": "Work",
            },
            "Work": task("Wait", retry=loop_retry or []),
            "Done": {"Type": "Succeed"},
        },
    }


def test_a_task_counts_two_events_and_three_per_attempt_every_retry_taken(budget):
    assert budget.task_events({"Type": "Task"}) == 5
    assert (
        budget.task_events({"Type": "Task", "Retry": [{"MaxAttempts": 6}, {"MaxAttempts": 2}]})
        == 2 + 3 * 9
    )
    # A retrier without MaxAttempts retries 3 times (ASL's default).
    assert budget.task_events({"Type": "Task", "Retry": [{"ErrorEquals": ["States.ALL"]}]}) == 14


def test_a_loop_is_cut_by_its_measurement(budget):
    stretch = budget.check(loop_definition(loop_retry=[{"MaxAttempts": 6}]))
    # After Measure (5): Left 2 + Work 2+3*7 + Wait 2, then Measure again (5) ends the stretch;
    # the measurement that started it adds its own 5.
    assert stretch.events == 5 + 2 + 23 + 2 + 5
    assert stretch.threshold == 20000 and stretch.headroom == 5000


def test_a_loop_without_a_measurement_is_refused(budget):
    definition = loop_definition()
    definition["States"]["Work"]["Next"] = "Left"  # Left -> Work -> Left: never measured
    with pytest.raises(budget.BudgetError, match="loop"):
        budget.check(definition)


def test_the_claim_loop_counts_as_often_as_its_rechecks(budget):
    claim = task("AfterClaim")
    claim["Parameters"] = {"Payload": {"claim": {"rechecks": 4}}}
    definition = {
        "StartAt": "ClaimEpisode",
        "States": {
            "ClaimEpisode": claim,
            "AfterClaim": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.a", "IsPresent": True, "Next": "WaitBeforeDuplicateRecheck"}
                ],
                "Default": "Done",
            },
            "WaitBeforeDuplicateRecheck": {"Type": "Wait", "Seconds": 1, "Next": "ClaimEpisode"},
            "Done": {"Type": "Succeed"},
        },
    }
    stretch = budget.check(definition)
    assert stretch.threshold is None  # no measurement: the whole execution is the stretch
    assert stretch.events == (5 + 2 + 2) * (1 + 4) + 3
    del claim["Parameters"]
    with pytest.raises(
        budget.BudgetError, match=r"no number at Parameters\.Payload\.claim\.rechecks"
    ):
        budget.check(definition)


def test_a_holds_second_look_counts_as_often_as_its_disable_again_limit(budget):
    verify = task("IsMappingAsCommanded")
    verify["Parameters"] = {"Payload": {"verify": {"disableAgainLimit": 2}}}
    definition = {
        "StartAt": "SettleAfterCommand",
        "States": {
            "SettleAfterCommand": {"Type": "Wait", "Seconds": 1, "Next": "VerifyAfterCommand"},
            "VerifyAfterCommand": verify,
            "IsMappingAsCommanded": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.a", "IsPresent": True, "Next": "HoldDisableMappingAgain"}
                ],
                "Default": "Done",
            },
            "HoldDisableMappingAgain": task("SettleAfterCommand"),
            "Done": {"Type": "Succeed"},
        },
    }
    stretch = budget.check(definition)
    assert stretch.events == (2 + 5 + 2 + 5) * (1 + 2) + 3
    del verify["Parameters"]
    with pytest.raises(budget.BudgetError, match=r"verify\.disableAgainLimit"):
        budget.check(definition)


def test_a_stretch_twice_over_the_headroom_is_refused(budget):
    # One loop adds 5 + 2 + (2 + 3 * 401) + 2 + 5 events: twice that passes 25,000 - 22,600.
    definition = loop_definition(threshold=22600, loop_retry=[{"MaxAttempts": 400}])
    with pytest.raises(budget.BudgetError, match="headroom of 2400"):
        budget.check(definition)


def test_the_rendered_definitions_fit(budget):
    """The definitions make asl renders (build/asl-check, when present) all fit: make lint
    checks them too; this keeps the check honest about real definitions."""
    rendered = sorted((ROOT / "build" / "asl-check").glob("*-this.asl.json"))
    if not rendered:
        pytest.skip("run `make asl` first to render the definitions")
    for path in rendered:
        assert budget.main([str(path)]) == 0, path
