"""Play one failure episode with faults injected into the breaker's own AWS calls, and judge it.

Shared by the fault matrix (scripts/fault_matrix.py, `make test-faults`) and the fault regression
tests of `make test` (test_e2e_faults.py). The harness's injector (tests/harness faults.py) fails
the calls; this module plays the episode and reads only outcomes:

- lost: sent - processed - in the DLQ - still queued (must be 0);
- the end state: `closed` (mapping Enabled, rejitter Disabled), `open, notified` (a notification
  says why it stays open and names the error), or `SILENT` (anything else: a broken promise);
- duplicates: deliveries of one message beyond the first (at-least-once allows some; counted);
- time to close, from the trigger.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from circuit import Circuit
from support import drain, wait_until

# examples/complete for fault runs: seconds-scale timings and retries from 1 s (capped at 2 s), so
# a call failing for good reaches its Catch in seconds. The alarm is set by the test (SetAlarmState,
# whose event starts the episode); the function's few failures never trip it on their own, so no
# second episode muddles a run.
ALARM_PERIOD = 10
FAULT_STACK_VARS = {
    "record_processed": True,
    "function_timeout_seconds": 3,
    "queue_visibility_timeout_seconds": 4,
    "fast_alarm_period_seconds": ALARM_PERIOD,
    "alarm_evaluation_periods": 2,
    "alarm_datapoints_to_alarm": 1,
    "alarm_min_invocations": 1000,
    "alarm_threshold_percent": 100,
    "alarm_watch_seconds": 4,
    "open_wait_seconds": 2,
    "backoff_initial_seconds": 2,
    "backoff_rate": 2,
    "backoff_max_seconds": 4,
    "probe_max_attempts": 3,
    "probe_failure_visibility_margin_seconds": 2,
    "half_open_max_concurrency": 2,
    "half_open_seconds": 2,
    "rejitter_enabled": True,
    "rejitter_window_seconds": 4,
    "rejitter_min_delay_seconds": 5,
    "rejitter_max_delay_seconds": 7,
    "rejitter_timeout_seconds": 4,
    "open_alarm_after_seconds": 60,
    "breaker_retry_interval_seconds": 1,
    "breaker_retry_max_delay_seconds": 2,
    # transition events on the default bus: test_transition_events_tell_the_episode_in_order
    "transition_event_bus": "default",
}

# The episode: the function fails until the first probe has seen it fail, then recovers.
MESSAGES = 6
OPEN_TIMEOUT = 45  # the alarm's event to an execution that acts (or a failure notification)
END_TIMEOUT = 240  # the whole episode, retries and failure paths included


def harness_faults(endpoint: str, method: str = "GET", body: Any = None, query: str = "") -> dict:
    request = urllib.request.Request(
        endpoint.rstrip("/") + "/_localstack/harness/faults" + query,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@dataclass
class Outcome:
    label: str
    end: str = ""  # closed | open, notified | SILENT ...
    reason: str = ""  # the close reason, or the notification that explains an open circuit
    lost: list[str] = field(default_factory=list)
    duplicates: int = 0
    seconds_to_close: float | None = None
    injected: int = 0
    notifications: list[str] = field(default_factory=list)
    executions: list[str] = field(default_factory=list)
    detail: str = ""

    @property
    def ok(self) -> bool:
        return not self.lost and not self.end.startswith("SILENT")

    def row(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "end": self.end,
            "reason": self.reason,
            "lost": len(self.lost),
            "duplicates": self.duplicates,
            "seconds_to_close": self.seconds_to_close,
            "injected": self.injected,
            "detail": self.detail,
        }


def _kinds(texts: list[str]) -> list[str]:
    """What each notification says, in a word (OPEN, CLOSED:<reason>, FAILURE, MANUAL, ...)."""
    found = []
    for text in texts:
        if "is OPEN" in text:
            found.append("OPEN")
        elif "is CLOSED (reason: " in text:
            found.append("CLOSED:" + text.split("(reason: ", 1)[1].split(")", 1)[0])
        elif "giving up after" in text:
            found.append("GAVE-UP-OPEN" if "STAYS OPEN" in text else "GAVE-UP-CLOSING")
        elif "stays OPEN: manual action required" in text:
            found.append("MANUAL")
        elif "the rejitter event source mapping" in text and "could not be disabled" in text:
            found.append("REJITTER-STILL-ON")
        elif " ended ABORTED" in text or " ended FAILED" in text or " ended TIMED_OUT" in text:
            found.append("ENDED-CHECK-MAPPING")
        elif "could not be opened" in text:
            found.append("NOT-OPENED")
        elif "was CLOSED after an unexpected error" in text:
            found.append("CLOSED-AFTER-FAILURE")
        elif "unexpected error" in text:
            found.append("FAILURE")
        elif text.startswith("{") and "AlarmName" in text:  # a breaker alarm's action
            alarm = json.loads(text)
            name = str(alarm.get("AlarmName", "?")).split("-cb-", 1)[-1]
            found.append(f"alarm {name}: {alarm.get('NewStateValue', '?')}")
        else:
            found.append(text[:40])
    return found


def play(
    c: Circuit,
    endpoint: str,
    label: str,
    rules: list[dict],
    *,
    end_timeout: float = END_TIMEOUT,
    abort_at: str | None = None,
) -> Outcome:
    """One episode with `rules` injected from the trigger on. The end is judged while the faults
    still hold; then they are removed, a circuit left open must close by itself, and every
    message is accounted for. `abort_at`: an operator stops the execution once it has entered
    that state (the cleanup state machine then turns the rejitter off)."""
    outcome = Outcome(label)
    # FAULT_STACK_VARS: the function's errors cannot trip the alarm; an earlier run's message that
    # the probe could not hand back is in flight for up to Lambda's 900 s + 60 s, or (here) the
    # probe's timeout + 60 s
    c.reset(quiet_alarm=False, drain_seconds=300, rejitter_by_hand=True)
    before = {e["executionArn"] for e in c.executions()}
    c.set_failing(True)
    sent = set(c.send(MESSAGES, label.replace("/", "-").replace(" ", "-")[:40]))
    ids = [harness_faults(endpoint, "POST", rule)["id"] for rule in rules]
    started = time.monotonic()
    try:
        c.open_via_alarm()
        _until_first_probe_or_end(c, before)
        c.set_failing(False)
        if abort_at:
            _abort_at(c, before, abort_at)
        _until_settled(c, before, started, outcome, end_timeout)
        _judge_end(c, before, outcome)
    finally:
        held = {r["id"]: r for r in harness_faults(endpoint)["rules"]}
        outcome.injected = sum(held[i]["injected"] for i in ids if i in held)
        for rule_id in ids:
            harness_faults(endpoint, "DELETE", query=f"?id={rule_id}")
    if outcome.end == "open, notified":
        _then_closes(c, before, outcome)
    _account(c, sent, outcome)
    return outcome


def _new(c: Circuit, before: set[str]) -> list[dict]:
    return [e for e in c.executions() if e["executionArn"] not in before]


def _until_first_probe_or_end(c: Circuit, before: set[str]) -> None:
    """The function stays broken until a probe has found it unhealthy (or the episode ended
    without one: a fault before the probe)."""

    def seen() -> bool:
        new = _new(c, before)
        if any("unhealthy" in c.probe_outcomes(e["executionArn"]) for e in new):
            return True
        return bool(new) and all(e["status"] != "RUNNING" for e in new)

    # no failed probe at all (a fault on the way in): the run is judged by its outcome
    with contextlib.suppress(AssertionError):
        wait_until(seen, timeout=OPEN_TIMEOUT, what="a failed probe", interval=1)


def _abort_at(c: Circuit, before: set[str], state: str) -> None:
    def acting() -> dict | None:
        found = [e for e in _new(c, before) if state in c.entered_states(e["executionArn"])]
        return found[0] if found else None

    execution = wait_until(acting, timeout=OPEN_TIMEOUT, what=f"{state} entered", interval=0.5)
    c.sfn.stop_execution(executionArn=execution["executionArn"], cause="fault run: an abort")


def _until_settled(
    c: Circuit, before: set[str], started: float, outcome: Outcome, timeout: float
) -> None:
    """Until every execution of the episode has ended, or the circuit stays open and a
    notification said why (a stay_open give-up keeps its execution running, probing), noting when
    the mapping came back."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mapping = c.mapping()
        if outcome.seconds_to_close is None and mapping == "Enabled" and _new(c, before):
            outcome.seconds_to_close = round(time.monotonic() - started, 1)
        new = _new(c, before)
        if time.monotonic() - started > OPEN_TIMEOUT:
            if all(e["status"] != "RUNNING" for e in new):
                return
            c.collect()
            if mapping != "Enabled" and set(_kinds(c.notifications)) & STAYS_OPEN:
                return
        time.sleep(1)
    outcome.detail = "episode still running at the deadline"


