"""A CloudWatch metric-math evaluator for the expression subset this project's alarms use.

Community LocalStack evaluates only simple metric alarms. The harness evaluates metric-math
alarms with this module, one period (datapoint) at a time, with AWS semantics:

- numbers, metric ids (`m1`, `errors`), `+ - * /`, unary minus, parentheses;
- comparisons `> < >= <= == !=` (1 or 0), `AND` / `&&`, `OR` / `||`, `NOT` / `!`;
- `FILL(x, number)`: a missing datapoint of x becomes the number;
- `IF(condition, a, b)` and `IF(condition, a)` (false -> no datapoint).

A missing datapoint (None) in any operand makes the result missing, as when CloudWatch aligns
time series that lack that timestamp; division by zero yields no datapoint. Anything else
(other functions, `METRICS()`, search expressions, strings) raises `MetricMathError` at parse
time with a message naming what is not supported. Stdlib only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Value = float | None


class MetricMathError(ValueError):
    """The expression is malformed or uses something outside the supported subset."""


_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>>=|<=|==|!=|&&|\|\||[-+*/()<>!,]))"
)
_WORD_OPS = {"AND": "&&", "OR": "||", "NOT": "!"}
FUNCTIONS = ("FILL", "IF")


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise MetricMathError(f"unexpected character {text[pos:].lstrip()[:1]!r} at {pos}")
        pos = match.end()
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "name" and value.upper() in _WORD_OPS and value.isupper():
            kind, value = "op", _WORD_OPS[value]
        tokens.append((kind, value))
    return tokens


@dataclass(frozen=True)
class Node:
    kind: str  # num, id, unary, binary, call
    value: object = None
    args: tuple[Node, ...] = ()

    def ids(self) -> set[str]:
        found = {self.value} if self.kind == "id" else set()
        for arg in self.args:
            found |= arg.ids()
        return found


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            found = token[1] if token else "end of expression"
            raise MetricMathError(f"expected {value or 'a term'} but found {found!r}")
        self.pos += 1
        return token

    def parse(self) -> Node:
        node = self.binary(0)
        if self.peek() is not None:
            raise MetricMathError(f"unexpected {self.peek()[1]!r} in {self.text!r}")
        return node

    LEVELS = (("||",), ("&&",), (">=", "<=", ">", "<", "==", "!="), ("+", "-"), ("*", "/"))

    def binary(self, level: int) -> Node:
        if level == len(self.LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while (token := self.peek()) and token[0] == "op" and token[1] in self.LEVELS[level]:
            self.take()
            node = Node("binary", token[1], (node, self.binary(level + 1)))
        return node

    def unary(self) -> Node:
        token = self.peek()
        if token and token[1] in ("-", "!"):
            self.take()
            return Node("unary", token[1], (self.unary(),))
        return self.primary()

    def primary(self) -> Node:
        kind, value = self.take()
        if kind == "num":
            return Node("num", float(value))
        if value == "(":
            node = self.binary(0)
            self.take(")")
            return node
        if kind == "name":
            if self.peek() and self.peek()[1] == "(":
                return self.call(value)
            if not value[0].islower():
                raise MetricMathError(f"metric ids start with a lower-case letter: {value!r}")
            return Node("id", value)
        raise MetricMathError(f"unexpected {value!r} in {self.text!r}")

    def call(self, name: str) -> Node:
        if name not in FUNCTIONS:
            raise MetricMathError(
                f"function {name}() is not supported by the harness (supported: "
                f"{', '.join(FUNCTIONS)}, arithmetic, comparisons, AND/OR/NOT)"
            )
        self.take("(")
        args = [self.binary(0)]
        while self.peek() and self.peek()[1] == ",":
            self.take(",")
            args.append(self.binary(0))
        self.take(")")
        if name == "FILL" and (len(args) != 2 or args[1].kind != "num"):
            raise MetricMathError("FILL takes (expression, number); REPEAT/LINEAR unsupported")
        if name == "IF" and len(args) not in (2, 3):
            raise MetricMathError("IF takes (condition, trueValue[, falseValue])")
        return Node("call", name, tuple(args))


def parse(expression: str) -> Node:
    """Parse an expression; raise MetricMathError for anything outside the subset."""
    if not expression or not expression.strip():
        raise MetricMathError("empty expression")
    return _Parser(expression).parse()


def _arith(op: str) -> Callable[[float, float], Value]:
    return {
        "+": lambda a, b: a + b,
        "-": lambda a, b: a - b,
        "*": lambda a, b: a * b,
        "/": lambda a, b: None if b == 0 else a / b,
        ">": lambda a, b: float(a > b),
        "<": lambda a, b: float(a < b),
        ">=": lambda a, b: float(a >= b),
        "<=": lambda a, b: float(a <= b),
        "==": lambda a, b: float(a == b),
        "!=": lambda a, b: float(a != b),
        "&&": lambda a, b: float(bool(a) and bool(b)),
        "||": lambda a, b: float(bool(a) or bool(b)),
    }[op]


def evaluate(node: Node, values: Mapping[str, Value]) -> Value:
    """Evaluate at one timestamp; `values` maps each id to its datapoint (None = missing)."""
    if node.kind == "num":
        return node.value
    if node.kind == "id":
        if node.value not in values:
            raise MetricMathError(f"unknown metric id {node.value!r}")
        value = values[node.value]
        return None if value is None else float(value)
    if node.kind == "unary":
        operand = evaluate(node.args[0], values)
        if operand is None:
            return None
        return -operand if node.value == "-" else float(not operand)
    if node.kind == "binary":
        left, right = (evaluate(arg, values) for arg in node.args)
        if left is None or right is None:
            return None
        return _arith(node.value)(left, right)
    if node.value == "FILL":
        value = evaluate(node.args[0], values)
        return node.args[1].value if value is None else value
    # IF
    condition = evaluate(node.args[0], values)
    if condition is None:
        return None
    if condition:
        return evaluate(node.args[1], values)
    return evaluate(node.args[2], values) if len(node.args) == 3 else None


def evaluate_queries(queries: list[Mapping], datapoints: Mapping[str, Value]) -> Value:
    """Evaluate an alarm's `Metrics` (MetricDataQueries) at one timestamp.

    `datapoints` holds the MetricStat queries' values; expressions may reference other
    expressions. Returns the value of the query with ReturnData true.
    """
    expressions = {q["Id"]: parse(q["Expression"]) for q in queries if q.get("Expression")}
    returned = [q["Id"] for q in queries if q.get("ReturnData", True)]
    if len(returned) != 1:
        raise MetricMathError(f"exactly one query must have ReturnData true, found {returned}")
    resolved: dict[str, Value] = dict(datapoints)

    def resolve(query_id: str, stack: tuple[str, ...] = ()) -> Value:
        if query_id in resolved:
            return resolved[query_id]
        if query_id in stack:
            raise MetricMathError(f"circular reference through {query_id!r}")
        if query_id not in expressions:
            raise MetricMathError(f"unknown metric id {query_id!r}")
        node = expressions[query_id]
        for ref in node.ids():
            resolve(ref, (*stack, query_id))
        resolved[query_id] = evaluate(node, resolved)
        return resolved[query_id]

    return resolve(returned[0])


def validate_queries(queries: list[Mapping]) -> None:
    """Raise MetricMathError unless the harness can evaluate these queries."""
    ids = {q["Id"] for q in queries}
    for query in queries:
        if query.get("Expression"):
            missing = parse(query["Expression"]).ids() - ids
            if missing:
                raise MetricMathError(f"{query['Id']} references unknown ids {sorted(missing)}")
        elif not query.get("MetricStat"):
            raise MetricMathError(f"query {query['Id']} has neither Expression nor MetricStat")
    # a dry run with every metric missing catches circular references and ReturnData errors
    evaluate_queries(list(queries), {q["Id"]: None for q in queries if q.get("MetricStat")})
