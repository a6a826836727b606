"""What checkout services need from persistence, inside one open transaction: one store per
concept, held together by the unit of work (``Work``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from tender.domain.cart import Cart
from tender.domain.errors import Conflict
from tender.domain.events import Event, NewEvent
from tender.domain.orders import Order, OrderState, TransactionState
from tender.domain.payments import Payment, Transaction
from tender.domain.ports import GiftCardProvider, LedgerStore, Page, PinAttempts
from tender.domain.sessions import Session
from tender.domain.shipping import ShippingMethod


class StaleWrite(Conflict):
    """A save at ``expected_version`` found another version: someone changed the row since it
    was read. Stores raise it rather than report it, so no caller can carry on as if the write
    had happened."""

    code = "ConcurrentModification"
    message = "The object was changed by someone else; fetch it and retry."


class CartStore(Protocol):
    async def insert_cart(self, cart: Cart) -> None: ...

    async def get_cart(
        self, cart_id: str, *, lock: bool = False, owner: str | None = None
    ) -> Cart | None:
        """``lock`` takes the cart's row lock (PostgreSQL): every change to a cart, its
        payments or its order starts here, so they serialise per cart. With ``owner``, a
        cart of another owner is neither locked nor returned: a caller naming another
        client's cart must not hold up that client's requests."""
        ...

    async def owner_active(self, owner: str) -> bool:
        """Whether a cart's owner may still act on it: an API client that is not disabled
        (its shoppers stop with it), or an admin."""
        ...

    async def save_cart(self, cart: Cart, *, expected_version: int) -> None:
        """Raises ``StaleWrite`` unless the stored cart is at ``expected_version``."""
        ...

    async def set_cart_locked(self, cart_id: str, locked: bool, now: datetime) -> None: ...


class ShippingStore(Protocol):
    async def insert_shipping_method(self, method: ShippingMethod) -> ShippingMethod: ...

    async def shipping_methods(self) -> list[ShippingMethod]: ...

    async def shipping_method(self, method_id: int) -> ShippingMethod | None: ...

    async def set_shipping_active(self, method_id: int, active: bool) -> ShippingMethod | None:
        """The method offered to new carts again, or no longer; ``None`` for an unknown id."""
        ...


class PaymentStore(Protocol):
    """A cart's payments and their transactions. A read after a write in the same unit of work
    answers exactly what the write stored."""

    async def insert_payment(self, payment: Payment) -> None:
        """Stores every field but ``transactions`` (``insert_transaction`` adds those)."""
        ...

    async def payments(self, cart_id: str) -> list[Payment]:
        """All payments of a cart, removed ones too, in the order they were added."""
        ...

    async def payments_of(self, cart_ids: Sequence[str]) -> dict[str, list[Payment]]: ...

    async def payment(self, payment_id: str) -> Payment | None: ...

    async def update_payment(self, payment: Payment) -> None:
        """Stores every field but ``id`` and ``transactions``."""
        ...

    async def update_payments(self, payments: Sequence[Payment]) -> None:
        """``update_payment`` for each, in one round trip."""
        ...

    async def insert_transaction(self, transaction: Transaction) -> None: ...

    async def update_transaction(
        self, transaction_id: str, *, state: TransactionState, error_code: str | None, now: datetime
    ) -> None: ...


class OrderStore(Protocol):
    async def insert_order(self, order: Order) -> None: ...

    async def order(self, order_id: str) -> Order | None: ...

    async def order_by_cart(self, cart_id: str) -> Order | None: ...

    async def orders_by_reference(
        self, reference: str, owner: str | None, *, limit: int
    ) -> list[Order]:
        """The orders with this reference, in id order: of one client (at most one), or with
        ``owner`` None of every client (one each)."""
        ...

    async def save_order(self, order: Order, *, expected_version: int) -> None:
        """Raises ``StaleWrite`` unless the stored order is at ``expected_version``."""
        ...

    async def list_orders(
        self, *, owner: str | None, state: OrderState | None, after: str | None, limit: int
    ) -> Page[Order]: ...

    async def take_order_number(self, owner: str, number: str) -> bool:
        """Whether ``number`` is free for the client ``owner`` (none of its orders has it as
        its reference, none of its sessions promised it to its cart), asked so that nobody
        else can take it until this unit ends."""
        ...


class SessionStore(Protocol):
    """Browser sessions and the origins they allow."""

    async def insert_session(self, session: Session) -> None: ...

    async def session(self, token_hash: bytes) -> Session | None: ...

    async def future_order_number(self, cart_id: str) -> str | None: ...

    async def end_sessions(self, owner: str, now: datetime) -> int:
        """Every live session of ``owner`` expires now; how many there were."""
        ...

    async def latest_session(self, cart_id: str) -> Session | None: ...

    async def allow_origins(self, origins: Sequence[str], until: datetime) -> None: ...

    async def origin_allowed(self, origin: str, now: datetime) -> bool: ...


class EventStore(Protocol):
    async def append_events(
        self, events: Sequence[NewEvent], *, correlation_id: str | None, now: datetime
    ) -> None: ...

    async def events(self, *, owner: str | None, after: int | None, limit: int) -> list[Event]: ...


@dataclass(frozen=True, slots=True)
class Work:
    """One transaction's view of the world for checkout: a store per concept and the card
    provider, all bound to the same transaction."""

    carts: CartStore
    shipping: ShippingStore
    payments: PaymentStore
    orders: OrderStore
    sessions: SessionStore
    events: EventStore
    provider: GiftCardProvider
    correlation_id: str | None = None
    ledger: LedgerStore = field(kw_only=True)
    """The built-in ledger's storage in the same transaction, for the ledger's own use cases
    (the gift card API and the CLI); checkout reaches cards through ``provider`` only."""
    pins: PinAttempts = field(kw_only=True)
    """Where PIN attempts are counted: apart from this transaction."""
