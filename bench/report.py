"""Tables and the plot of `make bench`, from build/bench/results.json.

    python bench/report.py [results.json]     # build/bench/results.md + docs/thundering-herd.png
    python bench/report.py --readme           # also put the tables into docs/performance.md

Every number comes from the measured results; the AWS columns and the costs are computed from
them with the formulas stated next to each table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from prices import PRICES, READ_ON, SOURCE

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "build" / "bench" / "results.json"
PLOT = REPO / "docs" / "thundering-herd.png"
README = REPO / "docs" / "performance.md"  # where the tables live
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

#: AWS defaults the latencies are converted to (the module's variables.tf, SQS, Lambda)
AWS = {
    "alarm_period": 60,
    "alarm_evaluation_periods": 2,  # datapoints_to_alarm null = all of them
    "lambda_metric_delay": 60,  # AWS/Lambda metrics arrive up to a minute late
    "backoff_max": 900,
    "rejitter_window": 300,
    "half_open_seconds": 300,
    "open_wait": 60,
    "backoff_initial": 60,
    "backoff_rate": 2,
    "probe_max_attempts": 10,
    "probe_timeout": 120,
    "retention": 345_600,  # SQS default: 4 days
    "retention_margin": 3600,
    "max_receive_count": 15,  # examples/complete's redrive policy
    "batch_size": 10,
    "sqs_max_delay": 900,
    "esm_scale_per_minute": 300,
}
SIZING_BACKLOGS = (100_000, 1_000_000)
SIZING_CONCURRENCY = (5, 50, 200, 1000)


# ---- helpers ------------------------------------------------------------------------------------
def fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def usd(value: float) -> str:
    if value == 0:
        return "$0"
    if value < 0.0001:
        return f"${value:.7f}"
    if value < 1:
        return f"${value:.5f}"
    return f"${value:,.2f}"


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return float(ordered[rank - 1])


def since(ep: dict[str, Any], end: str, start: str) -> float | None:
    tl = ep["timeline"]
    a = tl.get(end) if end in tl else ep.get(end)
    b = tl.get(start) if start in tl else ep.get(start)
    return None if a is None or b is None else a - b


def breaker_episodes(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in results["episodes"] if e["breaker"]]


def without(results: dict[str, Any], size: int) -> dict[str, Any] | None:
    return next((e for e in results["episodes"] if not e["breaker"] and e["size"] == size), None)


def variant(ep: dict[str, Any]) -> str:
    return {
        "close": "breaker, close at once",
        "rejitter": "breaker + rejitter",
        "ramp": "breaker + half-open ramp",
    }.get(ep["config"]["name"], ep["config"]["name"])


# ---- latencies ----------------------------------------------------------------------------------
def latencies(ep: dict[str, Any], base: dict[str, Any]) -> dict[str, float | None]:
    """Harness latencies and their AWS-default equivalents (ranges)."""
    tl = ep["timeline"]
    first_failure = tl.get("first_failure") or ep["first_sent"]
    disabled = tl.get("mapping_disabled")
    detection = None if disabled is None else disabled - first_failure
    reaction = since(ep, "mapping_disabled", "execution_started")
    recovery = since(ep, "mapping_reenabled", "fixed")
    waiting = since(ep, "healthy_probe_entered", "fixed")
    rejitter = base["rejitter_window_seconds"] if ep["config"].get("rejitter_enabled") else 0
    out: dict[str, float | None] = {
        "detection": detection,
        "reaction": reaction,
        "recovery": recovery,
        "probe_wait_after_fix": waiting,
    }
    if reaction is not None:
        m, period = AWS["alarm_evaluation_periods"], AWS["alarm_period"]
        out["detection_aws_low"] = (m - 1) * period + reaction
        out["detection_aws_high"] = m * period + AWS["lambda_metric_delay"] + reaction
    if recovery is not None and waiting is not None:
        # the breaker's own work after the fix: recovery minus the wait for the next probe and
        # the rejitter window; on AWS the wait is anything up to backoff_max_seconds
        own = max(0.0, recovery - max(0.0, waiting) - rejitter)
        aws_rejitter = AWS["rejitter_window"] if rejitter else 0
        out["recovery_aws_low"] = own + aws_rejitter
        out["recovery_aws_high"] = own + aws_rejitter + AWS["backoff_max"]
    return out


def aws_range(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "-"
    return f"{low:,.0f}-{high:,.0f}"


# ---- costs --------------------------------------------------------------------------------------
def breaker_cost(ep: dict[str, Any], memory: dict[str, int]) -> dict[str, float]:
    """The breaker's own cost in one episode, by service, from the measured counts."""
    calls = ep["api_operations"]
    seconds = ep["lambda_seconds"]
    gb_s = (
        seconds.get("probe", 0) * memory["probe"] + seconds.get("rejitter", 0) * memory["rejitter"]
    ) / 1024
    invocations = seconds.get("probe_invocations", 0) + seconds.get("rejitter_invocations", 0)
    deliveries = ep["deliveries"]
    # the probe invokes the protected function once per probe (billed to that function)
    protected_gb_s = deliveries.get("probe_seconds_total", 0) * memory["protected"] / 1024
    sqs = sum(n for op, n in calls.items() if op.startswith("sqs."))
    cloudwatch = sum(n for op, n in calls.items() if op.startswith("cloudwatch."))
    sns = sum(n for op, n in calls.items() if op == "sns.Publish")
    return {
        "Step Functions": ep["state_transitions"] * PRICES["sfn_transition"],
        "Lambda": (invocations + deliveries.get("probe_invocations", 0)) * PRICES["lambda_request"]
        + (gb_s + protected_gb_s) * PRICES["lambda_gb_second"],
        "SQS": sqs * PRICES["sqs_request"],
        "CloudWatch": cloudwatch * PRICES["cloudwatch_request"],
        "SNS": sns * PRICES["sns_publish"],
    }


