"""One failure episode on the applied examples/complete stack, measured.

The seed's scenario: the function starts failing, N messages arrive (SendMessageBatch), the
outage lasts `outage` seconds from the first message, then the function is fixed. With the
breaker the alarm opens the circuit and the episode runs to its end (probes, optional rejitter
and ramp, close, the watch after the close); without it the EventBridge rule that starts the
state machine is disabled, so the mapping stays enabled through the outage, as if there were no
breaker. Both end when every message is accounted for by id (processed or in the DLQ).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from calls import Call, Parties, Recorder, by_operation, by_service
from circuit import Circuit
from support import queue_depth, wait_until

SEND_THREADS = 4
DRAIN_THREADS = 3
SETTLE_TIMEOUT = 900.0


def send_messages(c: Circuit, count: int, prefix: str) -> tuple[list[str], float]:
    """Send `count` messages in batches of 10; returns their bodies (the ids) and the time the
    first batch was sent."""
    tag = uuid.uuid4().hex[:6]
    bodies = [f"{prefix}-{tag}-{i:06d}" for i in range(count)]
    batches = [bodies[i : i + 10] for i in range(0, count, 10)]
    first_sent = time.time()

    def send(batch: list[str]) -> None:
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(batch)]
        result = c.sqs.send_message_batch(QueueUrl=c.work, Entries=entries)
        if result.get("Failed"):
            raise RuntimeError(f"SendMessageBatch refused entries: {result['Failed']}")

    with ThreadPoolExecutor(SEND_THREADS) as pool:
        list(pool.map(send, batches))
    return bodies, first_sent


class Drain:
    """Empties a queue in the background (receive + delete in batches), keeping the bodies."""

    def __init__(self, sqs: Any, url: str, parse: Any = None) -> None:
        self.sqs, self.url, self.parse = sqs, url, parse
        self.items: list[Any] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, daemon=True) for _ in range(DRAIN_THREADS)
        ]

    def __enter__(self) -> Drain:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def _run(self) -> None:
        while not self.stop.is_set():
            messages = self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            if not messages:
                continue
            self.sqs.delete_message_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ],
            )
            parsed = [self.parse(m["Body"]) if self.parse else m["Body"] for m in messages]
            with self.lock:
                self.items += parsed

    def snapshot(self) -> list[Any]:
        with self.lock:
            return list(self.items)


@dataclass
class Episode:
    """What one episode measured (times are epoch seconds)."""

    label: str
    size: int
    breaker: bool
    config: dict[str, Any]
    outage_seconds: float
    started: float = 0.0
    first_sent: float = 0.0
    all_sent: float = 0.0
    fixed: float = 0.0
    ended: float = 0.0
    sent: int = 0
    processed: int = 0
    in_dlq: int = 0
    lost: int = 0
    lost_ids: list[str] = field(default_factory=list)
    timeline: dict[str, float | None] = field(default_factory=dict)
    executions: list[dict[str, Any]] = field(default_factory=list)
    state_transitions: int = 0
    probes: list[str] = field(default_factory=list)
    deliveries: dict[str, Any] = field(default_factory=dict)
    api_calls: dict[str, dict[str, int]] = field(default_factory=dict)
    api_operations: dict[str, int] = field(default_factory=dict)
    loop: dict[str, float] = field(default_factory=dict)
    lambda_seconds: dict[str, float] = field(default_factory=dict)
    herd: dict[str, Any] = field(default_factory=dict)
    rejitter: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def alarm_rule(name: str) -> str:
    """The module's EventBridge rule that starts the state machine on ALARM (README naming)."""
    return f"{name}-cb-alarm"


def cleanup_machine_arn(c: Circuit) -> str | None:
    name = c.machine.rsplit(":", 1)[1] + "-cleanup"
    for machine in c.sfn.list_state_machines()["stateMachines"]:
        if machine["name"] == name:
            return machine["stateMachineArn"]
    return None


