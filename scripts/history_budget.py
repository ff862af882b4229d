#!/usr/bin/env python3
"""The longest stretch of execution-history events between two history measurements.

A STANDARD execution fails when its history reaches 25,000 events ("When an execution reaches
24,999 events, it waits for the next event to happen. If the event number 25,000 isn't
ExecutionSucceeded, the ExecutionFailed event is logged and the state machine execution fails",
Step Functions developer guide, "Avoid reaching the history quota"); no Catch sees it. The breaker
measures its own count (a GetExecutionHistory task: the newest event's id) after every wait of its
loops and hands the episode over to a successor execution past a threshold. That is safe only if
no path can add more events than the headroom (25,000 - threshold) between two measurements, or
between a measurement and the end of the execution.

This module computes that bound from a rendered definition, with AWS's event counts and every
retry taken:

- Pass, Choice, Wait: 2 events (StateEntered, StateExited); Succeed: 3 (with ExecutionSucceeded);
  Fail: 2 (FailStateEntered, ExecutionFailed).
- Task: 2 + 3 per attempt (TaskScheduled, TaskStarted, then TaskSucceeded / TaskFailed /
  TaskTimedOut), with 1 + the sum of its retriers' MaxAttempts (3 when omitted) attempts.
- Measurement states (Tasks calling getExecutionHistory, and the loops' Lambda tasks with
  Payload.check.handoverEvents or Payload.watch.handoverEvents, which read the count themselves)
  cut paths: a stretch ends
  at one, and a new stretch starts after it.
- A loop that does not pass a measurement must be one the breaker bounds with a counter
  (BOUNDED_LOOPS: a hold's disables of a mapping found enabled again; the single-flight claim's
  re-checks of a running holder, bounded by the
  setting the claim task renders for the probe function): its states count that many times.
  Any other loop is an error (it could reach the quota).

    python scripts/history_budget.py build/asl-check/full_text-this.asl.json
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

QUOTA = 25_000
MEASURE_SUFFIX = ":getExecutionHistory"
DEFAULT_MAX_ATTEMPTS = 3  # ASL: a retrier without MaxAttempts retries 3 times

# Loops without a measurement that the state machine bounds with counters: (states of the loop,
# the counters whose thresholds bound its iterations together). A counter is a Choice state (its
# NumericGreaterThanEquals threshold) or `State:dotted.path` (a number in the state's definition,
# such as a Lambda task's rendered setting that the function counts against).
BOUNDED_LOOPS: tuple[tuple[frozenset[str], tuple[str, ...]], ...] = (
    (
        # Single flight: the claim (lambda_src/probe/claim.py) rechecks a running holder at most
        # `rechecks` times; its lease attempts are inside the one invocation.
        frozenset({"ClaimEpisode", "AfterClaim", "WaitBeforeDuplicateRecheck"}),
        ("ClaimEpisode:Parameters.Payload.claim.rechecks",),
    ),
    (
        # A hold's mapping found enabled after the settle is disabled again at most
        # `disableAgainLimit` times (lambda_src/probe/verify.py counts them), each followed by
        # the settle and a look.
        frozenset(
            {
                "SettleAfterCommand",
                "VerifyAfterCommand",
                "IsMappingAsCommanded",
                "HoldDisableMappingAgain",
            }
        ),
        ("VerifyAfterCommand:Parameters.Payload.verify.disableAgainLimit",),
    ),
)


class BudgetError(ValueError):
    """The definition has a loop that no measurement and no counter bounds."""


@dataclass(frozen=True)
class Stretch:
    events: int  # the most events between two measurements (or a measurement and the end)
    path: tuple[str, ...]  # one path that adds them (state names, loops shown once)
    threshold: int | None  # the hand-over threshold found in the definition

    @property
    def headroom(self) -> int | None:
        return None if self.threshold is None else QUOTA - self.threshold


def task_events(state: dict[str, Any]) -> int:
    retriers = state.get("Retry", [])
    attempts = 1 + sum(int(r.get("MaxAttempts", DEFAULT_MAX_ATTEMPTS)) for r in retriers)
    return 2 + 3 * attempts


def state_events(state: dict[str, Any]) -> int:
    kind = state["Type"]
    if kind == "Task":
        return task_events(state)
    if kind == "Succeed":
        return 3
    return 2


def _check_threshold(state: dict[str, Any]) -> int | None:
    """The loops' Lambda tasks that measure the history themselves and hand over past
    handoverEvents (the probe loop's check, the watch's look: lambda_src/probe/step.py and
    look.py), else None."""
    payload = (state.get("Parameters") or {}).get("Payload")
    for key in ("check", "watch"):
        task = payload.get(key) if isinstance(payload, dict) else None
        if state["Type"] == "Task" and isinstance(task, dict) and "handoverEvents" in task:
            return int(task["handoverEvents"])
    return None


def is_measurement(state: dict[str, Any]) -> bool:
    if state["Type"] != "Task":
        return False
    return str(state.get("Resource", "")).endswith(MEASURE_SUFFIX) or (
        _check_threshold(state) is not None
    )


def successors(state: dict[str, Any]) -> list[str]:
    found: list[str] = []
    if "Next" in state:
        found.append(state["Next"])
    if "Default" in state:
        found.append(state["Default"])
    found += [choice["Next"] for choice in state.get("Choices", [])]
    found += [catch["Next"] for catch in state.get("Catch", [])]
    return list(dict.fromkeys(found))


def graph(definition: dict[str, Any]) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Edges and events per state."""
    states = definition["States"]
    edges = {name: successors(state) for name, state in states.items()}
    weight = {name: state_events(state) for name, state in states.items()}
    return edges, weight


