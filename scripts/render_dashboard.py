"""Render a CloudWatch dashboard as one self-contained SVG, like a screenshot of the console.

Reads the dashboard (GetDashboard), each metric widget's data for the last N minutes
(GetMetricData), evaluates the widget's metric math here (numbers, ids, + - * /, comparisons,
AND/OR/NOT, IF(c, a[, b]) and FILL(x, v), point by point over the aligned series) and the alarm
widget's alarms' states (DescribeAlarms). Credentials, region and endpoint: boto3's standard chain
(AWS_ENDPOINT_URL, AWS_REGION), or the flags.

    python scripts/render_dashboard.py NAME [--minutes 15] [--period 10] [--output FILE.svg]
"""

from __future__ import annotations

import argparse
import json
import math
import operator
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

COLUMNS = 24  # CloudWatch's dashboard grid
WIDTH = 1200  # px of the whole picture
UNIT = 46  # px of one grid row
MARGIN = 16
HEADER = 56
GAP = 8
FONT = "Amazon Ember, Helvetica Neue, Helvetica, Arial, sans-serif"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
STATE_COLOURS = {"OK": "#1d8102", "ALARM": "#d13212", "INSUFFICIENT_DATA": "#879596"}
ANNOTATION_COLOUR = "#d13212"

Series = dict[float, float]  # epoch seconds -> value
Node = tuple[Any, ...]


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class Spec:
    """One row of a widget's `metrics` array: a metric or a metric-math expression."""

    id: str
    label: str
    expression: str | None = None
    namespace: str = ""
    metric: str = ""
    dims: tuple[tuple[str, str], ...] = ()
    stat: str = "Average"
    period: int = 60
    axis: str = "left"
    visible: bool = True
    color: str | None = None


# ---- the dashboard body ------------------------------------------------------------------------
def parse_metrics(props: dict[str, Any], period_override: int | None = None) -> list[Spec]:
    """The widget's `metrics` rows as Specs (with CloudWatch's "..." and "." shorthands)."""
    specs: list[Spec] = []
    previous: list[str] = []
    for i, row in enumerate(props.get("metrics", [])):
        opts = row[-1] if row and isinstance(row[-1], dict) else {}
        names = [str(item) for item in row if not isinstance(item, dict)]
        if names and names[0] == "...":
            names = previous[: max(0, len(previous) - len(names) + 1)] + names[1:]
        names = [previous[k] if n == "." and k < len(previous) else n for k, n in enumerate(names)]
        previous = names or previous
        common = {
            "id": opts.get("id") or f"m{i}",
            "period": period_override or int(opts.get("period", props.get("period", 60))),
            "axis": opts.get("yAxis", "left"),
            "visible": opts.get("visible", True),
            "color": opts.get("color"),
        }
        if "expression" in opts:
            label = opts.get("label", opts["expression"])
            specs.append(Spec(label=label, expression=opts["expression"], **common))
        elif len(names) >= 2:
            namespace, metric, *dims = names
            specs.append(
                Spec(
                    label=opts.get("label", metric),
                    namespace=namespace,
                    metric=metric,
                    dims=tuple(zip(dims[::2], dims[1::2], strict=False)),
                    stat=opts.get("stat", props.get("stat", "Average")),
                    **common,
                )
            )
    return specs


def alarm_name(arn: str) -> str:
    return arn.split(":alarm:", 1)[-1]


# ---- metric math -------------------------------------------------------------------------------
_TOKEN = re.compile(r"\s*(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|[A-Za-z_]\w*|>=|<=|==|!=|[-+*/(),<>])")
_LEVELS = (("OR",), ("AND",), (">", "<", ">=", "<=", "==", "!="), ("+", "-"), ("*", "/"))
_ARITHMETIC = {"+": "add", "-": "sub", "*": "mul"}
_COMPARISON = {">": "gt", "<": "lt", ">=": "ge", "<=": "le", "==": "eq", "!=": "ne"}
_FUNCTIONS = {"IF": (2, 3), "FILL": (2,)}  # name: numbers of arguments


def tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    pos, text = 0, text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise ValueError(f"cannot parse {text[pos:]!r} in {text!r}")
        tokens.append(match.group(1))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens, self.pos = tokens, 0

    def peek(self) -> str:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if not token or (expected and token.upper() != expected):
            raise ValueError(f"expected {expected or 'more'} at token {self.pos}, got {token!r}")
        self.pos += 1
        return token

    def expr(self, level: int = 0) -> Node:
        if level == len(_LEVELS):
            return self.unary()
        node = self.expr(level + 1)
        while self.peek().upper() in _LEVELS[level]:
            node = ("op", self.take().upper(), node, self.expr(level + 1))
        return node

    def unary(self) -> Node:
        token = self.take()
        if token == "-":
            return ("neg", self.unary())
        if token.upper() == "NOT":
            return ("not", self.unary())
        if token == "(":
            node = self.expr()
            self.take(")")
            return node
        if token[0].isdigit():
            return ("num", float(token))
        if not (token[0].isalpha() or token[0] == "_"):
            raise ValueError(f"unexpected {token!r}")
        if self.peek() != "(":
            return ("id", token)
        self.take("(")
        args = [self.expr()]
        while self.peek() == ",":
            self.take()
            args.append(self.expr())
        self.take(")")
        if len(args) not in _FUNCTIONS.get(token.upper(), ()):
            raise ValueError(f"unsupported function {token}/{len(args)}")
        return ("call", token.upper(), args)


def parse(text: str) -> Node:
    parser = _Parser(tokenize(text))
    node = parser.expr()
    if parser.peek():
        raise ValueError(f"unexpected {parser.peek()!r} in {text!r}")
    return node


def ids(node: Node) -> set[str]:
    if node[0] == "id":
        return {node[1]}
    children = node[2] if node[0] == "call" else [n for n in node[1:] if isinstance(n, tuple)]
    return set().union(*(ids(child) for child in children))


def evaluate(node: Node, env: dict[str, float]) -> float | None:
    """The expression at one timestamp; None where a referenced series has no datapoint (or x/0)."""
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "id":
        return env.get(node[1])
    if kind in ("neg", "not"):
        value = evaluate(node[1], env)
        return None if value is None else (-value if kind == "neg" else float(not value))
    if kind == "call":
        name, args = node[1], node[2]
        if name == "IF":
            cond = evaluate(args[0], env)  # only the branch taken is evaluated (no 0/0)
            if cond is None or not (cond or args[2:]):
                return None
            return evaluate(args[1] if cond else args[2], env)
        value = evaluate(args[0], env)  # FILL
        return evaluate(args[1], env) if value is None else value
    left, right = evaluate(node[2], env), evaluate(node[3], env)
    if left is None or right is None:
        return None
    if node[1] in ("AND", "OR"):
        return float(bool(left) and bool(right) if node[1] == "AND" else bool(left) or bool(right))
    if node[1] == "/":
        return None if right == 0 else left / right
    return float(getattr(operator, (_ARITHMETIC | _COMPARISON)[node[1]])(left, right))


def evaluate_series(expression: str, series: dict[str, Series]) -> Series:
    node = parse(expression)
    refs = ids(node)
    stamps = sorted(set().union(*(series.get(ref, {}) for ref in refs)))
    out: Series = {}
    for stamp in stamps:
        env = {ref: series[ref][stamp] for ref in refs if stamp in series.get(ref, {})}
        value = evaluate(node, env)
        if value is not None:
            out[stamp] = value
    return out


# ---- layout and scaling ------------------------------------------------------------------------
def layout(widgets: list[dict[str, Any]], width: float = WIDTH, top: float = HEADER) -> list[Rect]:
    column = (width - 2 * MARGIN) / COLUMNS
    return [
        Rect(
            MARGIN + w.get("x", 0) * column + GAP / 2,
            top + w.get("y", 0) * UNIT + GAP / 2,
            w.get("width", 6) * column - GAP,
            w.get("height", 6) * UNIT - GAP,
        )
        for w in widgets
    ]


def nice_step(span: float, count: int) -> float:
    raw = span / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * 0.999)


def axis_ticks(
    values: Iterable[float], lo: float | None = None, hi: float | None = None, count: int = 4
) -> list[float]:
    """Nice ticks covering the values (and 0) or the fixed bounds: first and last are the range."""
    data = list(values)
    low = lo if lo is not None else min([0.0, *data])
    high = hi if hi is not None else max([low, *data])
    if high <= low:
        high = low + 1
    step = nice_step(high - low, count)
    first = low if lo is not None else math.floor(low / step) * step
    last = high if hi is not None else math.ceil(high / step - 1e-9) * step
    ticks = [first + i * step for i in range(round((last - first) / step) + 1)]
    return [t for t in ticks if t <= last + step * 1e-6] if hi is not None else ticks