# Notifications that say the circuit stays open, and why
STAYS_OPEN = {"MANUAL", "NOT-OPENED", "GAVE-UP-OPEN", "ENDED-CHECK-MAPPING"}
# Notifications that say the rejitter may still be on, and what to do
REJITTER_ON = {"MANUAL", "REJITTER-STILL-ON"}


def _then_closes(c: Circuit, before: set[str], outcome: Outcome, timeout: float = 90) -> None:
    """A circuit left open by a lasting fault (a stay_open give-up): once the fault is gone, the
    episode that is still probing closes it by itself."""
    if not any(e["status"] == "RUNNING" for e in _new(c, before)) or c.mapping() == "Enabled":
        return
    started = time.monotonic()
    try:
        wait_until(lambda: c.mapping() == "Enabled", timeout=timeout, what="closed", interval=1)
        then = f"closed by itself {time.monotonic() - started:.0f} s after the fault"
    except AssertionError:
        then = f"still open {timeout:.0f} s after the fault was removed"
    outcome.detail = f"{then}; {outcome.detail}" if outcome.detail else then


def _judge_end(c: Circuit, before: set[str], outcome: Outcome) -> None:
    """The end of the episode, as a user sees it, while the faults still hold."""
    c.collect()
    outcome.notifications = list(c.notifications)
    kinds = _kinds(outcome.notifications)
    new = _new(c, before)
    outcome.executions = [f"{e['name']}:{e['status']}" for e in new]
    mapping = c.mapping()
    rejitter = c.rejitter_mapping() if c.out.get("rejitter_event_source_mapping_uuid") else None
    closes = [k.split(":", 1)[1] for k in kinds if k.startswith("CLOSED:")]
    running = [e for e in new if e["status"] == "RUNNING"]
    said = set(kinds)
    if rejitter == "Enabled" and not said & REJITTER_ON:
        outcome.end = "SILENT: rejitter left Enabled"
    elif mapping == "Enabled":
        outcome.end = "closed" if rejitter != "Enabled" else "closed, rejitter on (notified)"
        if closes:
            reason = closes[-1]
        elif kinds:
            reason = ",".join(kinds)
        elif any("DisableMapping" in c.entered_states(e["executionArn"]) for e in new):
            reason = "opened and closed, nothing notified"
        else:
            reason = "never opened, nothing notified"
        outcome.reason = reason
    elif said & STAYS_OPEN:
        text = next(t for t, k in zip(outcome.notifications, kinds, strict=True) if k in STAYS_OPEN)
        outcome.end = "open, notified"
        outcome.reason = text[:200]
    elif running:
        outcome.end = "SILENT: still running"
    else:
        outcome.end = f"SILENT: mapping {mapping}, rejitter {rejitter}"
    if outcome.end != "closed" and not outcome.detail:
        outcome.detail = f"notifications {kinds}; executions {outcome.executions}"