def _sccs(nodes: Iterable[str], edges: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            targets = edges.get(node, [])
            if i < len(targets):
                work.append((node, i + 1))
                nxt = targets[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                result.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return result


def _threshold(states: dict[str, Any], counter: str) -> int:
    name, _, path = counter.partition(":")
    if path:
        value: Any = states[name]
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, bool) or not isinstance(value, int):
            raise BudgetError(f"{name} has no number at {path} to bound its loop")
        return value
    for rule in states[name].get("Choices", []):
        if "NumericGreaterThanEquals" in rule:
            return int(rule["NumericGreaterThanEquals"])
    raise BudgetError(f"{name} has no NumericGreaterThanEquals threshold to bound its loop")


def handover_threshold(definition: dict[str, Any]) -> int | None:
    """The event count past which the definition hands over (its measurement's Choice)."""
    states = definition["States"]
    for state in states.values():
        if _check_threshold(state) is not None:
            return _check_threshold(state)
        if is_measurement(state):
            choice = states.get(state.get("Next", ""), {})
            for rule in choice.get("Choices", []):
                if "NumericGreaterThanEquals" in rule:
                    return int(rule["NumericGreaterThanEquals"])
    return None


def longest_stretch(definition: dict[str, Any]) -> Stretch:
    states = definition["States"]
    edges, weight = graph(definition)
    measurements = {n for n in edges if is_measurement(states[n])}
    # Paths stop at a measurement: it has no outgoing edge inside a stretch.
    inner = {n: ([] if n in measurements else targets) for n, targets in edges.items()}
    components = _sccs(list(edges), inner)
    component_of = {n: i for i, c in enumerate(components) for n in c}
    comp_weight: list[int] = []
    for component in components:
        members = set(component)
        cyclic = len(component) > 1 or component[0] in inner.get(component[0], [])
        total = sum(weight[n] for n in component)
        if cyclic:
            bound = None
            for loop_states, counters in BOUNDED_LOOPS:
                if members <= loop_states:
                    present = [c for c in counters if c.partition(":")[0] in states]
                    bound = 1 + sum(_threshold(states, c) for c in present)
                    break
            if bound is None:
                raise BudgetError(
                    "a loop adds history events without a measurement or a counter that bounds"
                    f" it: {sorted(members)}"
                )
            total *= bound
        comp_weight.append(total)
    # Longest path over the condensed graph (a DAG); Tarjan emits components in reverse
    # topological order, so successors are done before their predecessors.
    best: list[int] = [0] * len(components)
    via: list[int | None] = [None] * len(components)
    for i, component in enumerate(components):
        follow = {component_of[t] for n in component for t in inner.get(n, [])} - {i}
        longest = max(follow, key=lambda j: best[j], default=None)
        best[i] = comp_weight[i] + (best[longest] if longest is not None else 0)
        via[i] = longest
    starts = [definition["StartAt"]] + [t for m in measurements for t in edges[m]]
    start = max((component_of[s] for s in starts), key=lambda i: best[i])
    path: list[str] = []
    node: int | None = start
    while node is not None:
        path += sorted(components[node])
        node = via[node]
    # The measurement that starts a stretch adds its own events after it read the count.
    events = best[start] + max((weight[m] for m in measurements), default=0)
    return Stretch(events=events, path=tuple(path), threshold=handover_threshold(definition))


def check(definition: dict[str, Any]) -> Stretch:
    """The stretch, or BudgetError when it does not fit: twice the stretch (one ending at the
    measurement that decides to hand over, then the hand-over's own) within the headroom, or,
    for a definition without measurements, the whole execution within the quota."""
    stretch = longest_stretch(definition)
    if stretch.threshold is None:
        if stretch.events >= QUOTA:
            raise BudgetError(f"up to {stretch.events} history events and no measurement")
        return stretch
    if 2 * stretch.events > stretch.headroom:
        raise BudgetError(
            f"up to {stretch.events} events between two history measurements: twice that must"
            f" fit the headroom of {stretch.headroom} (25,000 - {stretch.threshold}); lower the"
            " hand-over threshold or measure more often"
        )
    return stretch


def main(paths: list[str]) -> int:
    status = 0
    for path in paths:
        definition = json.loads(Path(path).read_text())
        try:
            stretch = check(definition)
        except BudgetError as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            status = 1
            continue
        if stretch.threshold is None:
            print(f"{Path(path).name}: at most {stretch.events} history events (no loop)")
        else:
            print(
                f"{Path(path).name}: at most {stretch.events} history events between two"
                f" measurements (hand-over at {stretch.threshold}, headroom {stretch.headroom})"
            )
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
