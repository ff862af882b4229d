"""`make demo`: the seed's manual walkthrough as one command, live, on the local emulator.

Applies examples/complete (time-scaled: seconds where AWS uses minutes), then plays a failure
episode: the function starts failing, messages flow, the alarm fires, the circuit opens, probes
back off, the function is fixed, the backlog is rejittered, the circuit half-opens, then
closes. A one-line live status (the circuit's state as the operator CLI, sqs-circuit-breaker,
derives it), a timeline, the CLI's status and history, and a summary that counts every message by
id.

    python scripts/demo.py [--messages N] [--down]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from circuit import Circuit  # noqa: E402
from localstack_harness import ctl  # noqa: E402
from sqs_circuit_breaker import aws as cli_aws  # noqa: E402  (cli/, installed in the dev venv)
from stack import Stack  # noqa: E402
from support import REGION, client, queue_depth  # noqa: E402

DEMO_VARS = {
    "name": "demo",
    "record_processed": True,
    "function_timeout_seconds": 3,
    "queue_visibility_timeout_seconds": 4,
    # bring-your-own alarm: 10 s on the function's own high-resolution metrics (AWS/Lambda
    # metrics have 1-minute resolution, so the module's own alarm needs periods of 60 s)
    "fast_alarm_period_seconds": 10,
    "alarm_watch_seconds": 22,
    "alarm_min_invocations": 2,
    "open_wait_seconds": 3,
    "backoff_initial_seconds": 3,
    "backoff_rate": 2,
    "backoff_max_seconds": 8,
    "probe_max_attempts": 8,
    "half_open_max_concurrency": 2,
    "half_open_seconds": 4,
    "rejitter_enabled": True,
    "rejitter_window_seconds": 10,
    "rejitter_max_delay_seconds": 8,
    "rejitter_timeout_seconds": 4,  # at most the work queue's visibility timeout
}
FAILED_PROBES_BEFORE_FIX = 2
TIMEOUT = 300


class Show:
    """A live status line and a timeline above it."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.tty = sys.stdout.isatty()
        self.last_status = ""

    def elapsed(self) -> str:
        return f"{time.monotonic() - self.started:6.1f}s"

    def event(self, text: str) -> None:
        if self.tty:
            sys.stdout.write("\r\033[K")
        print(f"{self.elapsed()}  {text}", flush=True)
        if self.tty and self.last_status:
            sys.stdout.write(self.last_status)
            sys.stdout.flush()

    def status(self, text: str) -> None:
        line = f"{self.elapsed()}  {text}"
        if self.tty:
            self.last_status = line
            sys.stdout.write("\r\033[K" + line)
            sys.stdout.flush()
        elif line.split("  ", 1)[1] != self.last_status.split("  ", 1)[-1]:
            self.last_status = line
            print(line, flush=True)


class CliView:
    """The circuit's state as `sqs-circuit-breaker status` derives it (the CLI's own code)."""

    def __init__(self, endpoint: str, name: str) -> None:
        os.environ.update(
            AWS_ENDPOINT_URL=endpoint,
            AWS_REGION=REGION,
            AWS_ACCESS_KEY_ID=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
            AWS_SECRET_ACCESS_KEY=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        )
        self.aws = cli_aws.Aws.create()
        self.circuit = cli_aws.find_circuit(self.aws, name)

    def state(self) -> str:
        document = cli_aws.read_status(self.aws, self.circuit, datetime.now(tz=UTC))
        if document["watching"]:
            return "CLOSED (watching)"  # closed; the episode watches the alarm's window
        return document["state"]


