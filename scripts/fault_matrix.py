#!/usr/bin/env python3
"""`make test-faults`: every AWS call the breaker makes fails, once and for good; nothing is lost.

1. Applies examples/complete as the `flt` stack (seconds-scale timings, retries from 1 s) on the
   emulator (started here unless LOCALSTACK_ENDPOINT names one).
2. Plays a seed episode and records the calls the breaker made, by caller: its roles (state
   machine, probe, rejitter, EventBridge) and the services delivering for it (alarm actions,
   EventBridge targets). The matrix is these (caller, operation) pairs: derived, not listed.
3. Plays the episode again once per pair and mode: `transient` (the first call fails with the
   service's retryable error: throttling, or a 5xx where the service has no throttle error) and
   `persistent` (every call fails with it, for the whole episode). Then the faults that are more
   than one call: the probe running out of time, the rejitter's batch send partly failing,
   UpdateEventSourceMapping throttled during the close, SNS unavailable all episode.
4. Judges each on outcomes (tests/integration/fault_play.py) and writes build/faults/results.md
   and results.json. Fails when a run lost a message or left a circuit open without saying why,
   or when a transient fault changed what a user sees (the end, the close reason).

    python scripts/fault_matrix.py [--only SUBSTRING] [--limit N] [--keep-stack]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from circuit import Circuit  # noqa: E402  (the integration tests' helpers)
from fault_play import (  # noqa: E402
    ALARM_PERIOD,
    FAULT_STACK_VARS,
    Outcome,
    calls_made,
    harness_faults,
    play,
)
from localstack_harness import ctl  # noqa: E402
from stack import Stack  # noqa: E402
from support import client, save_iam_decisions  # noqa: E402

OUT = ROOT / "build" / "faults"
NAME = "flt"
# The retryable error a service returns to a caller that goes too fast (or, without one, its 5xx)
TRANSIENT = {
    "lambda": "TooManyRequestsException",
    "sqs": "RequestThrottled",
    "sns": "Throttled",
    "stepfunctions": "ThrottlingException",
    "dynamodb": "ThrottlingException",
    "cloudwatch": "Throttling",
    "events": "ThrottlingException",
    "ssm": "ThrottlingException",
}


def pair_rules(pair: tuple[str, str, str], mode: str) -> list[dict]:
    identity, service, operation = pair
    rule = {
        "service": service,
        "operation": operation,
        "principal": identity,
        "error": TRANSIENT[service],
        "times": 1 if mode == "transient" else None,
    }
    return [rule]


def special_cases(owner: str) -> list[tuple[str, list[dict]]]:
    """The faults that are more than one call. A label ending in "(abort at <State>)" has an
    operator stop the execution in that state (the cleanup state machine's path)."""
    sfn, probe, rejitter = (
        f"role/{owner}cb-sfn",
        f"role/{owner}cb-probe",
        f"role/{owner}cb-rejitter",
    )
    return [
        # the probe's receive hangs past the probe Lambda's timeout: Lambda ends it (a timeout)
        (
            "probe runs out of time (ReceiveMessage hangs 40 s)",
            [{"service": "sqs", "operation": "ReceiveMessage", "principal": probe,
              "kind": "delay", "seconds": 40, "times": 1}],
        ),
        (
            "rejitter's SendMessageBatch partly fails (2 entries per batch, for good)",
            [{"service": "sqs", "operation": "SendMessageBatch", "principal": rejitter,
              "kind": "partial", "entries": 2, "times": None}],
        ),
        (
            "UpdateEventSourceMapping throttled 3 times from the close on",
            [{"service": "lambda", "operation": "UpdateEventSourceMapping", "principal": sfn,
              "error": "TooManyRequestsException", "after": 1, "times": 3}],
        ),
        (
            "mapping busy: ResourceInUseException on every update for 8 s",
            [{"service": "lambda", "operation": "UpdateEventSourceMapping", "principal": sfn,
              "error": "ResourceInUseException", "times": None}],  # windowed at play time
        ),
        (
            "the cleanup cannot turn the rejitter off (abort at RejitterWindow)",
            [{"service": "lambda", "operation": "UpdateEventSourceMapping",
              "principal": f"role/{owner}cb-cleanup", "error": "ServiceException",
              "times": None}],
        ),
        (
            "SNS unavailable for the whole episode",
            [{"service": "sns", "operation": "Publish", "target": owner,
              "error": "InternalError", "times": None}],
        ),
        (
            "credentials of the probe expire (ExpiredToken on every SQS call: the open's read)",
            [{"service": "sqs", "operation": "GetQueueAttributes", "principal": probe,
              "error": "ExpiredToken", "times": None}],
        ),
    ]  # fmt: skip


def windowed(rules: list[dict], label: str) -> list[dict]:
    if "for 8 s" in label:
        now = time.time()
        return [{**r, "start": now, "end": now + 8} for r in rules]
    return rules


def judge_against(baseline: Outcome, outcome: Outcome, mode: str) -> str:
    """'' when the run keeps the promises, else what it broke."""
    problems = []
    if outcome.lost:
        problems.append(f"lost {len(outcome.lost)}")
    if outcome.end.startswith("SILENT"):
        problems.append(outcome.end)
    if mode == "transient" and (outcome.end, outcome.reason) != (baseline.end, baseline.reason):
        problems.append(f"a transient fault changed the outcome: {outcome.end} ({outcome.reason})")
    return "; ".join(problems)


def write(rows: list[dict], pairs: list, started: datetime, baseline: Outcome) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    ).stdout.strip()
    summary = {
        "date": started.strftime("%Y-%m-%d"),
        "commit": commit,
        "pairs": len(pairs),
        "runs": len(rows),
        "failed": sum(1 for r in rows if r["problem"]),
        "lost": sum(r["lost"] for r in rows),
        "silent": sum(1 for r in rows if r["end"].startswith("SILENT")),
        "baseline": baseline.row(),
        "rows": rows,
    }
    (OUT / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [
        "# Faults: every call the breaker makes, failing once and for good",
        "",
        f"`make test-faults` on {summary['date']} at commit `{commit}`: {len(pairs)} (caller,"
        f" operation) pairs recorded in a seed episode, {len(rows)} runs, {summary['lost']} lost,"
        f" {summary['silent']} silent opens, {summary['failed']} broken promises.",
        "",
        "| Fault | Mode | Injected | End | Reason | Close (s) | Lost | Dup. |",
        "|---|---|--:|---|---|--:|--:|--:|",
    ]
    for r in rows:
        reason = r["reason"].replace("|", "/")[:70]
        close = "" if r["seconds_to_close"] is None else f"{r['seconds_to_close']:.0f}"
        end = r["end"] + (f" **{r['problem']}**" if r["problem"] else "")
        lines.append(
            f"| {r['fault']} | {r['mode']} | {r['injected']} | {end} | {reason} | {close} |"
            f" {r['lost']} | {r['duplicates']} |"
        )
    (OUT / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", help="run only the faults whose label contains this")
    parser.add_argument("--limit", type=int, help="at most this many runs (a quick look)")
    parser.add_argument("--keep-stack", action="store_true", help="do not destroy the stack")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the rows of build/faults/results.json and play only the runs it lacks",
    )
    args = parser.parse_args()
    started = datetime.now(tz=UTC)
    ours = ctl.external_endpoint() is None and ctl.health() is None
    endpoint = ctl.up()
    cache: dict[str, object] = {}

    def aws(service: str):
        if service not in cache:
            cache[service] = client(service, endpoint)
        return cache[service]

    stack = Stack("complete", "faults", endpoint)
    failed = False
    try:
        out = stack.apply({**FAULT_STACK_VARS, "name": NAME})
        c = Circuit(aws, out, ALARM_PERIOD * 2)
        harness_faults(endpoint, "DELETE")  # no rule left by an earlier run
        harness_faults(endpoint, "DELETE", query="?seen=1")
        baseline = play(c, endpoint, "baseline", [])
        pairs = calls_made(endpoint, f"{NAME}-")
        print(f"baseline: {baseline.end} ({baseline.reason}) in {baseline.seconds_to_close} s;"
              f" {len(pairs)} pairs", flush=True)  # fmt: skip
        if baseline.end != "closed" or baseline.lost:
            print(f"the seed episode itself failed: {baseline.row()}", file=sys.stderr)
            return 1
        runs: list[tuple[str, str, list[dict]]] = []
        for pair in pairs:
            for mode in ("transient", "persistent"):
                runs.append((f"{pair[0]} {pair[1]}:{pair[2]}", mode, pair_rules(pair, mode)))
        for label, rules in special_cases(f"{NAME}-"):
            runs.append((label, "scenario", rules))
        if args.only:
            runs = [r for r in runs if args.only in r[0]]
        if args.limit:
            runs = runs[: args.limit]
        rows = []
        done: dict[tuple[str, str], dict] = {}
        if args.resume and (OUT / "results.json").exists():
            earlier = json.loads((OUT / "results.json").read_text())["rows"]
            done = {(r["fault"], r["mode"]): r for r in earlier if not r["problem"]}
        for n, (label, mode, rules) in enumerate(runs, 1):
            if (label, mode) in done:
                rows.append(done[(label, mode)])
                continue
            t0 = time.monotonic()
            abort = label.split("(abort at ", 1)[1].rstrip(")") if "(abort at " in label else None
            try:
                outcome = play(c, endpoint, f"f{n}", windowed(rules, label), abort_at=abort)
            except Exception as exc:  # the run itself broke: a row that says so, and go on
                outcome = Outcome(f"f{n}", end=f"SILENT? the run failed: {exc}"[:200])
            problem = judge_against(baseline, outcome, mode)
            failed |= bool(problem)
            row = {"fault": label, "mode": mode, **outcome.row(), "problem": problem}
            rows.append(row)
            print(f"[{n}/{len(runs)}] {label} {mode}: {outcome.end} ({outcome.reason[:60]})"
                  f" lost {len(outcome.lost)} in {time.monotonic() - t0:.0f} s"
                  f"{' PROBLEM ' + problem if problem else ''}", flush=True)  # fmt: skip
            write(rows, pairs, started, baseline)
        write(rows, pairs, started, baseline)
        # the failure paths' calls count for the least-privilege report (make iam-report), and
        # a fault must never show up as an IAM denial of the breaker's roles
        decisions = save_iam_decisions(endpoint, ROOT / "build" / "iam" / "decisions-faults.json")
        denied = [d for d in decisions.get("denials", []) if f"{NAME}-" in json.dumps(d)]
        if denied:
            print(f"IAM denials of the breaker during the faults: {denied}", file=sys.stderr)
            failed = True
    finally:
        harness_faults(endpoint, "DELETE")
        if not args.keep_stack:
            stack.release(ours)
        if ours:
            ctl.down()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
