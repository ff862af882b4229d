"""Which JSONPaths Step Functions (Jayway) treats as definite: the others always yield arrays."""

from __future__ import annotations

import pytest
from localstack_harness.sfn_logic import is_definite_path


@pytest.mark.parametrize(
    "path",
    ["$", "$.a", "$.a.b", "$.a[0]", "$.a[-1].b", "$['a b'].c", '$["a"]', "$$.Execution.Id"],
)
def test_single_names_and_indexes_are_definite(path):
    assert is_definite_path(path)


@pytest.mark.parametrize(
    "path",
    [
        "$.Executions[*].ExecutionArn",  # the breaker's ListSupersededExecutions
        "$[*]",
        "$.a.*",
        "$.a[1:3]",
        "$.a[0,1]",
        "$..id",
        "$.a[?(@.b == 1)]",
        "$.a['b','c']",
    ],
)
def test_wildcards_slices_unions_filters_and_deep_scans_are_indefinite(path):
    assert not is_definite_path(path)