def time_ticks(start: float, end: float, most: int = 6) -> list[float]:
    steps = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
    step = next((s for s in steps if (end - start) / s <= most), steps[-1])
    first = math.ceil(start / step) * step
    return [float(t) for t in range(int(first), int(end) + 1, step)]


def scale(value: float, lo: float, hi: float, p0: float, p1: float) -> float:
    return p0 + (value - lo) / (hi - lo) * (p1 - p0) if hi != lo else p0


def segments(stamps: list[float], max_gap: float) -> list[list[float]]:
    """Sorted timestamps split where the gap is wider than max_gap (no line across it)."""
    runs: list[list[float]] = []
    for stamp in stamps:
        if runs and stamp - runs[-1][-1] <= max_gap:
            runs[-1].append(stamp)
        else:
            runs.append([stamp])
    return runs


def fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value / 1000:.3g}k"
    return str(int(value)) if value == int(value) else f"{value:.3g}"


# ---- SVG ---------------------------------------------------------------------------------------
def text(x: float, y: float, content: str, size: int = 11, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}"{extra}>{escape(content)}</text>'


def line(x1: float, y1: float, x2: float, y2: float, stroke: str, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    coords = f'x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"'
    return f'<line {coords} stroke="{stroke}"{extra}/>'


def frame(rect: Rect, title: str) -> list[str]:
    return [
        f'<rect x="{rect.x:.1f}" y="{rect.y:.1f}" width="{rect.w:.1f}" height="{rect.h:.1f}" '
        'fill="#ffffff" stroke="#d5dbdb" rx="2"/>',
        text(rect.x + 12, rect.y + 22, title, 14, font_weight="bold", fill="#16191f"),
    ]


def legend_rows(labels: list[str], width: float) -> list[list[tuple[int, float]]]:
    """Legend items (index, x offset) wrapped into rows of the given width."""
    rows: list[list[tuple[int, float]]] = [[]]
    x = 0.0
    for i, label in enumerate(labels):
        item = 30 + 6.6 * len(label)
        if rows[-1] and x + item > width:
            rows.append([])
            x = 0.0
        rows[-1].append((i, x))
        x += item
    return rows


def metric_widget(
    rect: Rect,
    props: dict[str, Any],
    drawn: list[tuple[Spec, Series]],
    window: tuple[float, float],
) -> list[str]:
    out = frame(rect, props.get("title", ""))
    colours = [s.color or PALETTE[i % len(PALETTE)] for i, (s, _) in enumerate(drawn)]
    labels = [s.label + ("" if data else " (no data)") for s, data in drawn]
    rows = legend_rows(labels, rect.w - 24)
    annotations = props.get("annotations", {}).get("horizontal", [])
    y_axes = props.get("yAxis", {})
    sides = {s.axis for s, _ in drawn} | {a.get("yAxis", "left") for a in annotations}
    x0, x1 = rect.x + 46, rect.x + rect.w - (46 if "right" in sides else 18)
    y0, y1 = rect.y + rect.h - 26 - 18 * len(rows), rect.y + 36
    ticks: dict[str, list[float]] = {}
    for side in ("left", "right"):
        values = [v for s, data in drawn if s.axis == side for v in data.values()]
        values += [a["value"] for a in annotations if a.get("yAxis", "left") == side]
        bounds = y_axes.get(side, {})
        ticks[side] = axis_ticks(values, bounds.get("min"), bounds.get("max"))
    grid_side = "left" if "left" in sides or "right" not in sides else "right"
    for side in ("left", "right"):
        if side not in sides and side != grid_side:
            continue
        for t in ticks[side]:
            y = scale(t, ticks[side][0], ticks[side][-1], y0, y1)
            if side == grid_side:
                out.append(line(x0, y, x1, y, "#e9ebed"))
            x, anchor = (x0 - 6, "end") if side == "left" else (x1 + 6, "start")
            out.append(text(x, y + 4, fmt(t), 10, text_anchor=anchor, fill="#545b64"))
    out.append(line(x0, y0, x1, y0, "#879596"))
    for t in time_ticks(*window):
        x = scale(t, *window, x0, x1)
        out.append(line(x, y0, x, y0 + 4, "#879596"))
        label = datetime.fromtimestamp(t, UTC).strftime("%H:%M")
        out.append(text(x, y0 + 16, label, 10, text_anchor="middle", fill="#545b64"))
    for (spec, data), colour in zip(drawn, colours, strict=True):
        axis = ticks[spec.axis]
        inside = sorted((t, v) for t, v in data.items() if window[0] <= t <= window[1])
        pixel = {
            t: (scale(t, *window, x0, x1), scale(v, axis[0], axis[-1], y0, y1)) for t, v in inside
        }
        runs = segments(list(pixel), max(3 * spec.period, 90))
        for run in (r for r in runs if len(r) > 1):
            path = " ".join("{:.1f},{:.1f}".format(*pixel[t]) for t in run)
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2" '
                'stroke-linejoin="round"/>'
            )
        dots = (
            list(pixel.values()) if len(pixel) <= 40 else [pixel[r[0]] for r in runs if len(r) == 1]
        )
        out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>' for x, y in dots]
    for note in annotations:
        axis = ticks[note.get("yAxis", "left")]
        y = scale(note["value"], axis[0], axis[-1], y0, y1)
        colour = note.get("color", ANNOTATION_COLOUR)
        out.append(line(x0, y, x1, y, colour, stroke_dasharray="6 4", stroke_width="1.5"))
        label = f"{note.get('label', '')} {fmt(note['value'])}".strip()
        out.append(text(x1 - 4, y - 4, label, 10, text_anchor="end", fill=colour))
    if not any(data for _, data in drawn):
        middle = ((x0 + x1) / 2, (y0 + y1) / 2)
        out.append(text(*middle, "No data available", 12, text_anchor="middle", fill="#687078"))
    for r, row in enumerate(rows):
        ly = y0 + 34 + 18 * r
        for i, dx in row:
            lx = rect.x + 12 + dx
            out.append(line(lx, ly - 4, lx + 18, ly - 4, colours[i], stroke_width="3"))
            fill = "#16191f" if drawn[i][1] else "#879596"
            out.append(text(lx + 22, ly, labels[i], 11, fill=fill))
    return out


