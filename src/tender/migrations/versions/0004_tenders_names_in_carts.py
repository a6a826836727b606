"""Carts and orders keep addresses and payment method choices with tender's names

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 09:00:00.000000

Addresses were stored with Spryker Glue's keys (``address1``, ``zipCode``, ``iso2Code``…) and
payment method choices as ``{paymentMethodName, paymentProviderName}``; the Glue routes now
translate, and the rows hold tender's names: commercetools' address parts (``streetName``,
``postalCode``, ``country``…) and ``{method, provider}``. Order snapshots hold addresses too.
Customers keep their keys (``email``, ``firstName``… are the same in both).

The mappings are written out here rather than imported, so this revision keeps meaning what it
meant whatever the application's code becomes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
GLUE_TO_TENDER = {
    "address1": "streetName",
    "address2": "streetNumber",
    "address3": "additionalStreetInfo",
    "zipCode": "postalCode",
    "iso2Code": "country",
}
"""The address parts whose names differ; the others (names, city, phone…) are the same."""
TENDER_TO_GLUE = {tender: glue for glue, tender in GLUE_TO_TENDER.items()}

carts = sa.table(
    "carts",
    sa.column("id", sa.String()),
    sa.column("shipping_address", JSON),
    sa.column("billing_address", JSON),
    sa.column("payment_methods", JSON),
)
orders = sa.table("orders", sa.column("id", sa.String()), sa.column("snapshot", JSON))

Document = dict[str, Any]


def _address(address: Document | None, names: dict[str, str]) -> Document | None:
    if not isinstance(address, dict):
        return address
    return {names.get(key, key): value for key, value in address.items()}


def _to_tender_choices(choices: list[Document] | None) -> list[Document]:
    return [
        {
            "method": c.get("method", c.get("paymentMethodName")),
            "provider": c.get("provider", c.get("paymentProviderName") or "tender"),
        }
        for c in choices or ()
    ]


def _to_glue_choices(choices: list[Document] | None) -> list[Document]:
    return [
        {"paymentMethodName": c.get("method"), "paymentProviderName": c.get("provider")}
        for c in choices or ()
    ]


def _snapshot(snapshot: Document, names: dict[str, str]) -> Document:
    if not isinstance(snapshot, dict):
        return snapshot
    renamed = dict(snapshot)
    for key in ("shippingAddress", "billingAddress"):
        if key in renamed:
            renamed[key] = _address(renamed[key], names)
    return renamed


def _convert(names: dict[str, str], choices: Callable[[list[Document] | None], Any]) -> None:
    conn = op.get_bind()
    columns = (carts.c.id, carts.c.shipping_address, carts.c.billing_address)
    for cart in conn.execute(sa.select(*columns, carts.c.payment_methods)).all():
        conn.execute(
            carts.update()
            .where(carts.c.id == cart.id)
            .values(
                shipping_address=_address(cart.shipping_address, names),
                billing_address=_address(cart.billing_address, names),
                payment_methods=choices(cart.payment_methods),
            )
        )
    for order in conn.execute(sa.select(orders.c.id, orders.c.snapshot)).all():
        conn.execute(
            orders.update()
            .where(orders.c.id == order.id)
            .values(snapshot=_snapshot(order.snapshot, names))
        )


def upgrade() -> None:
    _convert(GLUE_TO_TENDER, _to_tender_choices)


def downgrade() -> None:
    _convert(TENDER_TO_GLUE, _to_glue_choices)
