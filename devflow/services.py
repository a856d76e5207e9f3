"""The composition root: every long-lived object of a process, built once from ``Settings``.

The app's lifespan, every CLI command and the scheduler's jobs use the same :func:`build_services`;
handlers receive its fields by Litestar dependency injection. Building performs no I/O; :func:`start`
(replaying spools left by a crash) and :func:`close` do.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from devflow.accounts import Accounts, erased_user_ids
from devflow.config import Settings
from devflow.db.engine import make_engine, make_session_factory
from devflow.insights import Insights, LakeTodayMetrics
from devflow.kernel.clock import Clock, utc_now
from devflow.lake.spool.writer import LakeWriter
from devflow.lake.storage import LakeStorage
from devflow.metrics import Metrics
from devflow.telemetry import TELEMETRY_TABLES, Telemetry, path_hash_key


@dataclass(frozen=True, slots=True)
class Services:
    """What one process of devflow runs on."""

    settings: Settings
    clock: Clock
    engine: Engine
    db: sessionmaker[Session]
    lake: LakeStorage
    writer: LakeWriter | None  # only in processes that take telemetry
    accounts: Accounts
    telemetry: Telemetry
    metrics: Metrics
    insights: Insights


def build_services(settings: Settings, *, clock: Clock = utc_now, with_writer: bool = False) -> Services:
    """Every context's objects for ``settings``; ``with_writer`` adds this process's lake writer."""
    engine = make_engine(settings.database_url, settings.database_pool_size)
    db = make_session_factory(engine)
    lake = LakeStorage.from_url(settings.lake_url)
    writer = (
        LakeWriter(
            lake,
            db,
            settings.data_dir / "spool",
            TELEMETRY_TABLES,
            flush_interval_seconds=settings.lake_flush_interval_seconds,
            flush_max_bytes=settings.lake_flush_max_bytes,
            erased=lambda: erased_user_ids(db),
        )
        if with_writer
        else None
    )
    metrics = Metrics.build(settings, engine, db, lake, writer)
    return Services(
        settings=settings,
        clock=clock,
        engine=engine,
        db=db,
        lake=lake,
        writer=writer,
        accounts=Accounts.build(settings, engine, db, clock),
        telemetry=Telemetry(
            db,
            writer,
            clock,
            path_privacy=settings.path_privacy,
            hash_key=path_hash_key(settings.jwt_secret),
        ),
        metrics=metrics,
        insights=Insights.build(settings, engine, db, LakeTodayMetrics(metrics), clock),
    )


def start(services: Services) -> None:
    """Start the lake writer (replays spools left by crashed processes). Blocking."""
    if services.writer is not None:
        services.writer.start()


def close(services: Services) -> None:
    """Flush the lake writer, close the model client and the database pool. Blocking."""
    try:
        if services.writer is not None:
            services.writer.stop()
    finally:
        services.insights.generator.close()
        services.engine.dispose()
