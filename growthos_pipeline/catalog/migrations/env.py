"""Alembic environment: runs on the connection that :class:`Catalog` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from growthos_pipeline.catalog.tables import metadata

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # `alembic` on the command line: use sqlalchemy.url
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