def failed_invocation_cost(count: float, seconds: float, memory_mb: int) -> float:
    """Failed batches of the mapping: one Lambda request each, its duration, one ReceiveMessage."""
    return (
        count * (PRICES["lambda_request"] + PRICES["sqs_request"])
        + seconds * memory_mb / 1024 * PRICES["lambda_gb_second"]
    )


def aws_give_up_loops() -> tuple[int, float]:
    """Probe loops of a give-up episode on AWS defaults that never recovers (stay_open): the
    backoff schedule, then the capped interval with equal jitter (mean), until the retention
    guard closes (the episode hands over to a successor execution at 20,000 history events: no
    cap on its loops); returns (loops, seconds)."""
    elapsed = float(AWS["open_wait"])
    budget = AWS["retention"] - AWS["retention_margin"]
    loops = 0
    while True:
        w = min(AWS["backoff_max"], AWS["backoff_initial"] * AWS["backoff_rate"] ** loops)
        base = w // 2
        mean = base + (w - base) / 2
        if elapsed + mean + AWS["probe_timeout"] > budget:
            break
        elapsed += mean
        loops += 1
    return loops, elapsed


# ---- tables -------------------------------------------------------------------------------------
def episode_tables(results: dict[str, Any]) -> str:
    base = results["base_vars"]
    rows = []
    for ep in breaker_episodes(results):
        lat = latencies(ep, base)
        d = ep["deliveries"]
        rows.append(
            [
                fmt(ep["size"]),
                variant(ep),
                fmt(lat["detection"]),
                aws_range(lat.get("detection_aws_low"), lat.get("detection_aws_high")),
                fmt(lat["recovery"]),
                aws_range(lat.get("recovery_aws_low"), lat.get("recovery_aws_high")),
                fmt(d.get("failed_deliveries_before_open")),
                f"{d.get('failed_probe_invocations', 0)}/{d.get('probe_invocations', 0)}",
                fmt(ep["in_dlq"]),
                fmt(ep["lost"]),
                fmt(ep["state_transitions"]),
                fmt((ep.get("loop") or {}).get("history_events")),
                fmt(len([x for x in ep["executions"] if not x.get("cleanup")])),
            ]
        )
    latency = table(
        [
            "backlog",
            "episode",
            "detection s (harness)",
            "detection s (AWS defaults)",
            "recovery s (harness)",
            "recovery s (AWS defaults)",
            "failed deliveries before the open",
            "failed/all probes",
            "in DLQ",
            "lost",
            "state transitions",
            "history events per probe loop",
            "executions",
        ],
        rows,
    )
    services = ["Lambda", "SQS", "CloudWatch", "Step Functions", "SNS"]
    call_rows = []
    for ep in breaker_episodes(results):
        counts = {s: sum(p.values()) for s, p in ep["api_calls"].items()}
        call_rows.append(
            [fmt(ep["size"]), variant(ep)]
            + [fmt(counts.get(s, 0)) for s in services]
            + [fmt(sum(counts.values()))]
        )
    calls = table(["backlog", "episode", *services, "all"], call_rows)
    return latency, calls


