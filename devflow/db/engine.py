"""Engine and session factory for the relational store (PostgreSQL or embedded SQLite)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

_READ_ONLY = "devflow_read_only"


def read_only_connection(engine: Engine) -> Connection:
    """A connection for one read statement on a hot path. On SQLite it takes no write lock: every
    other transaction begins ``IMMEDIATE`` (see :func:`make_engine`), and concurrent reads that queue
    on the write lock wait in SQLite's sleeping busy handler, seconds under contention. Use it as a
    context manager; never write through it."""
    return engine.connect().execution_options(**{_READ_ONLY: True})


def make_engine(database_url: str, pool_size: int | None = None, **kwargs: Any) -> Engine:
    """Create the engine (``pool_size``: a fixed number of pooled connections, no overflow; PostgreSQL).

    On SQLite: WAL, foreign keys, and ``BEGIN IMMEDIATE`` for every transaction.

    ``BEGIN IMMEDIATE`` takes the write lock up front, so two concurrent transactions queue on the
    busy timeout instead of failing with SQLITE_BUSY when a reader upgrades to a writer.
    """
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None},
            pool_size=8,
            max_overflow=16,
            hide_parameters=True,  # bound values (hashes, emails, token plaintext) never reach logs
            **kwargs,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            if conn.get_execution_options().get(_READ_ONLY):
                return  # one SELECT in the driver's autocommit mode: a WAL snapshot, no write lock
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(
        url,
        pool_size=pool_size or 10,
        max_overflow=0 if pool_size else 20,
        pool_pre_ping=True,
        pool_timeout=10,
        hide_parameters=True,
        **kwargs,
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (they are handed to other threads)."""
    return sessionmaker(engine, expire_on_commit=False)
