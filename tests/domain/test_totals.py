from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tender.domain.allocation import CardBalance, allocate
from tender.domain.errors import InvalidInput
from tender.domain.totals import (
    compute_totals,
    div_round_half_even,
    format_tax_rate,
    parse_tax_rate,
    price_line,
    tax_included,
)


@pytest.mark.parametrize(
    ("n", "d", "q"),
    [(5, 2, 2), (7, 2, 4), (-5, 2, -2), (1, 3, 0), (2, 3, 1), (10, 5, 2), (15, 10, 2), (25, 10, 2)],
)
def test_half_even(n: int, d: int, q: int) -> None:
    assert div_round_half_even(n, d) == q


def test_tax_is_extracted_from_gross_per_line() -> None:
    line = price_line(unit_gross=1190, quantity=3, tax_rate_bp=1900)
    assert (line.gross, line.tax, line.net) == (3570, 570, 3000)
    assert tax_included(100, 1900) == 16  # 15.966… rounds to 16
    assert tax_included(0, 1900) == 0


@pytest.mark.parametrize(("text", "bp"), [("19.00", 1900), ("7", 700), ("5.5", 550), (0, 0)])
def test_tax_rates(text: str, bp: int) -> None:
    assert parse_tax_rate(text) == bp
    assert parse_tax_rate(format_tax_rate(bp)) == bp


@pytest.mark.parametrize(
    "bad", ["19.001", "-1", "101", "abc", "NaN", "sNaN", "-sNaN", "Infinity", "1e999999999"]
)
def test_bad_tax_rates(bad: str) -> None:
    with pytest.raises(InvalidInput):
        parse_tax_rate(bad)


def test_totals_add_up_by_rate() -> None:
    lines = [price_line(1190, 2, 1900), price_line(1070, 1, 700)]
    shipping = price_line(490, 1, 1900)
    totals = compute_totals("EUR", lines, shipping, gift_cards=1000)
    assert totals.subtotal == 3450
    assert totals.grand_total == 3940
    assert totals.remaining == 2940
    assert totals.net + totals.tax == totals.grand_total
    assert [t.rate_bp for t in totals.taxes] == [1900, 700]
    assert sum(t.net + t.tax for t in totals.taxes) == totals.grand_total


def test_gift_cards_cannot_exceed_total() -> None:
    with pytest.raises(ValueError, match="cannot cover"):
        compute_totals("EUR", [price_line(100, 1, 0)], None, gift_cards=101)


@given(
    st.lists(
        st.tuples(
            st.integers(0, 10**7), st.integers(1, 1000), st.sampled_from([0, 550, 700, 1900, 2500])
        ),
        min_size=1,
        max_size=20,
    )
)
def test_parts_always_sum_to_the_whole(raw: list[tuple[int, int, int]]) -> None:
    lines = [price_line(u, q, r) for u, q, r in raw]
    totals = compute_totals("JPY", lines, None)
    assert totals.net + totals.tax == totals.grand_total == sum(u * q for u, q, _ in raw)
    for line in lines:
        assert 0 <= line.tax <= line.gross


def test_allocation_follows_the_norce_example() -> None:
    # Order total 150 SEK, two cards of 100 SEK: the first covers 100, the second 50.
    result = allocate(15000, [CardBalance("a", 10000), CardBalance("b", 10000)])
    assert [(a.payment_id, a.amount, a.upper_limit) for a in result] == [
        ("a", 10000, 10000),
        ("b", 5000, 10000),
    ]


def test_allocation_keeps_unneeded_cards_at_zero() -> None:
    result = allocate(500, [CardBalance("a", 1000), CardBalance("b", 1000)])
    assert [a.amount for a in result] == [500, 0]


@given(st.integers(0, 10**9), st.lists(st.integers(-5, 10**8), max_size=10))
def test_allocation_never_exceeds_total_or_balances(total: int, balances: list[int]) -> None:
    cards = [CardBalance(str(i), b) for i, b in enumerate(balances)]
    result = allocate(total, cards)
    assert sum(a.amount for a in result) == min(total, sum(max(b, 0) for b in balances))
    for card, a in zip(cards, result, strict=True):
        assert 0 <= a.amount <= max(card.available, 0)
