"""Alembic environment for the whitelist database.

xch always hands Alembic an open connection (harness.whitelist.db.upgrade) that already holds the
database's write lock, so two processes opening a fresh database never migrate it twice.
"""

from __future__ import annotations

from alembic import context

from harness.whitelist.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `xch whitelist upgrade` (harness.whitelist.db.upgrade)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
