"""Declarative models: the schema Alembic migrates and the tables stores query with Core."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.naming import conv

from tender.db.types import BigIntPK, JSONType, UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class CardRow(Base):
    __tablename__ = "cards"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    """HMAC-SHA256 of the normalised code under the server key: finds a card, reveals no code."""
    code_last4: Mapped[str] = mapped_column(String(4))
    pin_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    posted: Mapped[int] = mapped_column(BigInteger)
    """Money on the card, minor units; always the sum of the card's ledger entries."""
    held: Mapped[int] = mapped_column(BigInteger)
    """Sum of the card's active holds."""
    version: Mapped[int] = mapped_column(Integer)
    failed_pin_attempts: Mapped[int] = mapped_column(Integer)
    """PIN attempts counted in the current window: wrong ones and any still being compared."""
    pin_window_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When the current PIN attempt window closes; while it is full the card is locked."""
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint("held >= 0", name="held_not_negative"),
        CheckConstraint("posted >= held", name="available_not_negative"),
        Index("ix_cards_status_currency_id", "status", "currency", "id"),
        Index("ix_cards_currency_id", "currency", "id"),
        Index("ix_cards_status_id", "status", "id"),
    )


class HoldRow(Base):
    __tablename__ = "holds"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    card_id: Mapped[str] = mapped_column(ForeignKey("cards.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    captured_amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("captured_amount >= 0 AND captured_amount <= amount", name="captured_le"),
        Index("ix_holds_status_expires_at", "status", "expires_at"),
    )


class ActivityRow(Base):
    """Immutable history of every movement and status change of a card."""

    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    card_id: Mapped[str] = mapped_column(ForeignKey("cards.id"))
    type: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    posted_after: Mapped[int] = mapped_column(BigInteger)
    held_after: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str | None] = mapped_column(String(200))
    hold_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_activities_card_id_id", "card_id", "id"),
        Index("ix_activities_card_id_reference", "card_id", "reference"),
    )


class LedgerEntryRow(Base):
    """One side of a double-entry transfer; the two sides share ``transfer_id``."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    transfer_id: Mapped[str] = mapped_column(String(36))
    account: Mapped[str] = mapped_column(String(16))
    card_id: Mapped[str | None] = mapped_column(ForeignKey("cards.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiClientRow(Base):
    __tablename__ = "api_clients"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    name: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[str] = mapped_column(Text)
    """Space-separated, as in OAuth2's ``scope`` parameter."""
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AccessTokenRow(Base):
    __tablename__ = "access_tokens"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("api_clients.client_id"), index=True)
    scopes: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ShippingMethodRow(Base):
    __tablename__ = "shipping_methods"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    """Integer, as Spryker's ``idShipmentMethod``."""
    name: Mapped[str] = mapped_column(String(200))
    carrier_name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    price: Mapped[int] = mapped_column(BigInteger)
    """Gross price in minor units."""
    tax_rate_bp: Mapped[int] = mapped_column(Integer)
    free_above: Mapped[int | None] = mapped_column(BigInteger)
    """Free when the cart's gross subtotal is at least this much."""
    countries: Mapped[list[str]] = mapped_column(JSONType)
    """ISO 3166-1 alpha-2 codes it ships to; empty ships everywhere."""
    delivery_time: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    names: Mapped[dict[str, str] | None] = mapped_column(JSONType)
    """The name in other languages, by language code; shown to shoppers who read them."""


class CartRow(Base):
    """A cart and, once placed, the order's editable source. Line items and addresses are JSON:
    a cart is read and written whole, under its version."""

    __tablename__ = "carts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    owner: Mapped[str] = mapped_column(String(100))
    """The API client that created it; other clients cannot see it."""
    locked: Mapped[bool] = mapped_column(Boolean)
    """True while its order is Processing or later: the cart cannot change then."""
    currency: Mapped[str] = mapped_column(String(3))
    country: Mapped[str] = mapped_column(String(2))
    customer: Mapped[dict[str, Any]] = mapped_column(JSONType)
    line_items: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    shipping_method_id: Mapped[int | None] = mapped_column(Integer)
    payment_methods: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    """Selected ``{method, provider}`` pairs."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    anonymous_id_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), index=True)
    """A keyed hash of the Glue guest's anonymous id, its only secret; never the id."""
    anonymous_id_last4: Mapped[str | None] = mapped_column(String(4))
    customer_id: Mapped[str | None] = mapped_column(String(100))
    """The ``sub`` of the customer's tokens from the merchant's identity provider."""


class OrderRow(Base):
    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reference: Mapped[str] = mapped_column(String(100))
    """Unique per API client: each numbers its own orders, and cannot learn or take another's
    numbers. The constraint's index leads with the reference, so that a lookup by reference
    alone (an admin's, a Glue shopper's) follows it too."""
    cart_id: Mapped[str] = mapped_column(ForeignKey("carts.id"), unique=True)
    """Unique: a cart becomes at most one order, however many requests race to place it."""
    owner: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONType)
    """Lines, addresses, shipping and totals as placed (refreshed when placed again)."""
    grand_total: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_orders_owner_state_id", "owner", "state", "id"),
        Index("ix_orders_owner_id", "owner", "id"),
        Index("ix_orders_state_id", "state", "id"),
        UniqueConstraint("reference", "owner", name=conv("uq_orders_reference_owner")),
    )


