"""Shipping method names in other languages

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 09:10:00.000000

A merchant may give a shipping method its name in the languages its shoppers read (``{"de":
"Standardversand"}``); methods made before this revision have their one name only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "shipping_methods",
        sa.Column(
            "names",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("shipping_methods", schema=None) as batch_op:
        batch_op.drop_column("names")
