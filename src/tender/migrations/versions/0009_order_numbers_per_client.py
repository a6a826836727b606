"""Order numbers are unique per API client

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 11:00:00.000000

An order's reference and a session's ``futureOrderNumber`` were unique across every API client:
one client could learn whether another had used a number (its own was refused) and take a
number another was about to use. Each client now numbers its own orders, as each owns its own
carts. Every row already unique stays unique under the narrower constraint. On SQLite the two
tables are copied (SQLite cannot drop a constraint); nothing references them.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch_op:
        batch_op.drop_constraint("uq_orders_reference", type_="unique")
        batch_op.create_unique_constraint("uq_orders_reference_owner", ["reference", "owner"])
    with op.batch_alter_table("sessions") as batch_op:
        batch_op.drop_constraint("uq_sessions_future_order_number", type_="unique")
        batch_op.create_unique_constraint(
            "uq_sessions_future_order_number_owner", ["future_order_number", "owner"]
        )


def downgrade() -> None:
    """Fails if two clients have used one number since: which of them keeps it is not the
    migration's to decide."""
    with op.batch_alter_table("sessions") as batch_op:
        batch_op.drop_constraint("uq_sessions_future_order_number_owner", type_="unique")
        batch_op.create_unique_constraint(
            "uq_sessions_future_order_number", ["future_order_number"]
        )
    with op.batch_alter_table("orders") as batch_op:
        batch_op.drop_constraint("uq_orders_reference_owner", type_="unique")
        batch_op.create_unique_constraint("uq_orders_reference", ["reference"])
