"""How checkout's rows map to domain objects and back: one place for the column names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table

from tender.db.models import (
    BrowserOriginRow,
    CartRow,
    EventRow,
    OrderRow,
    PaymentRow,
    PaymentTransactionRow,
    SessionRow,
    ShippingMethodRow,
)
from tender.domain.cart import Cart, LineItem
from tender.domain.customers import (
    address_document,
    address_from_document,
    customer_document,
    customer_from_document,
)
from tender.domain.orders import (
    Order,
    OrderState,
    PaymentStatus,
    TransactionState,
    TransactionType,
)
from tender.domain.payments import Payment, PaymentMethodSelection, Transaction
from tender.domain.sessions import Session
from tender.domain.shipping import ShippingMethod

carts: Table = CartRow.__table__  # type: ignore[assignment]
orders: Table = OrderRow.__table__  # type: ignore[assignment]
payments: Table = PaymentRow.__table__  # type: ignore[assignment]
transactions: Table = PaymentTransactionRow.__table__  # type: ignore[assignment]
sessions: Table = SessionRow.__table__  # type: ignore[assignment]
origins: Table = BrowserOriginRow.__table__  # type: ignore[assignment]
events: Table = EventRow.__table__  # type: ignore[assignment]
shipping: Table = ShippingMethodRow.__table__  # type: ignore[assignment]


def line_from_json(item: dict[str, Any]) -> LineItem:
    return LineItem(
        id=item["id"],
        sku=item["sku"],
        name=item["name"],
        quantity=item["quantity"],
        unit_gross=item["unitGross"],
        tax_rate_bp=item["taxRateBp"],
    )


def line_json(line: LineItem) -> dict[str, Any]:
    return {
        "id": line.id,
        "sku": line.sku,
        "name": line.name,
        "quantity": line.quantity,
        "unitGross": line.unit_gross,
        "taxRateBp": line.tax_rate_bp,
    }


def cart_from_row(row: Any) -> Cart:
    m = row._mapping
    return Cart(
        id=m["id"],
        version=m["version"],
        owner=m["owner"],
        locked=m["locked"],
        currency=m["currency"],
        country=m["country"],
        customer=customer_from_document(m["customer"] or {}),
        line_items=tuple(line_from_json(i) for i in m["line_items"]),
        shipping_address=address_from_document(m["shipping_address"]),
        billing_address=address_from_document(m["billing_address"]),
        shipping_method_id=m["shipping_method_id"],
        payment_methods=tuple(
            PaymentMethodSelection(p["method"], p["provider"]) for p in m["payment_methods"] or ()
        ),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        anonymous_id_hash=m["anonymous_id_hash"],
        anonymous_id_last4=m["anonymous_id_last4"],
        customer_id=m["customer_id"],
    )


def cart_identity(cart: Cart) -> dict[str, Any]:
    """Who shops with the cart: set when it is created, never changed (``save_cart`` leaves
    these columns alone)."""
    return {
        "anonymous_id_hash": cart.anonymous_id_hash,
        "anonymous_id_last4": cart.anonymous_id_last4,
        "customer_id": cart.customer_id,
    }


def cart_values(cart: Cart) -> dict[str, Any]:
    return {
        "version": cart.version,
        "owner": cart.owner,
        "locked": cart.locked,
        "currency": cart.currency,
        "country": cart.country,
        "customer": customer_document(cart.customer),
        "line_items": [line_json(line) for line in cart.line_items],
        "shipping_address": address_document(cart.shipping_address),
        "billing_address": address_document(cart.billing_address),
        "shipping_method_id": cart.shipping_method_id,
        "payment_methods": [
            {"method": p.method, "provider": p.provider} for p in cart.payment_methods
        ],
        "created_at": cart.created_at,
        "updated_at": cart.updated_at,
    }


def shipping_from_row(row: Any) -> ShippingMethod:
    m = row._mapping
    return ShippingMethod(
        id=m["id"],
        name=m["name"],
        carrier_name=m["carrier_name"],
        currency=m["currency"],
        price=m["price"],
        tax_rate_bp=m["tax_rate_bp"],
        free_above=m["free_above"],
        countries=tuple(m["countries"] or ()),
        delivery_time=m["delivery_time"],
        active=m["active"],
        created_at=m["created_at"],
        names=dict(m["names"] or {}),
    )


def transaction_from_row(row: Any, prefix: str = "") -> Transaction:
    """``prefix`` names the columns where a join labelled them (a payment's own share names)."""
    m = row._mapping
    return Transaction(
        id=m[f"{prefix}id"],
        payment_id=m[f"{prefix}payment_id"],
        type=TransactionType(m[f"{prefix}type"]),
        state=TransactionState(m[f"{prefix}state"]),
        amount=m[f"{prefix}amount"],
        currency=m[f"{prefix}currency"],
        interaction_id=m[f"{prefix}interaction_id"],
        error_code=m[f"{prefix}error_code"],
        created_at=m[f"{prefix}created_at"],
        updated_at=m[f"{prefix}updated_at"],
    )


def payment_from_row(row: Any, txs: Sequence[Transaction]) -> Payment:
    m = row._mapping
    return Payment(
        id=m["id"],
        cart_id=m["cart_id"],
        method=m["method"],
        provider=m["provider"],
        status=PaymentStatus(m["status"]),
        currency=m["currency"],
        amount_planned=m["amount_planned"],
        upper_limit=m["upper_limit"],
        card_ref=m["card_ref"],
        card_last4=m["card_last4"],
        hold_ref=m["hold_ref"],
        position=m["position"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        transactions=tuple(txs),
        redeemed=bool(m["redeemed"]),
    )


def order_from_row(row: Any) -> Order:
    m = row._mapping
    return Order(
        id=m["id"],
        reference=m["reference"],
        cart_id=m["cart_id"],
        owner=m["owner"],
        state=OrderState(m["state"]),
        version=m["version"],
        currency=m["currency"],
        snapshot=m["snapshot"],
        grand_total=m["grand_total"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def session_from_row(row: Any) -> Session:
    m = row._mapping
    return Session(
        token_hash=bytes(m["token_hash"]),
        cart_id=m["cart_id"],
        currency=m["currency"],
        owner=m["owner"],
        metadata=m["metadata"] or {},
        future_order_number=m["future_order_number"],
        expires_at=m["expires_at"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def payment_values(payment: Payment) -> dict[str, Any]:
    return {
        "status": payment.status.value,
        "amount_planned": payment.amount_planned,
        "upper_limit": payment.upper_limit,
        "hold_ref": payment.hold_ref,
        "updated_at": payment.updated_at,
    }
