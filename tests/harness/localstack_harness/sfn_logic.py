"""Pure logic behind the Step Functions fidelity hook (no LocalStack imports)."""

from __future__ import annotations

import re

# One step of a definite JSONPath: `.name`, `['name']`, `["name"]` or a single index `[3]`.
_DEFINITE_STEP = re.compile(r"""\.(?![.*])[^.\[\]]+|\['[^']*'\]|\["[^"]*"\]|\[-?\d+\]""")


def is_definite_path(path: str) -> bool:
    """True when a JSONPath can match at most one node (Jayway's "definite" path: only single
    names and single indexes). Step Functions evaluates paths with Jayway JsonPath: a definite
    path yields its value, any other path (wildcard `[*]` or `.*`, slice, union, filter, deep
    scan `..`) yields a JSON array of every match, even of one match or none."""
    rest = path.strip()
    if rest.startswith("$$"):
        rest = rest[2:]
    elif rest.startswith("$"):
        rest = rest[1:]
    else:
        return True  # not a path: left to LocalStack
    while rest:
        step = _DEFINITE_STEP.match(rest)
        if step is None:
            return False
        rest = rest[step.end() :]
    return True