def operations_table(results: dict[str, Any]) -> str:
    """The breaker's calls per operation, one column per episode of the largest backlog."""
    largest = max(results["sizes"])
    eps = [e for e in breaker_episodes(results) if e["size"] == largest]
    names = sorted({op for e in eps for op in e["api_operations"]})
    rows = [[f"`{op}`"] + [fmt(e["api_operations"].get(op, 0)) for e in eps] for op in names]
    return table(["operation", *(variant(e) for e in eps)], rows)


def savings_table(results: dict[str, Any]) -> str:
    rows = []
    for size in results["sizes"]:
        none = without(results, size)
        with_ = next(
            (
                e
                for e in breaker_episodes(results)
                if e["size"] == size and e["config"]["name"] == "close"
            ),
            None,
        )
        if not none or not with_:
            continue
        a, b = none["deliveries"], with_["deliveries"]
        rows.append(
            [
                fmt(size),
                f"{fmt(a.get('failed_deliveries'))} / {fmt(b.get('failed_deliveries'))}",
                fmt(a.get("failed_deliveries", 0) / size),
                f"{fmt(none['in_dlq'])} / {fmt(with_['in_dlq'])}",
                f"{fmt(a.get('wasted_invocations'))} / {fmt(b.get('wasted_invocations'))}",
                f"{fmt(none['lost'])} / {fmt(with_['lost'])}",
                (
                    fmt(since(none, "all_processed", "fixed"))
                    if none["processed"]
                    else "none processed"
                )
                + " / "
                + fmt(since(with_, "all_processed", "fixed")),
            ]
        )
    return table(
        [
            "backlog",
            "failed deliveries (without / with)",
            "failed deliveries per message without",
            "messages in the DLQ",
            "wasted invocations",
            "lost",
            "fix -> every message processed, s",
        ],
        rows,
    )


GRID = 0.1  # s: the sampling step of the herd's percentiles


def sampled(herd: dict[str, Any]) -> tuple[list[float], list[float]]:
    """Invocation rate (starts within the last second) and batches in flight, sampled every
    GRID seconds from the first delivery to the last (whole seconds if the run kept no calls)."""
    calls = herd.get("calls")
    if not calls:
        lo, hi = int(herd["first_delivery"]), int(herd["last_delivery"]) + 1
        return herd["invocations"][lo:hi], herd["concurrency"][lo:hi]
    starts = sorted(c[0] for c in calls)
    first, last = starts[0], max(c[1] for c in calls)
    rates, flight = [], []
    steps = int((last - first) / GRID) + 1
    for i in range(steps):
        t = first + i * GRID
        rates.append(sum(1 for s in starts if t - 1.0 < s <= t))
        flight.append(sum(1 for c in calls if c[0] <= t < c[1]))
    return rates, flight


def _max_in_flight(calls: list[list[float]], until: float | None) -> int:
    """The most batches in flight at once before `until` (the close)."""
    edges = sorted([(c[0], 1) for c in calls] + [(c[1], -1) for c in calls])
    level = peak = 0
    for t, step in edges:
        if until is not None and t >= until:
            break
        level += step
        peak = max(peak, level)
    return peak


