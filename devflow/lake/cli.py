"""``devflow lake …`` commands: ``compact`` merges the files of closed partitions."""

from __future__ import annotations

import argparse
from datetime import date

from devflow.config import Settings


def _cmd_compact(args: argparse.Namespace, settings: Settings) -> int:
    from devflow.db.engine import make_engine, make_session_factory
    from devflow.lake.compact import compact_closed_partitions, compact_partition
    from devflow.lake.schema import EVENTS_DIR, QUARANTINE_DIR
    from devflow.lake.storage import LakeStorage

    storage = LakeStorage.from_url(settings.lake_url)
    engine = make_engine(settings.database_url)
    db = make_session_factory(engine)
    try:
        if args.date:
            day = date.fromisoformat(args.date).isoformat()
            results = [
                r for kind in (EVENTS_DIR, QUARANTINE_DIR) if (r := compact_partition(storage, db, kind, day))
            ]
        else:
            results = compact_closed_partitions(storage, db)
    finally:
        engine.dispose()
    for result in results:
        where = f"{result.kind} {result.partition_date}"
        print(f"{where}: {result.inputs} files -> {result.output} ({result.rows} rows)")
    print(f"compacted {len(results)} partition(s)")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``devflow lake compact [--date YYYY-MM-DD]``."""
    lake = sub.add_parser("lake", help="event lake maintenance").add_subparsers(
        dest="lake_command", required=True
    )
    compact = lake.add_parser(
        "compact", help="compact closed partitions (before today, UTC) into large files"
    )
    compact.add_argument("--date", help="compact only this UTC date (YYYY-MM-DD), even if it is today")
    compact.set_defaults(func=_cmd_compact)
