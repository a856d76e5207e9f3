"""Programmatic Alembic: upgrade to head and report the current revision."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData, text

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The advisory lock replicas starting together take around the upgrade (the same key in every release).
_MIGRATION_LOCK = 7262911


def alembic_config(engine: Engine, target_metadata: MetaData | None = None) -> Config:
    """Alembic configured for ``engine``; ``target_metadata`` (every model) only for autogenerate."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    cfg.attributes["target_metadata"] = target_metadata
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every pending migration (never drops data). Alembic's per-revision INFO lines are
    kept out of the output unless the log level asks for debug."""
    alembic_log = logging.getLogger("alembic")
    previous = alembic_log.level
    if not alembic_log.isEnabledFor(logging.DEBUG):
        alembic_log.setLevel(logging.WARNING)
    try:
        command.upgrade(alembic_config(engine), revision)
    finally:
        alembic_log.setLevel(previous)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_with_lock(engine: Engine) -> None:
    """Upgrade; on PostgreSQL under an advisory lock so replicas starting together never race."""
    if engine.dialect.name != "postgresql":
        upgrade(engine)
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK})
        try:
            upgrade(engine)
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK})
            conn.commit()