def herd_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    largest = max(results["sizes"])
    rows = []
    for ep in breaker_episodes(results):
        herd = ep.get("herd") or {}
        if ep["size"] != largest or not herd.get("invocations"):
            continue
        lo = int(herd["first_delivery"])
        hi = int(herd["last_delivery"]) + 1
        inv = herd["invocations"][lo:hi]
        rates, flight = sampled(herd)
        tl = ep["timeline"]
        close = (tl["closed"] - tl["healthy_probe"]) if tl.get("closed") else None
        before_close = [c for c in herd.get("calls", []) if close is not None and c[0] < close]
        rows.append(
            {
                "variant": variant(ep),
                "ep": ep,
                "close": close,
                "before_close": _max_in_flight(before_close, close) if herd.get("calls") else None,
                "peak_rate": max(rates),
                "p99_rate": percentile(rates, 99),
                "mean_rate": sum(inv) / len(inv),
                "peak_conc": max(flight),
                "p99_conc": percentile(flight, 99),
                "mean_conc": sum(flight) / len(flight),
                "first": herd["first_delivery"],
                "last": herd["last_delivery"],
                "records": sum(herd["records"]),
            }
        )
    return rows


def throughput_note(results: dict[str, Any]) -> list[str]:
    """Why large backlogs reach the DLQ less often on the emulator than they would on AWS."""
    largest = max(results["sizes"])
    none = without(results, largest)
    if not none or not none["deliveries"].get("failed_invocations"):
        return []
    d = none["deliveries"]
    rate = d["failed_invocations"] / results["outage_seconds"]
    per_message = d["failed_deliveries"] / largest
    return [
        f"Without the breaker the emulator failed {rate:.0f} batches a second, so each of"
        f" {largest:,} messages was delivered {per_message:.1f} times during the outage and few"
        " reached maxReceiveCount (15): its throughput, not the visibility timeout, paced the"
        " retries. On AWS the mapping scales out (up to 1,250 concurrent batches) and retries"
        " every message each visibility timeout, so an outage longer than 15 visibility timeouts"
        " dead-letters the whole backlog (the worst-case row of the cost table).",
        "",
    ]


def herd_table(results: dict[str, Any]) -> str:
    return table(
        [
            "after the close",
            "peak invocations/s",
            "p99 invocations/s",
            "mean invocations/s",
            "peak concurrent batches",
            "p99 concurrent batches",
            "mean concurrent batches",
            "CloseCircuit, s after the healthy probe",
            "peak concurrent batches before it",
            "first delivery, s after the healthy probe",
            "backlog drained, s after the healthy probe",
        ],
        [
            [
                r["variant"],
                fmt(r["peak_rate"]),
                fmt(r["p99_rate"]),
                fmt(r["mean_rate"]),
                fmt(r["peak_conc"]),
                fmt(r["p99_conc"]),
                fmt(r["mean_conc"]),
                fmt(r["close"]),
                fmt(r["before_close"]),
                fmt(r["first"]),
                fmt(r["last"]),
            ]
            for r in herd_rows(results)
        ],
    )


