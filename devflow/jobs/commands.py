"""``devflow worker`` (background jobs without HTTP) and ``devflow etl run|rebuild``."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from devflow.config import Settings
from devflow.http.context import AppContext


@contextmanager
def _context(settings: Settings) -> Iterator[AppContext]:
    from devflow.db.engine import make_engine, make_session_factory
    from devflow.db.migrate import upgrade_with_lock
    from devflow.lake.storage import LakeStorage

    engine = make_engine(settings.database_url)
    upgrade_with_lock(engine)
    ctx = AppContext(settings=settings, engine=engine, db=make_session_factory(engine))
    ctx.extras["lake_storage"] = LakeStorage.from_url(settings.lake_url)
    try:
        yield ctx
    finally:
        engine.dispose()


def _cmd_worker(_: argparse.Namespace, settings: Settings) -> int:
    from devflow.jobs.scheduler import register_jobs, start_scheduler, stop_scheduler

    with _context(settings) as ctx:
        jobs = register_jobs(ctx)
        if not jobs:
            print("devflow worker: no job is enabled")
            return 0
        stop = threading.Event()

        def _stop(*_: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        scheduler = start_scheduler(ctx, jobs)
        try:
            stop.wait()
        finally:
            stop_scheduler(scheduler)
    return 0


def _cmd_etl(args: argparse.Namespace, settings: Settings) -> int:
    from devflow.metrics.service import run_locked_pass

    rebuild = args.etl_command == "rebuild"
    with _context(settings) as ctx:
        while True:
            result = run_locked_pass(ctx, rebuild=rebuild, take_all=rebuild)
            if result is None:
                print("ETL pass already in flight")
                return 1
            print(
                f"processed_count={result.processed_count} watermark_before={result.watermark_before} "
                f"watermark_after={result.watermark_after} duration_ms={result.duration_ms} "
                f"sessions={result.recomputed_sessions} full={result.full} definition={result.definition}"
            )
            if rebuild or result.processed_count == 0:
                return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``worker`` and ``etl`` to the ``devflow`` command."""
    sub.add_parser("worker", help="run the background jobs (ETL, cleanups) without HTTP").set_defaults(
        func=_cmd_worker
    )
    etl = sub.add_parser("etl", help="metrics ETL").add_subparsers(dest="etl_command", required=True)
    etl.add_parser("run", help="run passes until every ingested event is taken in").set_defaults(
        func=_cmd_etl
    )
    etl.add_parser("rebuild", help="recompute every metric partition from the raw events").set_defaults(
        func=_cmd_etl
    )