def run(
    c: Circuit,
    recorder: Recorder | None,
    parties: Parties,
    *,
    name: str,
    size: int,
    breaker: bool,
    config: dict[str, Any],
    outage: float,
    label: str,
    log: Any = print,
) -> Episode:
    ep = Episode(label=label, size=size, breaker=breaker, config=config, outage_seconds=outage)
    events = c.aws("events")
    cleanup_arn = cleanup_machine_arn(c)
    log("   reset (circuit closed, alarm window free of errors)")
    c.reset()
    if not breaker:
        events.disable_rule(Name=alarm_rule(name))
    try:
        seq = recorder.mark() if recorder else 0
        before = {e["executionArn"] for e in c.executions()}
        before_cleanup = _executions(c, cleanup_arn)
        ep.started = time.time()
        c.set_failing(True)
        with (
            Drain(c.sqs, c.out["processed_queue_url"], _processed) as processed,
            Drain(c.sqs, c.out["dlq_url"]) as dlq,
        ):
            bodies, ep.first_sent = send_messages(c, size, label)
            ep.all_sent = time.time()
            ep.sent = len(bodies)
            log(
                f"   {size} messages sent in {ep.all_sent - ep.first_sent:.1f} s;"
                f" outage {outage:.0f} s"
            )
            time.sleep(max(0.0, ep.first_sent + outage - time.time()))
            c.set_failing(False)
            ep.fixed = time.time()
            log(f"   function fixed after {ep.fixed - ep.first_sent:.1f} s")
            sent = set(bodies)

            def settled() -> bool:
                done = {body for body, _ in processed.snapshot()} | set(dlq.snapshot())
                if not sent <= done:
                    return False
                running = [e for e in c.executions("RUNNING") if e["executionArn"] not in before]
                return not running and c.mapping() == "Enabled"

            wait_until(
                settled, timeout=SETTLE_TIMEOUT, what="every message accounted for", interval=1
            )
            ep.ended = time.time()
        first_processed: dict[str, float] = {}
        for body, at in processed.snapshot():
            if body in sent:
                first_processed[body] = min(at, first_processed.get(body, at))
        processed_ids = set(first_processed)
        if first_processed:
            ep.timeline["all_processed"] = max(first_processed.values())
        dlq_ids = set(dlq.snapshot()) & sent
        ep.processed, ep.in_dlq = len(processed_ids), len(dlq_ids)
        missing = sent - processed_ids - dlq_ids
        ep.lost_ids = sorted(missing)[:20]
        ep.lost = len(missing)
        log(
            f"   settled {ep.ended - ep.fixed:.1f} s after the fix: processed {ep.processed},"
            f" DLQ {ep.in_dlq}, lost {ep.lost}"
        )
        if ep.lost:
            visible, hidden = queue_depth(c.sqs, c.work)
            ep.notes.append(f"work queue at the end: {visible} visible, {hidden} in flight")
        _executions_metrics(c, ep, before, cleanup_arn, before_cleanup)
        if recorder:
            calls = [x for x in recorder.since(seq) if ep.started <= x.start <= ep.ended]
            _call_metrics(ep, calls, parties)
    finally:
        if not breaker:
            events.enable_rule(Name=alarm_rule(name))
    return ep


def _processed(raw: str) -> tuple[str, float]:
    record = json.loads(raw)
    return record["body"], record["processedAt"]


def _executions(c: Circuit, arn: str | None) -> set[str]:
    if not arn:
        return set()
    return {e["executionArn"] for e in c.sfn.list_executions(stateMachineArn=arn)["executions"]}


def _history(c: Circuit, arn: str) -> list[dict[str, Any]]:
    events, token = [], None
    while True:
        kwargs = {"executionArn": arn, "maxResults": 1000}
        if token:
            kwargs["nextToken"] = token
        page = c.sfn.get_execution_history(**kwargs)
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            return events


def _exits(events: list[dict[str, Any]], state: str) -> list[float]:
    return [
        e["timestamp"].timestamp()
        for e in events
        if e.get("stateExitedEventDetails", {}).get("name") == state
    ]


def _entries(events: list[dict[str, Any]], state: str) -> list[float]:
    return [
        e["timestamp"].timestamp()
        for e in events
        if e.get("stateEnteredEventDetails", {}).get("name") == state
    ]