def _account(c: Circuit, sent: set[str], outcome: Outcome, timeout: float = 300) -> None:
    """Every message: processed, in the DLQ (the queue's redrive), or still in the work queue.
    A message the probe could not hand back (a failed ChangeMessageVisibility) stays in flight
    until its visibility timeout ends (minutes): it is still in the queue, so a message counts as
    lost only when the queue holds nothing any more, visible, in flight or delayed."""
    found: set[str] = set()
    deadline = time.monotonic() + timeout
    while True:
        # The queue's counts first, then the reads: a message that leaves the queue after the
        # counts is found by the reads (the function sends its processed record before the
        # mapping deletes the message; a redrive moves it to the DLQ at once). Read the other way
        # round, a message processed between the reads and the counts was in neither: "lost".
        attributes = c.sqs.get_queue_attributes(
            QueueUrl=c.work,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        held = sum(int(v) for v in attributes.values())
        c.collect()  # appends to c.processed: what earlier collects found is still there
        found.update(p["body"] for p in c.processed if p["body"] in sent)
        found.update(b for b in c.dlq_bodies() if b in sent)
        found.update(m["Body"] for m in drain(c.sqs, c.work, seconds=1) if m["Body"] in sent)
        if found == sent:
            break
        if time.monotonic() > deadline:
            missing = len(sent - found)
            if held:  # still in the queue, in flight: not lost
                note = f"{missing} still in flight at the deadline"
                outcome.detail = f"{outcome.detail}; {note}" if outcome.detail else note
            else:
                outcome.lost = sorted(sent - found)
            break
        if not held and time.monotonic() > deadline - timeout + 45:
            outcome.lost = sorted(sent - found)  # nothing left anywhere after 45 s: lost
            break
        time.sleep(2)
    deliveries = Counter(p["body"] for p in c.processed if p["body"] in sent)
    outcome.duplicates = sum(n - 1 for n in deliveries.values() if n > 1)


def calls_made(endpoint: str, owner: str) -> list[tuple[str, str, str]]:
    """The (identity, service, operation) calls the breaker made since the counter was cleared:
    its roles (`role/<owner>cb-*`) and the services delivering for it (alarm actions, EventBridge
    targets). The platform's own calls (Lambda's logs, credentials) are not the breaker's."""
    seen = harness_faults(endpoint)["seen"]
    found = []
    for s in seen:
        identity, service = s["identity"], s["service"]
        if service in ("sts", "logs", "xray", "iam"):
            continue
        if identity.startswith(f"role/{owner}cb-") or (
            identity in ("service/cloudwatch", "service/events")
        ):
            found.append((identity, service, s["operation"]))
    return sorted(set(found))
