"""Shipping methods the merchant configures, and which of them fit a cart."""

from __future__ import annotations

from dataclasses import dataclass
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


def check_applicable(method: ShippingMethod, *, currency: str, country: str) -> None:
    if not method.fits(currency=currency, country=country):
        raise ShippingMethodNotApplicable(
            f"{method.name} does not ship to {country} in {currency}", field="shippingMethodId"
        )