def plot(results: dict[str, Any], path: Path = PLOT) -> bool:
    rows = herd_rows(results)
    if not rows:
        return False
    import matplotlib  # noqa: PLC0415 (only make bench installs it)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True)
    for r in rows:
        herd = r["ep"]["herd"]
        xs = list(range(len(herd["invocations"])))
        line = top.step(xs, herd["invocations"], where="post", label=r["variant"], lw=1.2)
        bottom.step(xs, herd["concurrency"], where="post", label=r["variant"], lw=1.2)
        tl = r["ep"]["timeline"]
        if tl.get("closed") and tl.get("healthy_probe"):
            for ax in (top, bottom):
                ax.axvline(
                    tl["closed"] - tl["healthy_probe"],
                    color=line[0].get_color(),
                    linestyle=":",
                    linewidth=1,
                )
    size = max(results["sizes"])
    top.set_title(
        f"Protected function after recovery: {size:,}-message backlog "
        f"(harness, {results['date'][:10]}, commit {results['commit']['short']})"
    )
    top.set_ylabel("invocations / s")
    bottom.set_ylabel("concurrent batches")
    bottom.set_xlabel("seconds after the healthy probe (dotted: CloseCircuit, settings restored)")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def rejitter_section(results: dict[str, Any]) -> tuple[str, str, float | None]:
    ep = next((e for e in breaker_episodes(results) if e.get("rejitter")), None)
    if not ep:
        return "(no rejitter episode in this run)", "", None
    rj = ep["rejitter"]
    span = rj["last"] - rj["first"]
    per_busy_second = rj["records_ok"] / rj["busy_seconds"] if rj["busy_seconds"] else 0.0
    # per concurrency slot, polling gaps included: what a sizing can count on
    per_slot = rj["records_ok"] / (span * rj["max_concurrency"]) if span else 0.0
    measured = table(
        [
            "backlog",
            "messages re-sent",
            "rejitter invocations",
            "peak concurrent invocations",
            "re-sent per second (all)",
            "per second per concurrent invocation",
            "per busy invocation-second",
            "re-sending took, s",
        ],
        [
            [
                fmt(ep["size"]),
                fmt(rj["records_ok"]),
                fmt(rj["invocations"]),
                fmt(rj["max_concurrency"]),
                fmt(rj["records_ok"] / span if span else None),
                fmt(per_slot),
                fmt(per_busy_second),
                fmt(span),
            ]
        ],
    )
    if not per_slot:
        return measured, "", None
    rows = []
    for backlog in SIZING_BACKLOGS:
        window_default = math.ceil(backlog / (5 * per_slot))
        c300 = math.ceil(backlog / (AWS["rejitter_window"] * per_slot))
        c900 = math.ceil(backlog / (AWS["sqs_max_delay"] * per_slot))
        rows.append(
            [
                fmt(backlog),
                fmt(window_default)
                + ("" if window_default <= AWS["sqs_max_delay"] else " (over 900 s)"),
                fmt(c300),
                fmt(c900),
                fmt(max(0.0, (c300 - 5) / AWS["esm_scale_per_minute"] * 60), 0),
                fmt(backlog / AWS["sqs_max_delay"], 0),
            ]
        )
    sizing = table(
        [
            "backlog",
            "window needed at the default concurrency (5), s",
            "rejitter_max_concurrency for the default 300 s window",
            "rejitter_max_concurrency for a 900 s window",
            "s for the mapping to scale up to the 300 s figure",
            "arrival rate after, spread over 900 s, msg/s",
        ],
        rows,
    )
    return measured, sizing, per_slot


def cost_table(results: dict[str, Any]) -> str:
    memory = {"protected": 128, "probe": 256, "rejitter": 256, **results.get("memory_mb", {})}
    services = ["Step Functions", "Lambda", "SQS", "CloudWatch", "SNS"]
    rows = []
    for ep in breaker_episodes(results):
        cost = breaker_cost(ep, memory)
        d = ep["deliveries"]
        wasted = failed_invocation_cost(
            d.get("failed_invocations", 0),
            d.get("failed_invocation_seconds", 0),
            memory["protected"],
        )
        none = without(results, ep["size"])
        none_cost = (
            failed_invocation_cost(
                none["deliveries"].get("failed_invocations", 0),
                none["deliveries"].get("failed_invocation_seconds", 0),
                memory["protected"],
            )
            if none
            else None
        )
        rows.append(
            [fmt(ep["size"]), variant(ep)]
            + [usd(cost[s]) for s in services]
            + [
                usd(sum(cost.values())),
                usd(wasted),
                usd(sum(cost.values()) + wasted),
                usd(none_cost) if none_cost is not None else "-",
                fmt(none["in_dlq"]) if none else "-",
            ]
        )
    worst = worst_case(results, memory)
    if worst:
        rows.append(worst)
    return table(
        [
            "backlog",
            "episode",
            *services,
            "breaker",
            "failed batches before the open",
            "episode with the breaker",
            "same outage without the breaker",
            "DLQ'd without the breaker",
        ],
        rows,
    )


