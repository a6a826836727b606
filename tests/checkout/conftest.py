"""A runtime over the test database for checkout service tests, and small factories."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest

from tender.config import Environment, Settings
from tender.db.engine import Database
from tender.db.ledger_store import SqlLedgerStore
from tender.domain.cart import (
    AddLineItem,
    CartAction,
    SetBillingAddress,
    SetCustomerEmail,
    SetPaymentMethod,
    SetShippingAddress,
    SetShippingMethod,
)
from tender.domain.checkout_ports import Work
from tender.domain.customers import Address
from tender.domain.money import Money
from tender.domain.payments import PaymentMethodSelection
from tender.runtime import Runtime
from tender.services.carts import CartView
from tender.services.ledger import IssuedCard
from tender.services.shipping import add_shipping_method
from tests.conftest import FakeClock

T = TypeVar("T")
OWNER = "client:shop"
ADDRESS = Address(
    salutation="Ms",
    first_name="Ada",
    last_name="Lovelace",
    street_name="Main St",
    street_number="1",
    postal_code="10115",
    city="Berlin",
    country="DE",
)
"""A shipping and billing address every checkout service test can use."""


async def ready_cart(
    rt: Runtime,
    w: Work,
    *,
    unit: int,
    quantity: int = 1,
    email: str = "ada@example.com",
    shipping: int | None = None,
    method: PaymentMethodSelection | None = None,
) -> CartView:
    """A cart of one line of tea with both addresses and an email, made in ``w``; with a
    shipping method and a payment method when given."""
    view = await rt.carts.create(
        w,
        owner=OWNER,
        currency="EUR",
        country="DE",
        lines=[AddLineItem("TEA", "Tea", quantity, unit, 1900)],
    )
    actions: list[CartAction] = [
        SetShippingAddress(ADDRESS),
        SetBillingAddress(ADDRESS),
        SetCustomerEmail(email),
    ]
    if shipping is not None:
        actions.append(SetShippingMethod(shipping))
    if method is not None:
        actions.append(SetPaymentMethod(method))
    return await rt.carts.update(
        w, cart_id=view.cart.id, owner=OWNER, version=view.cart.version, actions=actions
    )


class Shop:
    def __init__(self, runtime: Runtime, clock: FakeClock) -> None:
        self.runtime = runtime
        self.clock = clock

    async def tx(self, work: Callable[[Work], Awaitable[T]]) -> T:
        return await self.runtime.db.transaction(lambda c: work(self.runtime.work(c, actor="test")))

    async def card(
        self, minor: int, *, pin: str | None = None, currency: str = "EUR"
    ) -> IssuedCard:
        issued = await self.runtime.db.transaction(
            lambda c: self.runtime.ledger.issue(
                SqlLedgerStore(c), amount=Money(minor, currency), pin=pin
            )
        )
        return issued[0]

    async def balance(self, issued: IssuedCard) -> tuple[int, int]:
        card = await self.runtime.db.read(
            lambda c: self.runtime.ledger.get(SqlLedgerStore(c), card_id=issued.card.id)
        )
        return card.posted, card.held

    async def audit(self) -> list[str]:
        return await self.runtime.db.read(lambda c: SqlLedgerStore(c).audit())

    async def ready_cart(
        self, *, unit: int = 4000, quantity: int = 2, method: str | None = "invoice"
    ) -> CartView:
        """A cart with lines, addresses, email and shipping (490, free above 100.00)."""
        shipping = await self.tx(
            lambda w: add_shipping_method(
                w.shipping,
                clock=self.clock,
                name="Standard",
                carrier_name="DHL",
                price=Money(490, "EUR"),
                tax_rate_bp=1900,
                free_above=Money(100_000, "EUR"),
                countries=["DE"],
            )
        )
        chosen = PaymentMethodSelection(method) if method else None
        return await self.tx(
            lambda w: ready_cart(
                self.runtime, w, unit=unit, quantity=quantity, shipping=shipping.id, method=chosen
            )
        )


@pytest.fixture
async def shop(db: Database) -> AsyncIterator[Shop]:
    clock = FakeClock()
    settings = Settings(
        env=Environment.TEST,
        database_url=db.url,
        secret_key="checkout-test-secret-0123456789abcdefghijk",
        sweep_interval_seconds=0,
        db_pool_size=5,
    )
    runtime = Runtime(settings, clock=clock)
    yield Shop(runtime, clock)
    await runtime.close()
