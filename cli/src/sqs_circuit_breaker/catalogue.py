"""The catalogue of the state machine's states (state -> phase), read from the definition itself.

Every state of the module's definition declares the phase of an episode it belongs to at the start
of its Comment, in brackets: "[HALF-OPEN] Invoke the function ...". "[shared]" marks the states
entered from several phases (the control check, the notifications, the history hand-over): they take
the phase of the state entered before them. The module's tests fail when a rendered state has no
tag (scripts/check_asl.py), so the definition is the one source of truth: this tool reads the phases
of the circuit it talks to, whatever the module version, and never lists state names by hand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

OPENING = "OPENING"
OPEN = "OPEN"
HALF_OPEN = "HALF-OPEN"
REJITTER = "REJITTER"
CLOSED = "CLOSED"
SHARED = "shared"
PHASES = (OPENING, OPEN, HALF_OPEN, REJITTER, CLOSED)

_TAG = re.compile(r"^\[(" + "|".join(re.escape(p) for p in (*PHASES, SHARED)) + r")\]")


def phase_tag(comment: Any) -> str | None:
    """The phase a state's Comment declares, or None."""
    if not isinstance(comment, str):
        return None
    match = _TAG.match(comment)
    return match.group(1) if match else None


def _states(definition: str | Mapping[str, Any]) -> Mapping[str, Any]:
    document = json.loads(definition) if isinstance(definition, str) else definition
    states = document.get("States") if isinstance(document, Mapping) else None
    if not isinstance(states, Mapping):
        raise ValueError("the definition has no States object")
    return states


def catalogue(definition: str | Mapping[str, Any]) -> dict[str, str]:
    """State name -> phase (or "shared") for every tagged state of a definition (ASL JSON)."""
    result = {}
    for name, state in _states(definition).items():
        tag = phase_tag(state.get("Comment") if isinstance(state, Mapping) else None)
        if tag is not None:
            result[name] = tag
    return result


def untagged(definition: str | Mapping[str, Any]) -> list[str]:
    """The states of a definition whose Comment declares no phase (a defect of the module)."""
    states = _states(definition)
    return sorted(set(states) - set(catalogue(definition)))


def phase_of(state_names: Iterable[str], phases: Mapping[str, str]) -> str:
    """The phase of an episode from its entered states, newest first.

    Shared states take the phase of the state before them; a state the catalogue does not know (a
    definition without tags) counts as OPEN, the safe reading while an episode runs.
    """
    for name in state_names:
        phase = phases.get(name, OPEN)
        if phase != SHARED:
            return phase
    return OPEN
