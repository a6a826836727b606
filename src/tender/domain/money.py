"""Money as an integer of minor units plus an ISO 4217 code.

Floats never touch an amount: decimal strings are converted at the edges with the currency's own
exponent (from Babel's CLDR data, so JPY has 0 fraction digits and KWD has 3), and a string with
more digits than the currency allows is refused rather than rounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, localcontext
from functools import cache

import pycountry

from tender.domain.errors import CurrencyMismatch, InvalidAmount, UnknownCurrency

MAX_MINOR = 10**13
"""Largest amount one operation or one card may carry, in minor units; far above any real gift
card and far below 2**53, so JavaScript clients read every amount exactly."""
MAX_DIGITS = 18
"""Digits before the point an amount in major units may have at all when parsed: far beyond
``MAX_MINOR``, and a bound on the integer a parsed text can become."""


NOT_MONEY = frozenset(
    {
        *("XXX", "XTS", "XAU", "XAG", "XPD", "XPT", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU"),
        *("XUA", "XAD"),
    }
)
"""ISO 4217 codes that are not currencies a shop sells in: "no currency", the testing code,
precious metals and accounting units."""
EXPONENTS = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI"), 0
    ),
    **dict.fromkeys(("VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}
"""ISO 4217's minor units where they are not two. ISO's, not CLDR's: CLDR (Babel) gives the
digits a currency is usually shown with, 0 for HUF, IDR or COP, whose minor unit is still the
hundredth; commercetools, Spryker and every other wire tender speaks count in ISO's."""


@cache
def _known_currencies() -> frozenset[str]:
    """ISO 4217's current codes (``pycountry`` ships the list): not the withdrawn ones."""
    return frozenset(c.alpha_3 for c in pycountry.currencies) - NOT_MONEY


def check_currency(code: str) -> str:
    """The code if ISO 4217 lists it now; codes are upper case on the wire, no folding."""
    if not isinstance(code, str) or len(code) != 3 or code not in _known_currencies():
        raise UnknownCurrency(code)
    return code


@cache
def exponent(currency: str) -> int:
    """Number of fraction digits of a currency's minor unit (EUR 2, JPY 0, KWD 3)."""
    return EXPONENTS.get(check_currency(currency), 2)


PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


@dataclass(frozen=True, slots=True)
class Money:
    minor: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.minor) is not int:
            raise InvalidAmount("amounts are integers of minor units")
        check_currency(self.currency)

    @classmethod
    def of(cls, minor: int, currency: str) -> Money:
        """A positive amount within limits, as every operation that moves money requires."""
        money = cls(minor, currency)
        if minor <= 0:
            raise InvalidAmount("amount must be greater than zero")
        if minor > MAX_MINOR:
            raise InvalidAmount("amount must not exceed {limit}", limit=cls(MAX_MINOR, currency))
        return money

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """Exact conversion of a decimal string in major units ("50.00") to minor units.
        Only plain ASCII digits with an optional fraction: ``Decimal`` alone also read
        ``1e3``, ``1_000`` and other scripts' digits, typos that would have moved money."""
        digits = exponent(currency)
        plain = text.strip() if isinstance(text, str) else ""
        if not PLAIN_DECIMAL.fullmatch(plain):
            raise InvalidAmount(f"{text!r} is not a decimal amount such as 50.00")
        value = Decimal(plain)  # plain digits always parse
        if value.adjusted() > MAX_DIGITS:
            raise InvalidAmount("amount must not exceed {limit}", limit=cls(MAX_MINOR, currency))
        # Exactly: with the default 28 significant digits, scaling would round away digits.
        with localcontext() as context:
            context.prec = len(value.as_tuple().digits) + digits + 1
            scaled = value.scaleb(digits)
        if scaled != scaled.to_integral_value():
            raise InvalidAmount(f"{currency} amounts have at most {digits} fraction digits")
        return cls(int(scaled), currency)

    def to_decimal(self) -> Decimal:
        """The amount in major units, exact (for wire formats that use decimal numbers)."""
        return Decimal(self.minor).scaleb(-exponent(self.currency))

    def format(self) -> str:
        """Major units with exactly the currency's fraction digits, e.g. "12.50"."""
        digits = exponent(self.currency)
        sign = "-" if self.minor < 0 else ""
        whole, frac = divmod(abs(self.minor), 10**digits)
        return f"{sign}{whole}.{frac:0{digits}d}" if digits else f"{sign}{whole}"

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(self.currency, other.currency)

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __str__(self) -> str:
        return f"{self.format()} {self.currency}"
