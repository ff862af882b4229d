"""Tables for people (rich); `--json` output bypasses this module."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from .catalogue import CLOSED, HALF_OPEN, OPEN, REJITTER
from .derive import HELD_OPEN

STATE_STYLES = {
    CLOSED: "bold green",
    OPEN: "bold red",
    HALF_OPEN: "bold yellow",
    REJITTER: "bold yellow",
    HELD_OPEN: "bold magenta",
}
ALARM_STYLES = {"OK": "green", "ALARM": "red", "INSUFFICIENT_DATA": "yellow"}
DASH = "-"


def dash(value: Any) -> str:
    return DASH if value is None or value == "" else str(value)


def duration(seconds: float | None) -> str:
    """1d 2h, 3h 4m, 5m 6s, 7s."""
    if seconds is None:
        return DASH
    total = int(seconds)
    sign = "-" if total < 0 else ""
    days, rest = divmod(abs(total), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n][:2]
    return sign + (" ".join(shown) or "0s")


def when(value: str | None, now: str) -> str:
    """An ISO timestamp with its distance from now ("in 1m 3s" / "4m ago")."""
    if not value:
        return DASH
    delta = (datetime.fromisoformat(value) - datetime.fromisoformat(now)).total_seconds()
    relative = f"in {duration(delta)}" if delta > 0 else f"{duration(-delta)} ago"
    return f"{value} ({relative})"


def compact(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "), default=str) if value else DASH


def _episode_rows(episode: dict[str, Any], now: str) -> list[tuple[str, str]]:
    probe = episode.get("lastProbe") or {}
    attempt = f"{dash(episode.get('attempt'))} of {dash(episode.get('maxAttempts'))}"
    if episode.get("stayingOpen"):
        attempt += " (gave up, staying open)"
    last_probe = DASH
    if probe:
        last_probe = f"{dash(probe.get('outcome'))}: {dash(probe.get('reason'))}"
    return [
        ("episode", f"{episode['name']} since {when(episode.get('startedAt'), now)}"),
        ("phase", f"{episode['phase']} (state {dash(episode.get('currentState'))})"),
        ("opened because", dash(episode.get("openReason"))),
        ("attempt", attempt),
        ("last probe", last_probe),
        ("next probe", when(episode.get("nextProbeAt"), now)),
        ("retention left", duration(episode.get("retentionBudgetLeftSeconds"))),
        ("probes / reopens", f"{dash(episode.get('probes'))} / {dash(episode.get('reopens'))}"),
    ]


def status_view(status: dict[str, Any]) -> RenderableType:
    """The status document as a table."""
    now = status["at"]
    state = status["state"]
    title = Text.assemble(
        ("Circuit ", "bold"),
        (status["circuit"], "bold cyan"),
        ("  "),
        (state, STATE_STYLES.get(state, "bold")),
    )
    if status.get("watching"):
        title.append("  (watching the alarm after the close)", "dim")
    rows: list[tuple[str, str]] = [("state machine", status["stateMachineArn"])]
    hold = status.get("hold")
    if hold:
        rows.append(
            (
                "held",
                f"{dash(hold.get('reason'))} (by {dash(hold.get('requestedBy'))},"
                f" since {when(hold.get('since'), now)})"
                + (
                    f"; closes by itself at {when(hold['until'], now)}"
                    if hold.get("until")
                    else "; until an operator closes it"
                ),
            )
        )
    if status.get("episode"):
        rows += _episode_rows(status["episode"], now)
    rows += [(f"command {c['name']}", "running") for c in status["commandsRunning"]]
    mapping = status["mapping"]
    rows.append(
        (
            "mapping",
            f"{dash(mapping['state'])}  batch size {dash(mapping['batchSize'])}"
            f"  scaling {compact(mapping['scalingConfig'])}",
        )
    )
    settings = status.get("rememberedSettings") or {}
    if settings:
        rows.append(
            (
                "remembered",
                f"scaling {compact(settings.get('scalingConfig'))}  response types"
                f" {compact(settings.get('responseTypes'))}  at {dash(settings.get('at'))}",
            )
        )
    if status.get("rejitterMapping"):
        rows.append(("rejitter mapping", dash(status["rejitterMapping"]["state"])))
    queue = status["queue"]
    rows.append(
        (
            "queue",
            f"visible {dash(queue['visible'])}  not visible {dash(queue['notVisible'])}"
            f"  delayed {dash(queue['delayed'])}"
            f"  oldest {duration(queue['oldestMessageAgeSeconds'])}",
        )
    )
    dlq = status.get("deadLetterQueue")
    if dlq:
        rows.append(("dead-letter queue", _dead_letter_text(dlq)))
    alarm = status["alarm"]
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for label, value in rows:
        table.add_row(label, Text(value))
    alarm_text = Text(dash(alarm["state"]), ALARM_STYLES.get(alarm["state"] or "", ""))
    alarm_text.append(f"  {alarm['name']}: {dash(alarm['reason'])}")
    table.add_row("alarm", alarm_text)
    return Group(title, table)


def _dead_letter_text(dlq: dict[str, Any]) -> str:
    name = dlq["arn"].rsplit(":", 1)[-1]
    if dlq.get("error"):
        return f"{name}: not readable ({dlq['error']})"
    text = f"{name}: visible {dash(dlq.get('visible'))}  not visible {dash(dlq.get('notVisible'))}"
    task = dlq.get("moveTask")
    if task:
        moved = f"{dash(task.get('moved'))} of {dash(task.get('toMove'))} moved"
        text += f"  redrive {dash(task.get('status'))}: {moved} (since {dash(task['startedAt'])})"
        if task.get("failureReason"):
            text += f": {task['failureReason']}"
    return text


def short_time(value: str | None) -> str:
    return value.replace("T", " ").removesuffix("Z") if value else DASH


def history_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(show_lines=False)
    for column in ("started (UTC)", "ended (UTC)", "duration", "kind", "outcome", "probes"):
        table.add_column(column, no_wrap=True)
    table.add_column("how it ended", overflow="fold", ratio=1)
    for row in rows:
        table.add_row(
            short_time(row["startedAt"]),
            short_time(row["endedAt"]),
            duration(row["durationSeconds"]),
            row["kind"],
            row["label"],
            dash(row["probes"]),
            Text(dash(row["detail"])),
        )
    return table
