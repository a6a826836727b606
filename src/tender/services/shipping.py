"""Shipping methods, configured by the merchant (admin API and CLI)."""

from __future__ import annotations

from collections.abc import Mapping

from tender.domain.checkout_ports import ShippingStore
from tender.domain.customers import check_country
from tender.domain.errors import InvalidInput
from tender.domain.money import Money
from tender.domain.ports import Clock
from tender.domain.shipping import ShippingMethod, ShippingMethodNotFound, check_names


async def add_shipping_method(
    store: ShippingStore,
    *,
    clock: Clock,
    name: str,
    carrier_name: str,
    price: Money,
    tax_rate_bp: int,
    free_above: Money | None = None,
    countries: list[str] | None = None,
    delivery_time: str | None = None,
    names: Mapping[str, str] | None = None,
) -> ShippingMethod:
    if not name.strip() or len(name) > 200:
        raise InvalidInput("a name is 1 to 200 characters", field="name")
    if price.minor < 0:
        raise InvalidInput("the price cannot be negative", field="price")
    if free_above is not None and (free_above.currency != price.currency or free_above.minor < 0):
        raise InvalidInput(
            "freeAbove must be a non-negative amount in the price's currency", field="freeAbove"
        )
    method = ShippingMethod(
        id=0,
        name=name.strip(),
        carrier_name=carrier_name.strip() or "tender",
        currency=price.currency,
        price=price.minor,
        tax_rate_bp=tax_rate_bp,
        free_above=free_above.minor if free_above else None,
        countries=tuple(check_country(c, "countries") for c in countries or ()),
        delivery_time=delivery_time,
        active=True,
        created_at=clock.now(),
        names=check_names(names),
    )
    return await store.insert_shipping_method(method)


async def set_shipping_method_active(
    store: ShippingStore, method_id: int, *, active: bool
) -> ShippingMethod:
    """A retired method is no longer offered, and a cart that chose it is placed only once
    another is chosen; activated again, it is offered again. Nothing is deleted: the orders
    placed with it keep it in their snapshot."""
    method = await store.set_shipping_active(method_id, active)
    if method is None:
        raise ShippingMethodNotFound()
    return method
