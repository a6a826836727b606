"""Shipping methods the merchant configures, and which of them fit a cart."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from tender.domain.errors import InvalidInput, NotFound
from tender.domain.totals import PricedLine, price_line


class ShippingMethodNotFound(NotFound):
    code = "ShippingMethodNotFound"
    message = "The shipment method was not found."


class ShippingMethodNotApplicable(InvalidInput):
    code = "ShippingMethodNotApplicable"
    message = "The shipment method does not ship to this address or in this currency."


@dataclass(frozen=True, slots=True)
class ShippingMethod:
    id: int
    name: str
    carrier_name: str
    currency: str
    price: int
    tax_rate_bp: int
    free_above: int | None
    countries: tuple[str, ...]
    delivery_time: str | None
    active: bool
    created_at: datetime
    names: Mapping[str, str] = field(default_factory=dict)
    """The method's name in other languages, by language code (``{"de": "Standardversand"}``);
    ``name`` is shown where a language has none."""

    def name_in(self, language: str) -> str:
        return self.names.get(language, self.name)

    def fits(self, *, currency: str, country: str) -> bool:
        return (
            self.active
            and self.currency == currency
            and (not self.countries or country in self.countries)
        )

    def gross_for(self, subtotal: int) -> int:
        """Free above the threshold, the configured price otherwise."""
        if self.free_above is not None and subtotal >= self.free_above:
            return 0
        return self.price

    def priced(self, subtotal: int) -> PricedLine:
        return price_line(self.gross_for(subtotal), 1, self.tax_rate_bp)


LANGUAGE = re.compile(r"^[a-z]{2,3}$")
MAX_NAMES = 30


def check_names(names: Mapping[str, str] | None, field: str = "names") -> dict[str, str]:
    """Names by ISO 639 language code (``de``, lower case), each 1 to 200 characters."""
    if not names:
        return {}
    if len(names) > MAX_NAMES:
        raise InvalidInput("at most {count} names", field=field, count=MAX_NAMES)
    checked = {}
    for language, name in names.items():
        if not isinstance(language, str) or not LANGUAGE.match(language):
            raise InvalidInput(
                "a language is an ISO 639 code in lower case such as de", field=field
            )
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise InvalidInput("a name is 1 to 200 characters", field=f"{field}.{language}")
        checked[language] = name.strip()
    return checked


def check_applicable(method: ShippingMethod, *, currency: str, country: str) -> None:
    if not method.fits(currency=currency, country=country):
        raise ShippingMethodNotApplicable(
            "{method} does not ship to {country} in {currency}",
            field="shippingMethodId",
            method=method.name,
            country=country,
            currency=currency,
        )
