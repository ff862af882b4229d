"""The harness's metric-math evaluator against hand-computed cases."""

from __future__ import annotations

import pytest
from localstack_harness.metric_math import (
    MetricMathError,
    evaluate,
    evaluate_queries,
    parse,
    validate_queries,
)

RATE = "100 * FILL(m1, 0) / m2"
GUARDED = "IF(m2 >= 5, 100 * FILL(m1, 0) / m2, 0)"


def ev(expression: str, **values):
    return evaluate(parse(expression), values)


@pytest.mark.parametrize(
    ("m1", "m2", "expected"),
    [
        (3, 4, 75.0),
        (None, 4, 0.0),  # FILL: no Errors datapoint means zero errors
        (2, None, None),  # no Invocations datapoint: no result datapoint
        (0, 0, None),  # division by zero: no datapoint
        (1, 1, 100.0),
    ],
)
def test_error_rate(m1, m2, expected):
    assert ev(RATE, m1=m1, m2=m2) == expected


@pytest.mark.parametrize(
    ("m1", "m2", "expected"),
    [(4, 4, 0.0), (5, 5, 100.0), (1, 10, 10.0), (None, 5, 0.0), (3, None, None)],
)
def test_minimum_invocations_guard(m1, m2, expected):
    assert ev(GUARDED, m1=m1, m2=m2) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", 7.0),
        ("(1 + 2) * 3", 9.0),
        ("10 / 4 - 1", 1.5),
        ("-m1 + 4", 3.0),
        ("2 - -m1", 3.0),
        ("m1 > 0 AND m2 < 3", 1.0),
        ("m1 > 0 && m2 > 3", 0.0),
        ("m1 == 1 OR m2 == 5", 1.0),
        ("NOT m1", 0.0),
        ("!(m1 - 1)", 1.0),
        ("m1 != m2", 1.0),
        ("m1 <= 1", 1.0),
        ("1.5e1 + .5", 15.5),
        ("IF(m1 > 5, 1)", None),  # two-argument IF: false gives no datapoint
        ("IF(m1, 7)", 7.0),
    ],
)
def test_operators_and_precedence(expression, expected):
    assert ev(expression, m1=1.0, m2=2.0) == expected


def test_missing_operand_propagates():
    assert ev("m1 + m2", m1=None, m2=1) is None
    assert ev("IF(m1 > 0, 1, 0)", m1=None) is None
    assert ev("NOT m1", m1=None) is None


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("SUM(METRICS())", "SUM() is not supported"),
        ("ANOMALY_DETECTION_BAND(m1)", "not supported"),
        ("FILL(m1, REPEAT)", "REPEAT"),
        ("FILL(m1, m2)", "FILL takes"),
        ("IF(m1)", "IF takes"),
        ("M1 + 1", "lower-case"),
        ("m1 +", "expected a term"),
        ("(m1 + 1", "expected )"),
        ("m1 2", "unexpected"),
        ("m1 $ 2", "unexpected character"),
        ("   ", "empty"),
    ],
)
def test_unsupported_or_malformed_expressions_are_refused(expression, message):
    with pytest.raises(MetricMathError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(expression)


def stat(metric_id: str) -> dict:
    return {"Id": metric_id, "MetricStat": {"Metric": {}, "Period": 60, "Stat": "Sum"}}


def test_queries_resolve_nested_expressions_and_return_the_returned_one():
    queries = [
        {**stat("m1"), "ReturnData": False},
        {"Id": "e1", "Expression": "m1 + 1", "ReturnData": False},
        {"Id": "e2", "Expression": "e1 * 2", "ReturnData": True},
    ]
    assert evaluate_queries(queries, {"m1": 4.0}) == 10.0


def test_queries_refuse_cycles_unknown_ids_and_ambiguous_return():
    cyclic = [
        {**stat("m1"), "ReturnData": False},
        {"Id": "e1", "Expression": "e2", "ReturnData": True},
        {"Id": "e2", "Expression": "e1", "ReturnData": False},
    ]
    with pytest.raises(MetricMathError, match="circular"):
        validate_queries(cyclic)
    with pytest.raises(MetricMathError, match="unknown ids"):
        validate_queries([{"Id": "e1", "Expression": "m9 * 2"}])
    with pytest.raises(MetricMathError, match="exactly one"):
        validate_queries([stat("m1"), {"Id": "e1", "Expression": "m1"}])
    with pytest.raises(MetricMathError, match="neither"):
        validate_queries([{"Id": "x1", "ReturnData": True}])
