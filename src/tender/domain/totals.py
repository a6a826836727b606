"""Cart totals, computed only here and only from server-side prices: a client never sends one.

Prices are gross (tax included), as shops in the EU show them. Each line's tax is extracted
from the line's gross total and rounded half-even in minor units, once per line; the totals
are sums of rounded lines, so the parts always add up to the whole to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tender.domain.errors import InvalidInput

BASIS_POINTS = 10_000
"""Tax rates are kept in basis points of a percent: 19.00 % is 1900."""


def div_round_half_even(numerator: int, denominator: int) -> int:
    """Exact integer division rounded half to even (banker's rounding), no floats."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def parse_tax_rate(value: Decimal | str | int) -> int:
    """A percentage with at most two decimals ("19.00", 7, "5.5") as basis points."""
    try:
        rate = Decimal(str(value))
    except ArithmeticError:
        raise InvalidInput("a tax rate is a percentage such as 19.00", field="taxRate") from None
    # Finite and in range before any arithmetic: a signalling NaN or an exponent of a billion
    # would raise from the multiplication, not be refused.
    if not rate.is_finite() or not 0 <= rate <= 100 or (scaled := rate * 100) != int(scaled):
        raise InvalidInput(
            "a tax rate is a percentage from 0 to 100 with at most two decimals", field="taxRate"
        )
    return int(scaled)


def format_tax_rate(basis_points: int) -> str:
    return f"{basis_points // 100}.{basis_points % 100:02d}"


def tax_included(gross: int, rate_bp: int) -> int:
    """The tax inside a gross amount: gross * rate / (100 % + rate), rounded half-even."""
    return div_round_half_even(gross * rate_bp, BASIS_POINTS + rate_bp)


@dataclass(frozen=True, slots=True)
class PricedLine:
    """What one line costs: ``gross = unit_gross * quantity``, ``net + tax = gross``."""

    gross: int
    net: int
    tax: int
    tax_rate_bp: int


def price_line(unit_gross: int, quantity: int, tax_rate_bp: int) -> PricedLine:
    gross = unit_gross * quantity
    tax = tax_included(gross, tax_rate_bp)
    return PricedLine(gross=gross, net=gross - tax, tax=tax, tax_rate_bp=tax_rate_bp)


@dataclass(frozen=True, slots=True)
class TaxPortion:
    rate_bp: int
    net: int
    tax: int


@dataclass(frozen=True, slots=True)
class Totals:
    currency: str
    subtotal: int
    """Gross sum of the line items."""
    shipping: int
    """Gross shipping price (0 when free or not chosen)."""
    net: int
    tax: int
    taxes: tuple[TaxPortion, ...]
    """Net and tax per rate, lines and shipping together, highest rate first."""
    grand_total: int
    """What the order costs: subtotal + shipping."""
    gift_cards: int
    """Covered by gift cards."""
    remaining: int
    """Left to pay by other methods: grand_total - gift_cards, never negative."""


def compute_totals(
    currency: str,
    lines: list[PricedLine],
    shipping: PricedLine | None,
    gift_cards: int = 0,
) -> Totals:
    priced = [*lines, *([shipping] if shipping else [])]
    by_rate: dict[int, tuple[int, int]] = {}
    for line in priced:
        net, tax = by_rate.get(line.tax_rate_bp, (0, 0))
        by_rate[line.tax_rate_bp] = (net + line.net, tax + line.tax)
    subtotal = sum(line.gross for line in lines)
    shipping_gross = shipping.gross if shipping else 0
    grand_total = subtotal + shipping_gross
    if not 0 <= gift_cards <= grand_total:
        raise ValueError("gift cards cannot cover more than the total")
    return Totals(
        currency=currency,
        subtotal=subtotal,
        shipping=shipping_gross,
        net=sum(line.net for line in priced),
        tax=sum(line.tax for line in priced),
        taxes=tuple(
            TaxPortion(rate, net, tax) for rate, (net, tax) in sorted(by_rate.items(), reverse=True)
        ),
        grand_total=grand_total,
        gift_cards=gift_cards,
        remaining=grand_total - gift_cards,
    )
