#!/usr/bin/env python3
"""The "Execution history" table of docs/state-machine.md, from the last `make test-history` run.

`make test-history` (tests/integration/test_e2e_history.py) measures, from GetExecutionHistory, the
history events of an episode that runs past the 25,000-event quota and writes
build/history/events.json; this script turns it into the table between docs/state-machine.md's
`<!-- history:begin -->` and `<!-- history:end -->` markers (`make history-readme`), with the
longest stretch between two measurements that scripts/history_budget.py computes on the rendered
definitions (build/asl-check, from `make asl`).

    python scripts/history_report.py [--readme]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import history_budget

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "build" / "history" / "events.json"
RENDERED = ROOT / "build" / "asl-check"
README = ROOT / "docs" / "state-machine.md"  # where the table lives
BEGIN, END = "<!-- history:begin -->", "<!-- history:end -->"


def commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def stretches() -> list[tuple[str, int]]:
    found = []
    for path in sorted(RENDERED.glob("*-this.asl.json")):
        stretch = history_budget.longest_stretch(json.loads(path.read_text()))
        found.append((path.name.removesuffix("-this.asl.json"), stretch.events))
    return found


def markdown(results: dict) -> str:
    loop, watch = results["per_probe_loop"], results["per_watch_poll"]
    median = loop["median"]
    median = int(median) if float(median).is_integer() else median
    lines = [
        f"Measured by `make test-history` on {results.get('date', 'the last run')} (commit"
        f" `{results.get('commit', commit())}`), from `GetExecutionHistory` on the emulator (which"
        " records the same events per state as AWS: StateEntered/StateExited, and TaskScheduled,"
        " TaskStarted, TaskSucceeded for a task):",
        "",
        "| what | history events |",
        "| --- | --- |",
        f"| from the start to the first probe loop (single flight, open, notification) |"
        f" {results['before_first_loop']} |",
        f"| one probe loop (`WaitBeforeProbe`, `Probe`, `AfterProbe`) |"
        f" {median} (min {loop['min']}, max {loop['max']}) |",
        f"| one look of the watch after a close (`WatchAfterClose`, `LookAtAlarm`, `AfterLook`)"
        f" | {watch['min']}"
        + (f" to {watch['max']}" if watch["max"] != watch["min"] else "")
        + " |",
        f"| hand-over (first execution ended at) | {results['handover_at']} |",
        "",
        f"The harness started each execution's history at event {results['fast_forward'] + 1}"
        " (`historyEventsUsed`, a shortcut to the quota); the first ran"
        f" {results['loops_first_execution']} probe loops and handed over at event"
        f" {results['handover_at']}, the episode ran {results['executions']} executions and closed"
        " on the first healthy probe. From event 1, as on AWS, one execution holds about"
        f" {results['loops_per_execution_from_event_1']:,} probe loops: with the defaults (a probe"
        " every 900 s or so once given up), about"
        f" {(20000 - results['before_first_loop']) / max(1, median) * 900 / 86400:.1f} days of"
        " probing before it hands over (the longest retention SQS allows is 14 days).",
    ]
    found = stretches()
    if found:
        lines += [
            "",
            "The longest stretch between two measurements, every retry taken, per rendered"
            " configuration (`scripts/history_budget.py`, checked in `make lint` against the"
            " 5,000 events of headroom): "
            + ", ".join(f"{name} {events}" for name, events in found)
            + ".",
        ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--readme", action="store_true", help="write the table into docs/state-machine.md"
    )
    args = parser.parse_args()
    if not RESULTS.exists():
        print(f"{RESULTS} is missing: run `make test-history` first", file=sys.stderr)
        return 1
    results = json.loads(RESULTS.read_text())
    results.setdefault("date", datetime.fromtimestamp(RESULTS.stat().st_mtime, UTC).date())
    text = markdown(results)
    print(text)
    if args.readme:
        readme = README.read_text()
        head, rest = readme.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        README.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
