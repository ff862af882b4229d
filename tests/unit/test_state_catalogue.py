"""scripts/state_catalogue.py: the phase diagram and catalogue generated from a definition."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import state_catalogue


def state(phase: str, **body) -> dict:
    return {"Comment": f"[{phase}] test", **body}


# Open, probe, then a shared gate before the close (superseded: the episode ends in OPEN).
DEFINITION = {
    "StartAt": "Begin",
    "States": {
        "Begin": state("OPENING", Type="Pass", Next="Disable"),
        "Disable": state("OPENING", Type="Pass", Next="NotifyOpened"),
        "NotifyOpened": state("shared", Type="Pass", Next="Wait"),
        "Wait": state("OPEN", Type="Wait", Seconds=1, Next="Probe"),
        "Probe": state(
            "HALF-OPEN",
            Type="Task",
            Resource="arn:aws:states:::lambda:invoke",
            Next="MarkLeaseClosing",
            Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Failed"}],
        ),
        "MarkLeaseClosing": state(
            "shared",
            Type="Task",
            Resource="arn:aws:states:::dynamodb:updateItem",
            Next="Close",
            Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Failed"}],
        ),
        "Close": state("CLOSED", Type="Pass", End=True),
        "Failed": state("OPEN", Type="Fail"),
    },
}


def test_edges_follow_shared_states_to_the_next_tagged_one():
    edges = state_catalogue.phase_edges(DEFINITION)
    assert edges == {
        ("start", "OPENING"): {"Begin"},
        ("OPENING", "OPEN"): {"Wait"},
        ("OPEN", "HALF-OPEN"): {"Probe"},
        ("HALF-OPEN", "CLOSED"): {"Close"},
        ("HALF-OPEN", "OPEN"): {"Failed"},
        ("CLOSED", "done"): {""},
        ("OPEN", "done"): {""},
    }


def test_the_section_lists_every_state_by_phase_and_draws_the_edges():
    section = state_catalogue.render({"test": DEFINITION})
    assert 'OPEN -->|"Probe"| HALF_OPEN' in section
    assert 'HALF_OPEN -->|"Close"| CLOSED' in section
    assert "| HALF-OPEN | 1 | `Probe` |" in section
    assert "| shared | 2 |" in section


def test_a_stale_section_fails_the_check_and_is_written_on_request(tmp_path: Path):
    definition = tmp_path / "x-this.asl.json"
    definition.write_text(json.dumps(DEFINITION))
    document = tmp_path / "state-machine.md"
    document.write_text(f"head\n{state_catalogue.BEGIN}\nold\n{state_catalogue.END}\ntail\n")
    assert state_catalogue.main([str(definition)], document) == 1
    assert state_catalogue.main(["--write", str(definition)], document) == 0
    assert state_catalogue.main([str(definition)], document) == 0
    assert "old" not in document.read_text() and document.read_text().endswith("tail\n")


def test_a_document_without_its_markers_is_an_error(tmp_path: Path):
    with pytest.raises(ValueError, match="catalogue:begin"):
        state_catalogue.update("no markers\n", "section\n")
