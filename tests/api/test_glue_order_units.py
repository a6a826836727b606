"""Glue's orders have one item per unit: a line's tax, rounded once, is shared out exactly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tender.api.compat.spryker.orders import shares


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=1, max_value=500))
def test_shares_add_up_and_differ_by_a_cent_at_most(total: int, count: int) -> None:
    parts = shares(total, count)
    assert len(parts) == count
    assert sum(parts) == total
    assert max(parts) - min(parts) <= 1
    assert parts == sorted(parts, reverse=True)
