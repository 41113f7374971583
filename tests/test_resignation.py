"""The resignation rule as the agent and the false-resignation statistics share it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crowdzero.search.resignation import would_resign_at

values = st.lists(st.floats(-1.0, 1.0), max_size=60)


def test_the_rule_fires_on_the_last_of_the_consecutive_low_moves() -> None:
    assert would_resign_at([0.2, -0.95, -0.97, -0.99, -1.0], -0.9, 3) == 3


def test_a_value_at_or_above_the_threshold_restarts_the_count() -> None:
    assert would_resign_at([-0.95, -0.95, -0.9, -0.95, -0.95], -0.9, 3) is None
    assert would_resign_at([-0.95, -0.95, -0.9, -0.95, -0.95, -0.95], -0.9, 3) == 5


def test_a_threshold_of_minus_one_never_fires() -> None:
    assert would_resign_at([-1.0] * 20, -1.0, 1) is None


def test_consecutive_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="consecutive"):
        would_resign_at([-1.0], -0.9, 0)


@given(root_values=values, threshold=st.floats(-1.0, 1.0), consecutive=st.integers(1, 6))
def test_the_rule_fires_first_where_the_last_consecutive_values_are_all_low(
    root_values: list[float], threshold: float, consecutive: int
) -> None:
    fired = would_resign_at(root_values, threshold, consecutive)
    firing = [
        i
        for i in range(consecutive - 1, len(root_values))
        if all(v < threshold for v in root_values[i - consecutive + 1 : i + 1])
    ]
    assert fired == (firing[0] if firing else None)
    # A game cut at the move where the rule fired resigns there, and only there.
    if fired is not None:
        assert would_resign_at(root_values[: fired + 1], threshold, consecutive) == fired
        assert would_resign_at(root_values[:fired], threshold, consecutive) is None
