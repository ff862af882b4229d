"""Parameter Store's value size limits, as the harness enforces them."""

from __future__ import annotations

import pytest
from localstack_harness.ssm_logic import value_too_long_error


@pytest.mark.parametrize("tier", [None, "Standard"])
def test_a_standard_value_may_be_4096_characters_not_more(tier):
    assert value_too_long_error("x" * 4096, tier) is None
    error = value_too_long_error("x" * 4097, tier)
    assert error is not None and "maximum parameter value of 4096 characters" in error


@pytest.mark.parametrize("tier", ["Advanced", "Intelligent-Tiering"])
def test_advanced_and_intelligent_tiering_values_may_be_8192_characters(tier):
    assert value_too_long_error("x" * 8192, tier) is None
    assert value_too_long_error("x" * 8193, tier) is not None
