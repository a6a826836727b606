from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tender.domain.errors import CurrencyMismatch, InvalidAmount, UnknownCurrency
from tender.domain.money import MAX_MINOR, Money, exponent


@pytest.mark.parametrize(
    ("currency", "digits"),
    [
        *[("EUR", 2), ("JPY", 0), ("KWD", 3), ("USD", 2), ("CLF", 4), ("ISK", 0)],
        # ISO 4217's minor units where CLDR (Babel) shows whole amounts only: a wire that
        # counts in ISO's (commercetools, Spryker) would be misread a hundredfold.
        *[("HUF", 2), ("IDR", 2), ("COP", 2), ("LBP", 2), ("IQD", 3), ("ALL", 2)],
    ],
)
def test_exponent_is_iso_4217s(currency: str, digits: int) -> None:
    assert exponent(currency) == digits


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("50.00", "EUR", 5000),
        ("0.1", "EUR", 10),
        ("1000", "JPY", 1000),
        ("1.234", "KWD", 1234),
        (" 12.5 ", "USD", 1250),
        ("-3.10", "EUR", -310),
        ("19.99", "EUR", 1999),
    ],
)
def test_parse_is_exact(text: str, currency: str, minor: int) -> None:
    assert Money.parse(text, currency) == Money(minor, currency)


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        ("50.001", "EUR"),
        ("1.5", "JPY"),
        ("1.2345", "KWD"),
        ("abc", "EUR"),
        ("NaN", "EUR"),
        ("Infinity", "EUR"),
        ("", "EUR"),
        ("1.00000000000000000000000000009", "EUR"),  # 28 digits would round it to 1.00
        ("1e999999999", "EUR"),
        ("sNaN", "EUR"),
        ("1e3", "EUR"),  # the CLI loaded 1,000.00 for this typo
        ("1E2", "EUR"),
        (" 1_000 ", "EUR"),
        ("\uff11\uff12", "EUR"),  # fullwidth digits
        ("+5", "EUR"),
        ("5.", "EUR"),
        (".5", "EUR"),
    ],
)
def test_parse_refuses_what_it_cannot_represent(text: str, currency: str) -> None:
    with pytest.raises(InvalidAmount):
        Money.parse(text, currency)


@pytest.mark.parametrize(
    "currency", ["eur", "EURO", "XXY", "", "E1R", "XXX", "XTS", "XAU", "XAD", "DEM", "HRK"]
)
def test_unknown_currencies_are_refused(currency: str) -> None:
    with pytest.raises(UnknownCurrency):
        Money(1, currency)


def test_a_refused_currency_is_repeated_only_in_part() -> None:
    with pytest.raises(UnknownCurrency) as short:
        Money(1, "EURO")
    assert str(short.value).startswith("'EURO' is not")
    with pytest.raises(UnknownCurrency) as long:
        Money(1, "E" * 100_000)
    assert str(long.value) == "'EEEEEEEEEEE… is not a known ISO 4217 currency code"


def test_floats_and_bools_are_not_amounts() -> None:
    with pytest.raises(InvalidAmount):
        Money(12.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount):
        Money(True, "EUR")


@pytest.mark.parametrize("minor", [0, -1, MAX_MINOR + 1])
def test_of_requires_positive_amount_within_limits(minor: int) -> None:
    with pytest.raises(InvalidAmount):
        Money.of(minor, "EUR")


def test_arithmetic_refuses_mixed_currencies() -> None:
    assert Money(100, "EUR") + Money(50, "EUR") == Money(150, "EUR")
    assert Money(100, "EUR") - Money(150, "EUR") == Money(-50, "EUR")
    with pytest.raises(CurrencyMismatch):
        _ = Money(100, "EUR") + Money(100, "USD")


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(1299, "EUR"), "12.99"),
        (Money(5, "EUR"), "0.05"),
        (Money(-5, "EUR"), "-0.05"),
        (Money(1000, "JPY"), "1000"),
        (Money(1, "KWD"), "0.001"),
    ],
)
def test_format(money: Money, text: str) -> None:
    assert money.format() == text
    assert money.to_decimal() == Decimal(text)


@given(
    minor=st.integers(min_value=-MAX_MINOR, max_value=MAX_MINOR),
    currency=st.sampled_from(["EUR", "JPY", "KWD", "CHF"]),
)
def test_format_then_parse_round_trips(minor: int, currency: str) -> None:
    money = Money(minor, currency)
    assert Money.parse(money.format(), currency) == money