def worst_case(results: dict[str, Any], memory: dict[str, int]) -> list[str] | None:
    """A give-up episode on AWS defaults that never recovers (stay_open until the retention
    guard closes): the measured episode plus the measured cost of one probe loop times the loops
    AWS's schedule makes. Without the breaker, every message is delivered maxReceiveCount times
    and dead-lettered."""
    eps = [e for e in breaker_episodes(results) if e["config"]["name"] == "close" and e["loop"]]
    if not eps:
        return None
    ep = max(eps, key=lambda e: e["size"])
    loop = ep["loop"]
    loops, seconds = aws_give_up_loops()
    extra = loops - loop["loops"]
    base = breaker_cost(ep, memory)
    calls = loop.get("api_calls", {})
    per_loop = {
        "Step Functions": loop["state_transitions"] * PRICES["sfn_transition"],
        "Lambda": 2 * PRICES["lambda_request"]
        + (
            loop.get("probe_seconds", 0) * memory["probe"]
            + loop.get("protected_seconds", 0) * memory["protected"]
        )
        / 1024
        * PRICES["lambda_gb_second"],
        "SQS": calls.get("SQS", 0) * PRICES["sqs_request"],
        "CloudWatch": calls.get("CloudWatch", 0) * PRICES["cloudwatch_request"],
        "SNS": calls.get("SNS", 0) * PRICES["sns_publish"],
    }
    cost = {s: base[s] + extra * per_loop[s] for s in base}
    d = ep["deliveries"]
    wasted = failed_invocation_cost(
        d.get("failed_invocations", 0), d.get("failed_invocation_seconds", 0), memory["protected"]
    )
    none = without(results, ep["size"])
    per_failed = (
        none["deliveries"]["failed_invocation_seconds"]
        / max(1, none["deliveries"]["failed_invocations"])
        if none
        else 0.1
    )
    batches = ep["size"] * AWS["max_receive_count"] / AWS["batch_size"]
    none_cost = failed_invocation_cost(batches, batches * per_failed, memory["protected"])
    services = ["Step Functions", "Lambda", "SQS", "CloudWatch", "SNS"]
    return (
        [
            fmt(ep["size"]),
            f"worst case: gives up, never recovers ({loops} probes over {seconds / 86400:.1f} days,"
            " computed)",
        ]
        + [usd(cost[s]) for s in services]
        + [
            usd(sum(cost.values())),
            usd(wasted),
            usd(sum(cost.values()) + wasted),
            usd(none_cost),
            fmt(ep["size"]),
        ]
    )


def scaling_table(results: dict[str, Any]) -> str:
    v = results["base_vars"]
    rows = [
        [
            "alarm",
            f"own 10 s high-resolution metrics, {v['alarm_datapoints_to_alarm']} of "
            f"{v['alarm_evaluation_periods']} periods of {v['fast_alarm_period_seconds']} s",
            "AWS/Lambda error rate, 2 of 2 periods of 60 s (+ up to 60 s metric delay)",
        ],
        [
            "queue visibility timeout / function timeout",
            f"{v['queue_visibility_timeout_seconds']} s / {v['function_timeout_seconds']} s",
            "example: 60 s / 10 s",
        ],
        ["open_wait_seconds", v["open_wait_seconds"], 60],
        [
            "backoff initial / rate / max",
            f"{v['backoff_initial_seconds']} / {v['backoff_rate']} / {v['backoff_max_seconds']} s",
            "60 / 2 / 900 s",
        ],
        ["probe_max_attempts (then stay_open)", v["probe_max_attempts"], 10],
        [
            "probe_failure_visibility_margin_seconds",
            v["probe_failure_visibility_margin_seconds"],
            30,
        ],
        ["alarm_watch_seconds", v["alarm_watch_seconds"], "(2 + 1) x 60 + 60 = 240"],
        [
            "rejitter window / delays",
            f"{v['rejitter_window_seconds']} s / {v['rejitter_min_delay_seconds']}-"
            f"{v['rejitter_max_delay_seconds']} s",
            "300 s / 0-300 s",
        ],
        ["half-open ramp", f"MaximumConcurrency 2 for {v['half_open_seconds']} s", "off (300 s)"],
        ["outage (failure -> fix)", f"{results['outage_seconds']:.0f} s", "-"],
    ]
    return table(["setting", "harness (this run)", "AWS default"], rows)


