"""Alembic environment: the engine (and, for autogenerate, every model's metadata) come from
devflow (``alembic_config``), never from alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

config = context.config
engine: Engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=config.attributes.get("target_metadata"),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
