"""scripts/render_dashboard.py: the pure parts (no AWS; fake CloudWatch clients)."""

from __future__ import annotations

import importlib.util
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"


def _load() -> Any:
    spec = importlib.util.spec_from_file_location(
        "render_dashboard", ROOT / "scripts" / "render_dashboard.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


rd = _load()

RATE = "IF(inv > 0, 100 * err / inv, 0)"
FUNCTION_WIDGET = {
    "type": "metric",
    "x": 0,
    "y": 6,
    "width": 12,
    "height": 6,
    "properties": {
        "title": "Function f",
        "period": 60,
        "metrics": [
            ["AWS/Lambda", "Invocations", "FunctionName", "f", {"id": "inv", "stat": "Sum"}],
            ["AWS/Lambda", "Errors", "FunctionName", "f", {"id": "err", "stat": "Sum"}],
            [{"expression": RATE, "id": "rate", "label": "Error rate (%)", "yAxis": "right"}],
        ],
        "annotations": {"horizontal": [{"label": "Threshold", "value": 50, "yAxis": "right"}]},
    },
}
ALARM_WIDGET = {
    "type": "alarm",
    "x": 12,
    "y": 0,
    "width": 12,
    "height": 6,
    "properties": {"title": "Alarms", "alarms": ["arn:aws:cloudwatch:us-east-1:1:alarm:a-b"]},
}


# ---- the dashboard body --------------------------------------------------------------------------
def test_parse_metrics_reads_ids_stats_axes_and_expressions() -> None:
    inv, err, rate = rd.parse_metrics(FUNCTION_WIDGET["properties"])
    assert (inv.id, inv.namespace, inv.metric, inv.dims) == (
        "inv",
        "AWS/Lambda",
        "Invocations",
        (("FunctionName", "f"),),
    )
    assert (inv.stat, inv.period, inv.label, inv.axis) == ("Sum", 60, "Invocations", "left")
    assert err.id == "err"
    assert (rate.expression, rate.label, rate.axis) == (RATE, "Error rate (%)", "right")


def test_parse_metrics_defaults_and_period_override() -> None:
    props = {"stat": "Maximum", "metrics": [["NS", "M", "D", "v"], ["NS", "N", {"label": "n"}]]}
    first, second = rd.parse_metrics(props, period_override=10)
    assert (first.id, first.stat, first.period, first.label) == ("m0", "Maximum", 10, "M")
    assert (second.id, second.label, second.dims) == ("m1", "n", ())
    assert rd.parse_metrics({"metrics": [["NS", "M"]]})[0].stat == "Average"


def test_parse_metrics_expands_the_repeat_shorthands() -> None:
    props = {"metrics": [["NS", "M", "Q", "a"], ["...", "b"], [".", "N", ".", "c"]]}
    specs = rd.parse_metrics(props)
    assert [(s.metric, s.dims) for s in specs] == [
        ("M", (("Q", "a"),)),
        ("M", (("Q", "b"),)),
        ("N", (("Q", "c"),)),
    ]


def test_alarm_name_from_arn() -> None:
    assert rd.alarm_name("arn:aws:cloudwatch:us-east-1:123:alarm:demo-cb-open-too-long") == (
        "demo-cb-open-too-long"
    )
    assert rd.alarm_name("plain") == "plain"


# ---- metric math ---------------------------------------------------------------------------------
def test_tokenize() -> None:
    assert rd.tokenize(" IF(inv>=0.5e1,1, x_2 ) ") == [
        *("IF", "(", "inv", ">=", "0.5e1", ",", "1", ",", "x_2", ")"),
    ]
    with pytest.raises(ValueError, match="cannot parse"):
        rd.tokenize("a % b")


@pytest.mark.parametrize(
    ("expression", "env", "expected"),
    [
        ("1 + 2 * 3", {}, 7.0),
        ("(1 + 2) * 3", {}, 9.0),
        ("10 - 4 - 3", {}, 3.0),
        ("-a + 1", {"a": 2.0}, -1.0),
        ("a > 1 AND b < 1", {"a": 2.0, "b": 0.0}, 1.0),
        ("a > 1 OR NOT b", {"a": 0.0, "b": 0.0}, 1.0),
        ("a == 2", {"a": 2.0}, 1.0),
        ("a != 2", {"a": 2.0}, 0.0),
        (RATE, {"inv": 4.0, "err": 1.0}, 25.0),
        (RATE, {"inv": 0.0, "err": 0.0}, 0.0),  # the untaken branch's 0/0 is not evaluated
        ("a / 0", {"a": 1.0}, None),
        ("a + b", {"a": 1.0}, None),
        ("IF(a > 1, a)", {"a": 0.0}, None),
        ("FILL(b, 7)", {}, 7.0),
        ("if(a < 1, 5, 6)", {"a": 0.0}, 5.0),
    ],
)
def test_evaluate(expression: str, env: dict[str, float], expected: float | None) -> None:
    assert rd.evaluate(rd.parse(expression), env) == expected


@pytest.mark.parametrize(
    "bad", ["1 +", "(1", "1 2", "IF(a, b", "*", ",", "SUM(a)", "IF(a)", "FILL(a, 1, 2)", "a.b"]
)
def test_invalid_or_unsupported_expressions_raise(bad: str) -> None:
    with pytest.raises(ValueError):
        rd.parse(bad)


def test_ids() -> None:
    assert rd.ids(rd.parse(RATE)) == {"inv", "err"}
    assert rd.ids(rd.parse("-x + FILL(y, 0)")) == {"x", "y"}
    assert rd.ids(rd.parse("1")) == set()


def test_evaluate_series_aligns_on_timestamps() -> None:
    series = {"inv": {0.0: 4.0, 60.0: 0.0, 120.0: 2.0}, "err": {0.0: 1.0, 60.0: 0.0}}
    assert rd.evaluate_series(RATE, series) == {0.0: 25.0, 60.0: 0.0}
    assert rd.evaluate_series("FILL(err, 0) + 1", series) == {0.0: 2.0, 60.0: 1.0}
    assert rd.evaluate_series("nothing * 2", series) == {}


# ---- layout and scaling --------------------------------------------------------------------------
def test_layout_uses_the_24_column_grid() -> None:
    left, right = rd.layout([{"x": 0, "y": 0, "width": 12, "height": 6}, ALARM_WIDGET], 1000, 50)
    column = (1000 - 2 * rd.MARGIN) / 24
    assert left.x == rd.MARGIN + rd.GAP / 2
    assert left.y == 50 + rd.GAP / 2
    assert left.w == pytest.approx(12 * column - rd.GAP)
    assert left.h == 6 * rd.UNIT - rd.GAP
    assert right.x == pytest.approx(left.x + 12 * column)
    assert right.x + right.w == pytest.approx(1000 - rd.MARGIN - rd.GAP / 2)


@pytest.mark.parametrize(
    ("values", "lo", "hi", "expected"),
    [
        ([3, 7], None, None, [0, 2, 4, 6, 8]),
        ([], None, None, [0, 0.25, 0.5, 0.75, 1]),
        ([0, 0], None, None, [0, 0.25, 0.5, 0.75, 1]),
        ([0.5], 0, 1, [0, 0.25, 0.5, 0.75, 1]),
        ([100, 50], None, None, [0, 25, 50, 75, 100]),
        ([-3, 3], None, None, [-4, -2, 0, 2, 4]),
        ([5], 0, 12, [0, 5, 10]),
    ],
)
def test_axis_ticks(values: list[float], lo: float, hi: float, expected: list[float]) -> None:
    assert rd.axis_ticks(values, lo, hi) == pytest.approx(expected)


def test_nice_step() -> None:
    assert rd.nice_step(8, 4) == 2
    assert rd.nice_step(0.9, 4) == 0.25
    assert rd.nice_step(3000, 4) == 1000


def test_time_ticks_are_whole_minutes_in_range() -> None:
    start = datetime(2024, 1, 1, 12, 0, 30, tzinfo=UTC).timestamp()
    ticks = rd.time_ticks(start, start + 15 * 60)
    assert ticks == [start - 30 + 300 * k for k in (1, 2, 3)]
    assert len(rd.time_ticks(start, start + 4 * 60)) == 4  # every minute


def test_segments_split_at_wide_gaps() -> None:
    assert rd.segments([0, 10, 20, 200, 210, 600], 90) == [[0, 10, 20], [200, 210], [600]]
    assert rd.segments([], 90) == []


def test_scale_and_fmt() -> None:
    assert rd.scale(5, 0, 10, 100, 0) == 50
    assert rd.scale(5, 5, 5, 7, 9) == 7
    assert [rd.fmt(v) for v in (0, 2.0, 0.25, 1500, 12.3456)] == ["0", "2", "0.25", "1.5k", "12.3"]


def test_legend_rows_wrap() -> None:
    rows = rd.legend_rows(["a" * 20, "b" * 20, "c"], 340)
    assert [[i for i, _ in row] for row in rows] == [[0, 1], [2]]
    assert rows[0][0] == (0, 0.0)


# ---- SVG -----------------------------------------------------------------------------------------
def _render(data_points: dict[str, dict[float, float]]) -> ET.Element:
    specs = rd.parse_metrics(FUNCTION_WIDGET["properties"], 60)
    series = dict(data_points)
    series["rate"] = rd.evaluate_series(RATE, series)
    drawn = [(s, series.get(s.id, {})) for s in specs]
    states = [("a-b", "ALARM"), ("ok-one", "OK"), ("new", "INSUFFICIENT_DATA"), ("gone", "UNKNOWN")]
    svg = rd.render("dash <&>", [FUNCTION_WIDGET, ALARM_WIDGET], [drawn, states], (0.0, 900.0))
    return ET.fromstring(svg)


def test_render_draws_series_annotation_legend_and_chips() -> None:
    root = _render({"inv": {0.0: 4, 60.0: 2, 120.0: 0}, "err": {0.0: 1, 60.0: 2, 120.0: 0}})
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "dash <&>" in texts
    assert {"Function f", "Alarms", "Invocations", "Errors", "Error rate (%)"} <= set(texts)
    assert len(list(root.iter(f"{SVG}polyline"))) == 3
    assert "Threshold 50" in texts
    assert any(line.get("stroke-dasharray") for line in root.iter(f"{SVG}line"))
    chips = [r.get("fill") for r in root.iter(f"{SVG}rect") if r.get("height") == "44"]
    assert chips == ["#d13212", "#1d8102", "#879596", "#545b64"]
    assert {"a-b", "ALARM", "OK", "INSUFFICIENT DATA"} <= set(texts)
    assert {"0", "100", "00:05"} <= set(texts)  # right axis covers 100 %, time ticks in UTC


def test_render_breaks_lines_at_gaps() -> None:
    root = _render({"inv": {0.0: 1, 60.0: 2, 600.0: 3, 660.0: 1}})  # 540 s gap at a 60 s period
    assert len(list(root.iter(f"{SVG}polyline"))) == 2


def test_render_without_data_says_so() -> None:
    root = _render({})
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "No data available" in texts
    assert "Invocations (no data)" in texts
    assert not list(root.iter(f"{SVG}polyline"))


def test_render_single_point_is_a_marker() -> None:
    root = _render({"inv": {60.0: 3}})
    assert not list(root.iter(f"{SVG}polyline"))
    assert len(list(root.iter(f"{SVG}circle"))) == 1


# ---- AWS calls (fake client) ---------------------------------------------------------------------
class FakeCloudWatch:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def get_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        stamp = [datetime.fromtimestamp(60 * len(self.calls), UTC)]
        values = {"inv": 4.0, "err": 1.0}
        results = [
            {"Id": q["Id"], "Timestamps": stamp, "Values": [values.get(q["Id"], 0.0)]}
            for q in kwargs["MetricDataQueries"]
        ]
        return {"MetricDataResults": results, "NextToken": "t" if len(self.calls) == 1 else None}

    def describe_alarms(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {
            "MetricAlarms": [{"AlarmName": "a", "StateValue": "ALARM"}],
            "CompositeAlarms": [{"AlarmName": "c", "StateValue": "OK"}],
        }


def test_fetch_series_pages_and_evaluates_the_expression() -> None:
    cw = FakeCloudWatch()
    specs = rd.parse_metrics(FUNCTION_WIDGET["properties"], 10)
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 0, 15, tzinfo=UTC)
    series = rd.fetch_series(cw, specs, start, end)
    assert series == {
        "inv": {60.0: 4.0, 120.0: 4.0},
        "err": {60.0: 1.0, 120.0: 1.0},
        "rate": {60.0: 25.0, 120.0: 25.0},
    }
    first, second = cw.calls
    assert [q["Id"] for q in first["MetricDataQueries"]] == ["inv", "err"]
    stat = first["MetricDataQueries"][0]["MetricStat"]
    assert (stat["Period"], stat["Stat"]) == (10, "Sum")
    assert stat["Metric"]["Dimensions"] == [{"Name": "FunctionName", "Value": "f"}]
    assert (first["StartTime"], first["EndTime"]) == (start, end)
    assert "NextToken" not in first
    assert second["NextToken"] == "t"


def test_fetch_series_aligns_the_start_on_the_widest_period() -> None:
    cw = FakeCloudWatch()
    specs = rd.parse_metrics({"period": 300, "metrics": [["NS", "M"], ["NS", "N", {"period": 60}]]})
    start = datetime(2024, 1, 1, 12, 7, 42, tzinfo=UTC)
    rd.fetch_series(cw, specs, start, datetime(2024, 1, 1, 12, 30, tzinfo=UTC))
    assert cw.calls[0]["StartTime"] == datetime(2024, 1, 1, 12, 5, tzinfo=UTC)


def test_fetch_series_survives_an_unsupported_expression(capsys: Any) -> None:
    specs = rd.parse_metrics({"metrics": [[{"expression": "ANOMALY_DETECTION_BAND(m)"}]]})
    assert rd.fetch_series(FakeCloudWatch(), specs, datetime.now(UTC), datetime.now(UTC)) == {
        "m0": {}
    }
    assert "unsupported function" in capsys.readouterr().err


def test_alarm_states_keep_the_widget_order_and_mark_unknown_alarms() -> None:
    cw = FakeCloudWatch()
    arns = ["arn:aws:cloudwatch:r:1:alarm:c", "arn:aws:cloudwatch:r:1:alarm:x", "a"]
    assert rd.alarm_states(cw, arns) == [("c", "OK"), ("x", "UNKNOWN"), ("a", "ALARM")]
    assert cw.calls[0]["AlarmNames"] == ["c", "x", "a"]
    assert set(cw.calls[0]["AlarmTypes"]) == {"MetricAlarm", "CompositeAlarm"}