# ---- document -----------------------------------------------------------------------------------
def headline(results: dict[str, Any]) -> list[str]:
    """The run in a few bullets, every number taken from the tables."""
    base = results["base_vars"]
    eps = breaker_episodes(results)
    lines = []
    lats = [latencies(e, base) for e in eps]
    detections = [x["detection"] for x in lats if x["detection"] is not None]
    reactions = [x["reaction"] for x in lats if x["reaction"] is not None]
    lows = [x["detection_aws_low"] for x in lats if "detection_aws_low" in x]
    highs = [x["detection_aws_high"] for x in lats if "detection_aws_high" in x]
    if detections and reactions and lows and highs:
        lines.append(
            f"- **Detection** {min(detections):.0f}-{max(detections):.0f} s on the emulator (10 s"
            f" alarm); the breaker's own reaction (alarm event -> mapping disabled) is"
            f" {min(reactions):.1f}-{max(reactions):.1f} s, so on AWS defaults detection is"
            f" the alarm's: {min(lows):.0f}-{max(highs):.0f} s."
        )
    lost = sum(e["lost"] for e in results["episodes"])
    lines.append(
        f"- **Lost messages: {lost}** in {len(results['episodes'])} episodes"
        f" ({sum(e['sent'] for e in results['episodes']):,} messages, counted by id)."
    )
    saved = []
    for size in results["sizes"]:
        none = without(results, size)
        with_ = next((e for e in eps if e["size"] == size and e["config"]["name"] == "close"), None)
        if none and with_:
            saved.append(
                f"{size:,}: {none['in_dlq']:,} -> {with_['in_dlq']:,} dead-lettered,"
                f" {none['deliveries'].get('failed_deliveries', 0):,} ->"
                f" {with_['deliveries'].get('failed_deliveries', 0):,} failed deliveries"
            )
    if saved:
        lines.append(
            f"- **Saved** by a {results['outage_seconds']:.0f} s outage (without -> with the"
            f" breaker): {'; '.join(saved)}."
        )
    herd = herd_rows(results)
    if herd:
        lines.append(
            "- **After the close** ("
            + "; ".join(
                f"{r['variant']}: peak {fmt(r['peak_rate'])} invocations/s, p99"
                f" {fmt(r['p99_rate'])}, up to {fmt(r['peak_conc'])} concurrent batches"
                for r in herd
            )
            + ")."
        )
    memory = {"protected": 128, "probe": 256, "rejitter": 256, **results.get("memory_mb", {})}
    costs = [sum(breaker_cost(e, memory).values()) for e in eps]
    if costs:
        lines.append(
            f"- **Cost** of an episode: {usd(min(costs))}-{usd(max(costs))} at list prices,"
            " mostly Step Functions transitions; see the worst case below."
        )
    return lines


