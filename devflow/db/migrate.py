"""Programmatic Alembic: upgrade to head and report the current revision."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every pending migration (never drops data)."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_with_lock(engine: Engine) -> None:
    """Upgrade; on PostgreSQL under an advisory lock so replicas starting together never race."""
    if engine.dialect.name != "postgresql":
        upgrade(engine)
        return
    from sqlalchemy import text

    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(7262911)"))
        try:
            upgrade(engine)
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(7262911)"))
            conn.commit()
