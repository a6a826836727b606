"""Alembic environment: runs on a connection handed in by ``tender.db.migrate`` (async engines)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from tender.db.models import Base

target_metadata = Base.metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `tender db upgrade`")
run(connection)