def markdown(results: dict[str, Any]) -> str:
    m, c = results["machine"], results["commit"]
    harness = results.get("harness", {})
    latency, calls = episode_tables(results)
    measured, sizing, per_invocation = rejitter_section(results)
    loops, seconds = aws_give_up_loops()
    # The module's alarms with notifications on (docs/performance.md, "Cost"): error rate (2),
    # delivery failed (1), breaker execution failed (3), open too long (1), trigger failed (1).
    monthly = 8 * PRICES["alarm_month"]
    parts = [
        f"Measured by `make bench` on {results['date'][:10]} at commit `{c['short']}`"
        + (" (with uncommitted changes)" if c["dirty"] else "")
        + f": {m['nproc']} cores, {m['memory_gib']} GiB, load average "
        f"{m['load_before'][0]:.2f} before and {m.get('load_after', [0])[0]:.2f} after; "
        f"BENCH_SIZES={','.join(str(s) for s in results['sizes'])}, wall time "
        f"{results.get('wall_seconds', 0) / 60:.1f} min. The emulator is the harness's LocalStack "
        f"on the same 2 cores (SQS mappings polled by {harness.get('sqs_esm_pollers', '?')} "
        "concurrent pollers, at most the mapping's MaximumConcurrency; no scaling beyond), so "
        "throughput figures are the emulator's, not AWS's.",
        "",
        *headline(results),
        "",
        "**Episodes** (the seed's scenario: the function fails, N messages arrive, the function "
        f"is fixed {results['outage_seconds']:.0f} s after the first one). Detection: first failed"
        " delivery -> mapping disabled; recovery: fix -> mapping re-enabled (for the ramp: at"
        " reduced concurrency). AWS columns: the measured reaction (alarm event -> mapping"
        " disabled) plus 1-2 periods of 60 s and up to 60 s of Lambda metric delay; the measured"
        " close work plus a wait for the next probe of 0 to 900 s (backoff_max_seconds) and the"
        " 300 s rejitter window.",
        "",
        latency,
        "",
        "**API calls per episode made by the breaker** (state machine tasks, the EventBridge"
        " rule, the probe and rejitter functions and the rejitter's mapping; counted at the"
        " emulator's gateway by the harness's request recorder):",
        "",
        calls,
        "",
        f"By operation, {max(results['sizes']):,}-message backlog:",
        "",
        operations_table(results),
        "",
        "**What the breaker saves** (the same outage without the breaker: its EventBridge rule"
        " disabled, so the mapping keeps delivering; with the breaker: closing at once):",
        "",
        savings_table(results),
        "",
        *throughput_note(results),
        "**Thundering herd** after recovery, on the largest backlog: the protected mapping's"
        " invocations per second (those started within the last second) and its batches in"
        f" flight, sampled every {GRID} s from the first delivery after the healthy probe to the"
        " last; the mean rate is per whole second over the same span. The emulator runs 5"
        " pollers per mapping (at most its MaximumConcurrency) on 2 shared cores, so the peak"
        " rate is its throughput, not AWS's; the ramp and the rejitter show in the concurrency"
        " and in how long the backlog is spread:",
        "",
        herd_table(results),
        "",
        "![Thundering herd](docs/thundering-herd.png)",
        "",
        "**Rejitter throughput**, measured: messages re-sent per second while it re-sent the"
        " backlog, in all, per concurrent invocation (what sizing can count on), and per second"
        " an invocation was busy:",
        "",
        measured,
        "",
    ]
    if per_invocation:
        parts += [
            f"Sizing at {per_invocation:.0f} messages per second per concurrent invocation"
            " (measured on the emulator, polling gaps included; AWS is likely faster, so the"
            " figures err long): window x concurrency x rate >= backlog. Keep the window at most"
            " 900 s (SQS's largest DelaySeconds), so that `rejitter_min_delay_seconds >="
            " rejitter_window_seconds` and no copy is seen twice within it; an SQS mapping"
            " scales by up to 300 concurrent invocations a minute (AWS starts it at 5); the copies"
            " then"
            " arrive over `max - min` delay, at most 900 s, so the recovered function still sees at"
            " least backlog / 900 messages a second.",
            "",
            sizing,
            "",
        ]
    parts += [
        f"**Cost per episode** at us-east-1 list prices read {READ_ON} (no free tier; {SOURCE}),"
        " from the measured counts: transitions x $0.025/1,000; Lambda requests x $0.20/1M and"
        " GB-s x $0.0000166667 (measured durations on the emulator, probe and rejitter 256 MB,"
        " protected function 128 MB); SQS requests x $0.40/1M; CloudWatch API requests x"
        " $0.01/1,000; SNS publishes x $0.50/1M. Lambda and Step Functions control-plane calls are"
        " not billed. Failed batches: one request, its duration and one ReceiveMessage each."
        f" The worst case adds {loops} probe loops (AWS defaults, stay_open, equal jitter) at the"
        " measured cost of one loop, until the retention guard closes after"
        f" {seconds / 86400:.1f} days; without the breaker every message is delivered 15 times"
        " (maxReceiveCount) and dead-lettered. Fixed monthly cost of a circuit: the module's"
        f" alarms with notifications on (8 standard alarm metrics), {usd(monthly)}, plus the"
        " CircuitState and OpenSeconds metrics for the hours they are published (at most"
        f" {usd(PRICES['custom_metric_month'])} each a month; a 10 s high-resolution alarm like"
        f" the emulator's is {usd(PRICES['alarm_high_resolution_month'])} an alarm metric).",
        "",
        cost_table(results),
        "",
        "**Time scaling**: the emulator runs with the end-to-end tests' scaled-down waits.",
        "",
        scaling_table(results),
    ]
    return "\n".join(parts) + "\n"


def write(results: dict[str, Any], readme: bool = False) -> str:
    text = markdown(results)
    out = REPO / "build" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(text)
    plot(results)
    if readme:
        current = README.read_text()
        if BEGIN not in current or END not in current:
            raise SystemExit(f"{README} has no {BEGIN} ... {END} markers")
        head, rest = current.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        README.write_text(f"{head}{BEGIN}\n{text}{END}{tail}")
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="?", default=str(RESULTS))
    parser.add_argument("--readme", action="store_true", help="update docs/performance.md")
    args = parser.parse_args()
    results = json.loads(Path(args.results).read_text())
    print(write(results, readme=args.readme))
    return 0


if __name__ == "__main__":
    sys.exit(main())