def _executions_metrics(
    c: Circuit, ep: Episode, before: set[str], cleanup_arn: str | None, before_cleanup: set[str]
) -> None:
    new = [e for e in c.executions() if e["executionArn"] not in before]
    new += [
        {"executionArn": arn, "cleanup": True}
        for arn in _executions(c, cleanup_arn) - before_cleanup
    ]
    acting: list[tuple[str, list[dict[str, Any]]]] = []
    for execution in new:
        arn = execution["executionArn"]
        events = _history(c, arn)
        entered = [e for e in events if e["type"].endswith("StateEntered")]
        described = c.sfn.describe_execution(executionArn=arn)
        ep.state_transitions += len(entered)
        ep.executions.append(
            {
                "status": described["status"],
                "cleanup": bool(execution.get("cleanup")),
                "acting": c.acted(arn, events),
                "state_transitions": len(entered),
                "started": described["startDate"].timestamp(),
            }
        )
        if c.acted(arn, events):
            acting.append((arn, events))
    if not ep.breaker:
        if new:
            ep.notes.append(f"{len(new)} execution(s) started although the rule was disabled")
        return
    if not acting:
        ep.notes.append("no execution acted")
        return
    acting.sort(key=lambda pair: pair[1][0]["timestamp"])
    arn, events = acting[0]
    ep.probes = c.probe_outcomes(arn, events)
    first = c.sfn.describe_execution(executionArn=arn)["startDate"].timestamp()
    probe_entries = _entries(events, "Probe")
    probe_exits = _exits(events, "Probe")
    disabled = _exits(events, "DisableMapping")
    healthy = probe_exits[-1] if probe_exits and ep.probes[-1:] == ["healthy"] else None
    reenabled = [t for s in ("OpenHalfway", "CloseCircuit") for t in _exits(events, s)]
    closes = _exits(events, "CloseCircuit")
    ep.timeline.update(
        {
            "execution_started": first,
            "mapping_disabled": disabled[0] if disabled else None,
            "first_probe": probe_entries[0] if probe_entries else None,
            "healthy_probe": healthy,
            "healthy_probe_entered": probe_entries[-1] if healthy and probe_entries else None,
            "rejitter_on": next(iter(_exits(events, "EnableRejitter")), None),
            "rejitter_off": next(iter(_exits(events, "DisableRejitter")), None),
            "mapping_reenabled": min(
                (t for t in reenabled if healthy and t >= healthy), default=None
            ),
            "closed": min((t for t in closes if healthy and t >= healthy), default=None),
            "execution_ended": events[-1]["timestamp"].timestamp(),
        }
    )
    # One probe loop: from one Probe entry to the next (wait, checks, probe, bookkeeping).
    if len(probe_entries) >= 2:
        first_entry, last_entry = probe_entries[0], probe_entries[-1]
        loop_events = [
            e
            for e in events
            if e["type"].endswith("StateEntered")
            and first_entry <= e["timestamp"].timestamp() < last_entry
        ]
        # History events (GetExecutionHistory): every event of the span, not only the entries;
        # what the 25,000-event quota counts.
        history_events = [
            e for e in events if first_entry <= e["timestamp"].timestamp() < last_entry
        ]
        ep.loop = {
            "loops": len(probe_entries) - 1,
            "span": [first_entry, last_entry],
            "state_transitions": len(loop_events) / (len(probe_entries) - 1),
            "history_events": len(history_events) / (len(probe_entries) - 1),
        }