def play(c: Circuit, messages: int, view: CliView) -> dict:
    show = Show()
    sqs = c.sqs
    show.event("the downstream service goes down: SHOULD_ERROR=true")
    c.set_failing(True)
    before = {e["executionArn"] for e in c.executions()}
    sent: set[str] = set()
    seen: set[str] = set()
    opened_at = closed_at = fixed_at = None
    execution = None
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if len(sent) < messages:
            sent |= set(c.send(min(5, messages - len(sent)), "demo"))
            if len(sent) == messages:
                show.event(f"{messages} messages sent")
        mapping = c.mapping()
        if execution is None:
            new = [e for e in c.executions() if e["executionArn"] not in before]
            if new:
                execution = new[0]["executionArn"]
                show.event("alarm fired: state machine started")
        events = c.history(execution) if execution else []
        outcomes = c.probe_outcomes(execution, events)
        states = c.entered_states(execution, events)
        for state, text in (
            ("DisableMapping", "circuit OPEN: event source mapping disabled"),
            ("EnableRejitter", "rejitter: backlog re-sent with random delays"),
            ("OpenHalfway", "circuit HALF-OPEN: mapping re-enabled with MaximumConcurrency 2"),
            ("CloseCircuit", "circuit CLOSED: mapping restored"),
            ("WatchAfterClose", "watching the alarm until the failures have left its window"),
        ):
            if state in states and state not in seen:
                seen.add(state)
                show.event(text)
                if state == "DisableMapping":
                    opened_at = time.monotonic() - show.started
        if states.count("DisableMapping") > 1 and "reopened" not in seen:
            seen.add("reopened")  # the watch's look re-opened the circuit: disabled again
            show.event("the function fails again: circuit RE-OPENED")
        for i, outcome in enumerate(outcomes):
            if f"probe{i}" not in seen:
                seen.add(f"probe{i}")
                show.event(f"probe #{i + 1}: {outcome}")
        if fixed_at is None and outcomes.count("unhealthy") >= FAILED_PROBES_BEFORE_FIX:
            show.event("the service is fixed: SHOULD_ERROR=false")
            c.set_failing(False)
            fixed_at = time.monotonic()
        running = execution is not None and (
            c.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
        )
        visible, in_flight = queue_depth(sqs, c.work)
        dlq = sum(queue_depth(sqs, c.out["dlq_url"]))
        done = len(c.processed_bodies() & sent)
        show.status(
            f"circuit {view.state():17} | queue {visible:3} "
            f"in-flight {in_flight:3} | DLQ {dlq:2} | processed {done:3}/{messages} "
            f"| probe attempt {len(outcomes)}"
        )
        if closed_at is None and "CloseCircuit" in states and mapping == "Enabled":
            closed_at = time.monotonic() - show.started
        if closed_at is not None and not running and done == len(sent) == messages:
            break
        time.sleep(1)
    print()
    processed = c.processed_bodies() & sent
    in_dlq = c.dlq_bodies() & sent
    return {
        "sent": len(sent),
        "processed": len(processed),
        "in DLQ": len(in_dlq),
        "lost": len(sent - processed - in_dlq),
        "time to open": f"{opened_at:.1f} s" if opened_at else "-",
        "time to close (after the fix)": (
            f"{closed_at - (fixed_at - show.started):.1f} s" if closed_at and fixed_at else "-"
        ),
    }


def table(rows: dict) -> str:
    width = max(len(k) for k in rows)
    lines = ["| " + "what".ljust(width) + " | value |", "|" + "-" * (width + 2) + "|-------|"]
    lines += [f"| {k.ljust(width)} | {v} |" for k, v in rows.items()]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=30)
    parser.add_argument("--down", action="store_true", help="destroy the demo stack and stop")
    args = parser.parse_args()
    endpoint = ctl.up()
    stack = Stack("complete", "demo", endpoint)
    if args.down:
        stack.destroy()
        print("demo stack destroyed")
        return 0
    print(f">> applying examples/complete against {endpoint} (first run: ~1-2 minutes)")
    outputs = stack.apply(DEMO_VARS)

    def aws(service: str):
        return client(service, endpoint)

    c = Circuit(aws, outputs, DEMO_VARS["fast_alarm_period_seconds"])
    print(">> resetting the circuit (closed, healthy, empty queues)")
    c.reset()
    print(">> playing the failure episode (Ctrl-C to stop)\n")
    summary = play(c, args.messages, CliView(endpoint, c.name))
    print("\n" + table(summary))
    for command in (("status", c.name), ("history", c.name, "--limit", "3")):
        print(f"\n$ sqs-circuit-breaker {' '.join(command)}")
        print(c.cli(*command).stdout.rstrip())
    return 0 if summary["lost"] == 0 and summary["processed"] == summary["sent"] else 1


if __name__ == "__main__":
    sys.exit(main())
