"""``devflow worker`` (background jobs without HTTP), ``devflow etl run|rebuild``, ``devflow insights run``
and ``devflow lake compact``."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from datetime import date
from typing import Any

from devflow.cli.common import command_services, spinner
from devflow.cli.rights import add_retain_command
from devflow.config import Settings


def _cmd_worker(_: argparse.Namespace, settings: Settings) -> int:
    from devflow.jobs import enabled_jobs, start_scheduler, stop_scheduler

    with command_services(settings) as services:
        jobs = enabled_jobs(services)
        if not jobs:
            print("devflow worker: no job is enabled")
            return 0
        stop = threading.Event()

        def _stop(*_: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        scheduler = start_scheduler(services, jobs)
        try:
            stop.wait()
        finally:
            stop_scheduler(scheduler)
    return 0


def _cmd_etl(args: argparse.Namespace, settings: Settings) -> int:
    rebuild = args.etl_command == "rebuild"
    # A command takes everything ingested so far in one pass (after `devflow generate`, say); the
    # scheduler's passes keep METRICS_ETL_BATCH_SIZE, which bounds a tick's latency.
    with command_services(settings) as services:
        with spinner("rebuilding metrics" if rebuild else "ETL pass"):
            result = services.metrics.run_locked_pass(rebuild=rebuild, take_all=True)
        if result is None:
            print("ETL pass already in flight")
            return 1
        print(
            f"processed_count={result.processed_count} watermark_before={result.watermark_before} "
            f"watermark_after={result.watermark_after} duration_ms={result.duration_ms} "
            f"sessions={result.recomputed_sessions} full={result.full} definition={result.definition}"
        )
    return 0


def _cmd_insights_run(_: argparse.Namespace, settings: Settings) -> int:
    from devflow.db.locks import try_runner_lock
    from devflow.insights import run_insights
    from devflow.jobs import INSIGHT_CHECK_LOCK

    with command_services(settings) as services:
        with try_runner_lock(services.engine, settings.data_dir, INSIGHT_CHECK_LOCK) as held:
            if not held:
                print("insight pass already in flight")
                return 1
            summary = run_insights(services.insights)
    print(json.dumps(summary.as_dict(), sort_keys=True))
    return 0


def _cmd_compact(args: argparse.Namespace, settings: Settings) -> int:
    from devflow.db.locks import try_runner_lock
    from devflow.lake.compaction import compact_closed_partitions, compact_partition
    from devflow.metrics import ETL_LOCK
    from devflow.telemetry import TELEMETRY_TABLES

    # Under the lock the ETL and account deletion's lake step hold: a compaction that read a file
    # before a deletion rewrote it would otherwise write the erased rows back.
    with (
        command_services(settings) as services,
        try_runner_lock(services.engine, settings.data_dir, ETL_LOCK) as held,
    ):
        if not held:
            print("the lake is busy (a metrics ETL pass or an account deletion is running); try again later")
            return 1
        if args.date:
            day = date.fromisoformat(args.date).isoformat()
            results = [
                r
                for spec in TELEMETRY_TABLES
                if (r := compact_partition(services.lake, services.db, spec, day)) is not None
            ]
        else:
            results = compact_closed_partitions(services.lake, services.db, TELEMETRY_TABLES)
    for result in results:
        where = f"{result.kind} {result.partition_date}"
        print(f"{where}: {result.inputs} files -> {result.output} ({result.rows} rows)")
    print(f"compacted {len(results)} partition(s)")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``worker``, ``etl``, ``insights`` and ``lake`` to the ``devflow`` command."""
    sub.add_parser("worker", help="run the background jobs (ETL, cleanups) without HTTP").set_defaults(
        func=_cmd_worker
    )
    etl = sub.add_parser("etl", help="metrics ETL").add_subparsers(dest="etl_command", required=True)
    etl.add_parser("run", help="one pass taking in every event ingested so far").set_defaults(func=_cmd_etl)
    etl.add_parser("rebuild", help="recompute every metric partition from the raw events").set_defaults(
        func=_cmd_etl
    )
    insights = sub.add_parser("insights", help="insight pipeline").add_subparsers(
        dest="insights_command", required=True
    )
    insights.add_parser(
        "run", help="evaluate every recently active user once (real mode), print a JSON summary"
    ).set_defaults(func=_cmd_insights_run)
    lake = sub.add_parser("lake", help="event lake maintenance").add_subparsers(
        dest="lake_command", required=True
    )
    compact = lake.add_parser(
        "compact", help="compact closed partitions (before today, UTC) into large files"
    )
    compact.add_argument("--date", help="compact only this UTC date (YYYY-MM-DD), even if it is today")
    compact.set_defaults(func=_cmd_compact)
    add_retain_command(lake)
