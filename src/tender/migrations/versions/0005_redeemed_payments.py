"""Payments redeemed through the gift card processor

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 07:00:00.000000

A payment the shopper's page redeemed (``POST /redeem``) was reserved when it was made, for the
amount the page asked for: allocation must leave its amount alone and placing keeps its
reservation. Every payment made before this revision was added through the cart, so none is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "payments",
        sa.Column("redeemed", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # Plain ALTER TABLE DROP COLUMN (SQLite 3.35 and later), no batch copy: payment
    # transactions reference the payments table, and SQLite would refuse to drop it for the
    # copy while they do (as 0006 says of carts).
    op.drop_column("payments", "redeemed")