def _call_metrics(ep: Episode, calls: list[Call], parties: Parties) -> None:
    ep.api_calls = by_service(calls, parties)
    ep.api_operations = by_operation(calls, parties)
    mapping = parties.invokes(calls, parties.protected, by="workload")
    probes = parties.invokes(calls, parties.protected, by="probe")
    disabled = ep.timeline.get("mapping_disabled") if ep.breaker else None
    failed = [x for x in mapping if x.failed]
    if failed:
        ep.timeline["first_failure"] = min(x.start for x in failed)
    before_open = [x for x in failed if disabled is None or x.start < disabled]
    ep.deliveries = {
        "mapping_invocations": len(mapping),
        "failed_invocations": len(failed),
        "failed_deliveries": sum(x.records or 0 for x in failed),
        "failed_invocations_before_open": len(before_open),
        "failed_deliveries_before_open": sum(x.records or 0 for x in before_open),
        "probe_invocations": len(probes),
        "failed_probe_invocations": sum(1 for x in probes if x.failed),
        "wasted_invocations": len(failed) + sum(1 for x in probes if x.failed),
        "failed_invocation_seconds": sum(x.end - x.start for x in failed),
        "failed_probe_seconds": sum(x.end - x.start for x in probes if x.failed),
        "probe_seconds_total": sum(x.end - x.start for x in probes),
        "mapping_sqs_receives_failed": len(failed),
    }
    for fn, key in ((parties.probe, "probe"), (parties.rejitter, "rejitter")):
        invokes = parties.invokes(calls, fn)
        ep.lambda_seconds[key] = sum(x.end - x.start for x in invokes)
        ep.lambda_seconds[f"{key}_invocations"] = len(invokes)
    if ep.loop:
        start, end = ep.loop["span"]
        in_loops = [x for x in calls if start <= x.start < end]
        loops = ep.loop["loops"]
        per_loop = by_service(in_loops, parties)
        ep.loop["api_calls"] = {
            service: sum(parties_count.values()) / loops
            for service, parties_count in per_loop.items()
        }
        probe_invokes = parties.invokes(in_loops, parties.probe)
        ep.loop["probe_seconds"] = sum(x.end - x.start for x in probe_invokes) / loops
        protected = parties.invokes(in_loops, parties.protected, by="probe")
        ep.loop["protected_seconds"] = sum(x.end - x.start for x in protected) / loops
        ep.loop["sqs_calls"] = (
            sum(
                1
                for x in in_loops
                if x.service == "sqs" and parties.who(x) in ("probe", "state machine")
            )
            / loops
        )
    if ep.breaker and ep.timeline.get("healthy_probe"):
        ep.herd = _herd(mapping, ep.timeline["healthy_probe"])
    rejitter_invokes = parties.invokes(calls, parties.rejitter)
    if rejitter_invokes:
        resent = sum(x.records or 0 for x in rejitter_invokes if not x.failed)
        busy = sum(x.end - x.start for x in rejitter_invokes)
        ep.rejitter = {
            "invocations": len(rejitter_invokes),
            "records": sum(x.records or 0 for x in rejitter_invokes),
            "records_ok": resent,
            "busy_seconds": busy,
            "first": min(x.start for x in rejitter_invokes),
            "last": max(x.end for x in rejitter_invokes),
            "max_concurrency": _max_concurrency(rejitter_invokes),
            "send_batches": sum(
                1
                for x in calls
                if parties.who(x) == "rejitter" and x.operation == "SendMessageBatch"
            ),
        }


def _max_concurrency(calls: list[Call]) -> int:
    edges = sorted([(x.start, 1) for x in calls] + [(x.end, -1) for x in calls])
    level = peak = 0
    for _, step in edges:
        level += step
        peak = max(peak, level)
    return peak


def _herd(mapping: list[Call], origin: float) -> dict[str, Any]:
    """Per-second invocations, records and concurrent batches of the protected function's
    mapping, from the healthy probe on (second 0)."""
    after = [x for x in mapping if x.start >= origin]
    if not after:
        return {"origin": origin, "seconds": []}
    horizon = int(max(x.end for x in after) - origin) + 1
    invocations = [0] * horizon
    records = [0] * horizon
    for x in after:
        second = int(x.start - origin)
        invocations[second] += 1
        records[second] += x.records or 0
    # concurrency: the most batches in flight at once within each second
    concurrency = [0] * horizon
    edges = sorted([(x.start, 1) for x in after] + [(x.end, -1) for x in after])
    level = index = 0
    for second in range(horizon):
        peak = level  # in flight when the second starts
        boundary = origin + second + 1
        while index < len(edges) and edges[index][0] < boundary:
            level += edges[index][1]
            peak = max(peak, level)
            index += 1
        concurrency[second] = peak
    return {
        "origin": origin,
        "first_delivery": min(x.start for x in after) - origin,
        "last_delivery": max(x.end for x in after) - origin,
        "invocations": invocations,
        "records": records,
        "concurrency": concurrency,
        # every invocation (start, end, records), seconds after the healthy probe: the report
        # takes percentiles on a finer grid than whole seconds
        "calls": [
            [round(x.start - origin, 3), round(x.end - origin, 3), x.records or 0] for x in after
        ],
    }
