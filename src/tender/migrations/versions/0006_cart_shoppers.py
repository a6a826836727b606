"""Carts know their guest or customer

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 09:30:00.000000

A Spryker Glue guest reaches the carts of its anonymous id, a customer the carts of its identity
provider's ``sub``. The anonymous id is the guest's only secret: the cart keeps a keyed hash of
it and its last four characters (to show it masked), never the id. Carts made before this
revision belong to no guest or customer.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN (no batch copy): the carts table is referenced by orders,
    # payments and sessions, and SQLite would refuse to drop it while rows point at it.
    op.add_column("carts", sa.Column("anonymous_id_hash", sa.LargeBinary(length=32), nullable=True))
    op.add_column("carts", sa.Column("anonymous_id_last4", sa.String(length=4), nullable=True))
    op.add_column("carts", sa.Column("customer_id", sa.String(length=100), nullable=True))
    op.create_index(
        op.f("ix_carts_anonymous_id_hash"), "carts", ["anonymous_id_hash"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_carts_anonymous_id_hash"), table_name="carts")
    op.drop_column("carts", "customer_id")
    op.drop_column("carts", "anonymous_id_last4")
    op.drop_column("carts", "anonymous_id_hash")
