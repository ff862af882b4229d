#!/usr/bin/env python3
"""The catalogue of states and the phase diagram of docs/state-machine.md, generated from the
rendered definitions (build/asl-check/*-this.asl.json, written by `make asl`).

Every state tags its phase at the start of its Comment (`[OPEN] ...`; `[shared]` for the states
entered from several phases). From those tags this script writes, between the
`<!-- catalogue:begin -->` and `<!-- catalogue:end -->` markers of docs/state-machine.md:

* a diagram of the phases (mermaid): an arrow from phase A to phase B for every transition from a
  state of A to a state of B, following shared states to the next tagged state, labelled with the
  states entered;
* the catalogue: every state of every configuration, by phase.

`make asl` (scripts/check_asl.py) fails when the section is stale; `make catalogue` writes it.

    python scripts/state_catalogue.py [--write] build/asl-check/*-this.asl.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sqs_circuit_breaker.catalogue import PHASES, SHARED, catalogue

import docs  # scripts/docs.py (this script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "state-machine.md"
BEGIN, END = "<!-- catalogue:begin -->", "<!-- catalogue:end -->"
FINISH = "done"  # the diagram's end node ("end" is a keyword of mermaid)
_NODE = {phase: phase.replace("-", "_") for phase in PHASES}
LABEL_STATES = 3


def _targets(state: Mapping[str, Any]) -> list[str]:
    """The states a state may go to next (FINISH when it may end the execution)."""
    names = [c["Next"] for c in state.get("Choices") or [] if "Next" in c]
    names += [state[k] for k in ("Next", "Default") if isinstance(state.get(k), str)]
    names += [c["Next"] for c in state.get("Catch") or [] if "Next" in c]
    ends = state.get("End") is True or state.get("Type") in ("Succeed", "Fail")
    return names + ([FINISH] if ends else [])


def phase_edges(definition: Mapping[str, Any]) -> dict[tuple[str, str], set[str]]:
    """(from phase, to phase) -> the tagged states entered, shared states followed through."""
    states = definition["States"]
    phases = catalogue(definition)
    edges: dict[tuple[str, str], set[str]] = defaultdict(set)

    def reach(start: Iterable[str]) -> set[str]:
        found, seen, todo = set(), set(), list(start)
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            if name == FINISH or phases.get(name) != SHARED:
                found.add(name)
            else:
                todo += _targets(states[name])
        return found

    for name in reach([definition["StartAt"]]):
        edges[("start", phases.get(name, FINISH))].add(name)
    for name, state in states.items():
        source = phases.get(name)
        if source in (None, SHARED):
            continue
        for target in reach(_targets(state)):
            phase = FINISH if target == FINISH else phases[target]
            if phase != source:
                edges[(source, phase)].add(target if target != FINISH else "")
    return edges


def render(definitions: Mapping[str, Mapping[str, Any]]) -> str:
    """The generated section: the phase diagram and the catalogue, over every configuration."""
    edges: dict[tuple[str, str], set[str]] = defaultdict(set)
    by_phase: dict[str, set[str]] = defaultdict(set)
    for definition in definitions.values():
        for key, entered in phase_edges(definition).items():
            edges[key] |= entered
        for name, phase in catalogue(definition).items():
            by_phase[phase].add(name)
    lines = [
        f"Generated from the rendered definitions ({', '.join(sorted(definitions))}) by"
        " `make catalogue`; `make asl` fails when it is stale.",
        "",
        "```mermaid",
        "flowchart LR",
        "    start((start))",
        f"    {FINISH}((end))",
    ]
    for phase in PHASES:
        lines.append(f'    {_NODE[phase]}["{phase}"]')
    for (source, target), entered in sorted(edges.items()):
        names = sorted(n for n in entered if n)
        label = ", ".join(names[:LABEL_STATES]) + (
            f" +{len(names) - LABEL_STATES}" if len(names) > LABEL_STATES else ""
        )
        arrow = f' -->|"{label}"| ' if label else " --> "
        lines.append(f"    {_NODE.get(source, source)}{arrow}{_NODE.get(target, target)}")
    lines += [
        "```",
        "",
        "| phase | states | the states (every configuration) |",
        "|---|--:|---|",
    ]
    for phase in (*PHASES, SHARED):
        names = sorted(by_phase.get(phase, ()))
        lines.append(f"| {phase} | {len(names)} | {', '.join(f'`{n}`' for n in names)} |")
    return "\n".join(lines) + "\n"


def update(document: str, section: str) -> str:
    return docs.update_section(document, BEGIN, END, section)


def main(argv: list[str] | None = None, document: Path = DOCUMENT) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the section (else check it)")
    parser.add_argument("definitions", nargs="+", type=Path)
    args = parser.parse_args(argv)
    definitions = {
        p.name.removesuffix(".asl.json"): json.loads(p.read_text()) for p in args.definitions
    }
    current = document.read_text(encoding="utf-8")
    wanted = update(current, render(definitions))
    if wanted == current:
        print(f"{document.name}: the catalogue of states is up to date")
        return 0
    if not args.write:
        print(
            f"{document.name}: the catalogue of states is stale: run `make catalogue`",
            file=sys.stderr,
        )
        return 1
    document.write_text(wanted, encoding="utf-8")
    print(f"{document.name}: catalogue of states written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