class PaymentRow(Base):
    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    cart_id: Mapped[str] = mapped_column(ForeignKey("carts.id"), index=True)
    method: Mapped[str] = mapped_column(String(32))
    """``giftcard`` or an external method's name (``invoice``, ``redirect``)."""
    provider: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    amount_planned: Mapped[int] = mapped_column(BigInteger)
    upper_limit: Mapped[int | None] = mapped_column(BigInteger)
    card_ref: Mapped[str | None] = mapped_column(String(100))
    """The provider's id of the gift card; never its code or PIN."""
    card_last4: Mapped[str | None] = mapped_column(String(4))
    hold_ref: Mapped[str | None] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    redeemed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Redeemed through the processor: its amount is fixed and its hold taken when made."""


class PaymentTransactionRow(Base):
    __tablename__ = "payment_transactions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    type: Mapped[str] = mapped_column(String(24))
    state: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    interaction_id: Mapped[str | None] = mapped_column(String(100))
    error_code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SessionRow(Base):
    __tablename__ = "sessions"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    cart_id: Mapped[str] = mapped_column(ForeignKey("carts.id"), index=True)
    owner: Mapped[str] = mapped_column(String(100))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType)
    future_order_number: Mapped[str | None] = mapped_column(String(100))
    """Unique per API client, as the orders' references are."""
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint(
            "future_order_number", "owner", name=conv("uq_sessions_future_order_number_owner")
        ),
        Index(
            "ix_sessions_unpromised_expires_at",
            "expires_at",
            postgresql_where=text("future_order_number IS NULL"),
            sqlite_where=text("future_order_number IS NULL"),
        ),
        Index(
            "ix_sessions_promised_expires_at",
            "expires_at",
            postgresql_where=text("future_order_number IS NOT NULL"),
            sqlite_where=text("future_order_number IS NOT NULL"),
        ),
    )


class BrowserOriginRow(Base):
    """Origins a live session allows; CORS preflights carry no session, so they look here."""

    __tablename__ = "browser_origins"

    origin: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EventRow(Base):
    """The outbox: appended in the same transaction as the change it describes."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(100))
    owner: Mapped[str | None] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    correlation_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_events_owner_id", "owner", "id"),)


class IdempotencyKeyRow(Base):
    __tablename__ = "idempotency_keys"

    scope_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    """Hash of caller, method, path and key."""
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    status: Mapped[str] = mapped_column(String(16))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[list[list[str]] | None] = mapped_column(JSONType)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    locked_until: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class RateLimitRow(Base):
    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger)
    """Unix seconds at which the counted window began."""
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    """Unix seconds at which the window ends; the row may be deleted from then on."""