def alarm_widget(rect: Rect, title: str, states: list[tuple[str, str]]) -> list[str]:
    out = frame(rect, title)
    columns = max(1, int((rect.w - 24) // 230))
    chip_w = (rect.w - 24 - 8 * (columns - 1)) / columns
    for i, (name, state) in enumerate(states):
        x = rect.x + 12 + (i % columns) * (chip_w + 8)
        y = rect.y + 36 + (i // columns) * 52
        colour = STATE_COLOURS.get(state, "#545b64")
        shown = name if len(name) * 7 < chip_w - 20 else name[: int((chip_w - 20) / 7) - 1] + "…"
        out += [
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{chip_w:.1f}" height="44" rx="4" '
            f'fill="{colour}"/>',
            text(x + 10, y + 18, shown, 12, font_weight="bold", fill="#ffffff"),
            text(x + 10, y + 35, state.replace("_", " "), 11, fill="#ffffff"),
        ]
    return out


def render(
    name: str,
    widgets: list[dict[str, Any]],
    data: list[Any],
    window: tuple[float, float],
    subtitle: str = "",
) -> str:
    """The SVG document: data[i] is widget i's [(Spec, Series)] or its [(alarm, state)]."""
    rects = layout(widgets)
    height = max((r.y + r.h for r in rects), default=HEADER) + MARGIN
    body = [
        f'<rect width="{WIDTH}" height="{height:.0f}" fill="#f2f3f3"/>',
        text(MARGIN, 30, name, 20, font_weight="bold", fill="#16191f"),
        text(MARGIN, 47, subtitle, 11, fill="#545b64"),
    ]
    for widget, rect, item in zip(widgets, rects, data, strict=True):
        props = widget.get("properties", {})
        if widget.get("type") == "alarm":
            body += alarm_widget(rect, props.get("title", "Alarms"), item)
        elif widget.get("type") == "metric":
            body += metric_widget(rect, props, [(s, d) for s, d in item if s.visible], window)
        else:
            body += frame(rect, props.get("title", widget.get("type", "")))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" font-family="{FONT}">\n'
        + "\n".join(body)
        + "\n</svg>\n"
    )


# ---- AWS ---------------------------------------------------------------------------------------
def metric_query(s: Spec) -> dict[str, Any]:
    dimensions = [{"Name": k, "Value": v} for k, v in s.dims]
    metric = {"Namespace": s.namespace, "MetricName": s.metric, "Dimensions": dimensions}
    return {"Id": s.id, "MetricStat": {"Metric": metric, "Period": s.period, "Stat": s.stat}}


def fetch_series(cw: Any, specs: list[Spec], start: datetime, end: datetime) -> dict[str, Series]:
    """GetMetricData for the metric rows, then the expressions evaluated here, in order."""
    queries = [metric_query(s) for s in specs if not s.expression]
    series: dict[str, Series] = {q["Id"]: {} for q in queries}
    widest = max((s.period for s in specs), default=60)  # buckets start at StartTime: align it
    start = datetime.fromtimestamp(start.timestamp() // widest * widest, UTC)
    request: dict[str, Any] = {"StartTime": start, "EndTime": end, "ScanBy": "TimestampAscending"}
    while queries:
        page = cw.get_metric_data(MetricDataQueries=queries, **request)
        for result in page["MetricDataResults"]:
            stamps = [t.timestamp() for t in result.get("Timestamps", [])]
            series[result["Id"]].update(zip(stamps, result.get("Values", []), strict=False))
        if not page.get("NextToken"):
            break
        request["NextToken"] = page["NextToken"]
    for spec in specs:
        if spec.expression:
            try:
                series[spec.id] = evaluate_series(spec.expression, series)
            except ValueError as error:
                print(f"warning: {spec.expression!r}: {error}", file=sys.stderr)
                series[spec.id] = {}
    return series


def alarm_states(cw: Any, arns: list[str]) -> list[tuple[str, str]]:
    names = [alarm_name(arn) for arn in arns]
    found: dict[str, str] = {}
    page = cw.describe_alarms(AlarmNames=names, AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
        found[alarm["AlarmName"]] = alarm["StateValue"]
    return [(name, found.get(name, "UNKNOWN")) for name in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dashboard", help="the dashboard's name")
    parser.add_argument("--minutes", type=int, default=15, help="time range (default 15)")
    parser.add_argument("--period", type=int, help="override every widget's period (s)")
    parser.add_argument("--output", type=Path, default=Path("docs/dashboard.svg"))
    parser.add_argument("--endpoint-url", help="default: AWS_ENDPOINT_URL or AWS")
    parser.add_argument("--region", help="default: AWS_REGION or the profile's")
    args = parser.parse_args(argv)
    import boto3  # noqa: PLC0415  (the pure functions above need no AWS SDK)

    cw = boto3.client("cloudwatch", region_name=args.region, endpoint_url=args.endpoint_url)
    body = json.loads(cw.get_dashboard(DashboardName=args.dashboard)["DashboardBody"])
    widgets = body.get("widgets", [])
    end = datetime.now(UTC).replace(microsecond=0)
    start = (end - timedelta(minutes=args.minutes)).replace(second=0)
    data: list[Any] = []
    for widget in widgets:
        props = widget.get("properties", {})
        if widget.get("type") == "alarm":
            data.append(alarm_states(cw, props.get("alarms", [])))
        elif widget.get("type") == "metric":
            specs = parse_metrics(props, args.period)
            series = fetch_series(cw, specs, start, end)
            data.append([(s, series.get(s.id, {})) for s in specs])
            counts = ", ".join(f"{s.label}: {len(series.get(s.id, {}))}" for s in specs)
            print(f"{props.get('title', '')}: {counts}")
        else:
            data.append([])
    period = f"period {args.period} s (override)" if args.period else "periods from the widgets"
    subtitle = (
        f"{start:%Y-%m-%d %H:%M} - {end:%H:%M} UTC (last {args.minutes} minutes), {period}; "
        "rendered by scripts/render_dashboard.py"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    svg = render(args.dashboard, widgets, data, (start.timestamp(), end.timestamp()), subtitle)
    args.output.write_text(svg, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
