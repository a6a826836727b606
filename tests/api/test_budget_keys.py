"""A budget's counter is named exactly as ``limits`` names it, since ``limits`` reads and
counts the same counters by its own ``key_for``."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tender.api.rate_limits import budgets, per_minute, rates

NAMES = st.text(st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=40)


@given(identifiers=st.lists(NAMES, min_size=1, max_size=3), notation=st.sampled_from(
    ["10/minute", "10/hour;30/day", "5 per 2 minutes", "1/second;100/year"]
))  # fmt: skip
def test_a_budgets_key_is_the_one_limits_makes(identifiers: list[str], notation: str) -> None:
    items = [*rates(notation), per_minute(7)]
    for budget, item in zip(budgets(items, *identifiers), items, strict=True):
        assert budget.key == item.key_for("cards", *identifiers)
        assert budget.identifiers == ("cards", *identifiers)
