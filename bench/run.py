"""`make bench`: what the circuit breaker costs and saves, measured on the local emulator.

Applies examples/complete (time-scaled like the end-to-end tests), plays the seed's failure
episode for each backlog size with and without the breaker, then the largest backlog again with
the rejitter and with the half-open ramp; writes build/bench/results.json, the tables
(build/bench/results.md) and docs/thundering-herd.png. It prints, it never asserts timings.

    BENCH_SIZES=20,1000,10000 BENCH_OUTAGE=60 python bench/run.py

Starts the harness's LocalStack (LOCALSTACK_PORT) unless one answers (or LOCALSTACK_ENDPOINT is
set), and stops what it started. API calls are counted by the harness's request recorder; on
your own LocalStack they are left out.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "bench"))

import episode  # noqa: E402
import report  # noqa: E402
from calls import Parties, Recorder  # noqa: E402
from circuit import Circuit  # noqa: E402
from localstack_harness import ctl  # noqa: E402
from stack import Stack  # noqa: E402
from support import client, wait_until  # noqa: E402

OUT = REPO / "build" / "bench"
NAME = "bench"
ALARM_PERIOD = 10
ALARM_EVALUATION_PERIODS = 2
#: examples/complete scaled down to seconds, as in tests/integration/test_e2e_complete.py
BASE_VARS: dict[str, Any] = {
    "name": NAME,
    "record_processed": True,
    "function_timeout_seconds": 3,
    # 3 s (the e2e tests: 4): 15 deliveries (the example's maxReceiveCount) fit in the outage
    "queue_visibility_timeout_seconds": 3,
    "fast_alarm_period_seconds": ALARM_PERIOD,
    "alarm_evaluation_periods": ALARM_EVALUATION_PERIODS,
    "alarm_datapoints_to_alarm": 1,
    "alarm_watch_seconds": (ALARM_EVALUATION_PERIODS + 1) * ALARM_PERIOD + 2,
    "alarm_min_invocations": 2,
    "alarm_threshold_percent": 50,
    "open_wait_seconds": 2,
    "backoff_initial_seconds": 2,
    "backoff_rate": 2,
    "backoff_max_seconds": 4,
    "probe_max_attempts": 4,
    "probe_failure_visibility_margin_seconds": 2,
    "half_open_max_concurrency": None,
    "half_open_seconds": 20,
    "rejitter_enabled": False,
    "rejitter_window_seconds": 60,  # re-sends the 10,000-message backlog on the emulator
    "rejitter_min_delay_seconds": 60,  # >= the window: no copy is seen again within it
    "rejitter_max_delay_seconds": 240,
    "rejitter_timeout_seconds": 3,  # at most the work queue's visibility timeout
}
#: the close variants compared on the largest backlog
CONFIGS: dict[str, dict[str, Any]] = {
    "close": {},
    "rejitter": {"rejitter_enabled": True},
    "ramp": {"half_open_max_concurrency": 2},
}
#: what the bench asks of the harness when it starts it (an AWS-like SQS poller)
HARNESS_ENV = {
    "HARNESS_SQS_ESM_POLLERS": "5",  # AWS starts an SQS mapping with five concurrent pollers
    "LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC": "0",  # AWS polls continuously
    "LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC": "1",  # ~ AWS's long polling
}


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def sizes() -> list[int]:
    raw = os.environ.get("BENCH_SIZES") or "20,1000,10000"
    return sorted({int(s.replace("_", "")) for s in raw.split(",") if s.strip()})


def machine() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo")
    mem_kb = 0
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_before": list(os.getloadavg()),
    }


def commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()

    return {
        "sha": git("rev-parse", "HEAD"),
        "short": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def main() -> int:
    # a stopped run still stops what it started (the finally clauses run)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    wanted = sizes()
    outage = float(os.environ.get("BENCH_OUTAGE", "60"))
    OUT.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "date": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "commit": commit(),
        "sizes": wanted,
        "outage_seconds": outage,
        "base_vars": BASE_VARS,
        "configs": CONFIGS,
        "episodes": [],
    }
    ours = ctl.external_endpoint() is None and ctl.health() is None
    if ours:
        os.environ.update(HARNESS_ENV)
    endpoint = ctl.up()
    stack = Stack("complete", NAME, endpoint)
    if ours:
        # a fresh emulator: any state left by an earlier run describes resources that are gone
        for leftover in stack.dir.glob("terraform.tfstate*"):
            leftover.unlink()
    recorder: Recorder | None = Recorder(endpoint)
    status = recorder.status()
    if status is None:
        log("no request recorder (your own LocalStack?): API calls are not counted")
        recorder = None
    else:
        results["harness"] = status["settings"]
        if status["settings"].get("sqs_esm_pollers", 1) < 2:
            log("warning: this LocalStack polls SQS with one thread (started without the bench's")
            log("settings): the herd and the ramp are not representative; stop it first")
        recorder.clear()
        recorder.switch(True)
    try:
        run_all(results, stack, endpoint, recorder, wanted, outage)
    finally:
        if recorder:
            recorder.switch(False)
            recorder.clear()
        results["wall_seconds"] = time.monotonic() - started
        results["machine"]["load_after"] = list(os.getloadavg())
        (OUT / "results.json").write_text(json.dumps(results, indent=1, default=str))
        if ours:
            ctl.down()
        else:
            log("destroying the bench stack (the emulator is yours: it keeps running)")
            stack.destroy()
    report.write(results)
    log(f"done in {results['wall_seconds'] / 60:.1f} min: {OUT / 'results.md'}")
    return 0


def run_all(  # noqa: PLR0917
    results: dict[str, Any],
    stack: Stack,
    endpoint: str,
    recorder: Recorder | None,
    wanted: list[int],
    outage: float,
) -> None:
    cache: dict[str, Any] = {}

    def aws(service: str) -> Any:
        if service not in cache:
            cache[service] = client(service, endpoint)
        return cache[service]

    largest = max(wanted)
    plan: list[tuple[str, list[tuple[int, bool]]]] = [
        ("close", [(n, breaker) for n in wanted for breaker in (False, True)]),
        ("rejitter", [(largest, True)]),
        ("ramp", [(largest, True)]),
    ]
    c: Circuit | None = None
    for config, runs in plan:
        variables = {**BASE_VARS, **CONFIGS[config]}
        applied = time.monotonic()
        log(f"applying examples/complete ({config})")
        if c is not None:
            # Terraform may update the protected mapping (the breaker rewrote its ScalingConfig);
            # LocalStack reports an enabled mapping being updated as "Creating" for a moment,
            # which Terraform's waiter refuses: update it while disabled (the next reset enables)
            c.lam.update_event_source_mapping(UUID=c.uuid, Enabled=False)
            wait_until(lambda c=c: c.mapping() == "Disabled", timeout=60, what="mapping Disabled")
        outputs = stack.apply(variables)
        results.setdefault("apply_seconds", {})[config] = time.monotonic() - applied
        c = Circuit(aws, outputs, ALARM_PERIOD * ALARM_EVALUATION_PERIODS)
        parties = Parties.for_circuit(NAME, outputs["function_name"])
        memory = results.setdefault("memory_mb", {})
        for key, fn in (
            ("protected", parties.protected),
            ("probe", parties.probe),
            ("rejitter", parties.rejitter),
        ):
            if key not in memory and (config != "close" or key != "rejitter"):
                memory[key] = aws("lambda").get_function_configuration(FunctionName=fn)[
                    "MemorySize"
                ]
        for size, breaker in runs:
            label = f"{config}-{size}" if breaker else f"none-{size}"
            log(f"episode {label}: {size} messages, {'with' if breaker else 'without'} the breaker")
            t0 = time.monotonic()
            ep = episode.run(
                c,
                recorder,
                parties,
                name=NAME,
                size=size,
                breaker=breaker,
                config={"name": config if breaker else "none", **CONFIGS[config]},
                outage=outage,
                label=label,
                log=log,
            )
            record = asdict(ep)
            record["wall_seconds"] = time.monotonic() - t0
            results["episodes"].append(record)
            (OUT / "results.json").write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    sys.exit(main())
