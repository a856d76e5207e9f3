"""ETL benchmark: synthetic events straight into a lake, then a full rebuild and a one-day recompute.

    .venv/bin/python bench/etl.py --events 10000000 --users 400 --days 20   (--events 2000000: quick)

The rebuild is compared with a reference measured in the same run: a bare DuckDB aggregate over the
same event files (``SELECT user_id, session_id, date, count(*) FROM read_parquet('<lake>/events/
date=*/*.parquet', hive_partitioning=true) GROUP BY ALL``, fully materialised, DuckDB's default
threads), timed best-of-3 right before and right after the rebuild. ``rebuild / bare DuckDB`` is the
rebuild's rate (events/s) as a fraction of the aggregate's (the best of the six): machines are shared
and vary 2-3x, the ratio is the figure to compare across runs.

Targets (issue 15), printed with their figures: full rebuild ≥ 0.5× the bare DuckDB aggregate's
rate; recomputing one day (500,000 events with the defaults) ≤ 0.3 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import duckdb
from bulk_events import synthetic_events, write_event_files

from devflow.config import Settings
from devflow.db.engine import make_engine, make_session_factory
from devflow.db.migrate import upgrade
from devflow.lake.storage import LakeStorage
from devflow.metrics.etl import EtlEnv, recompute_sessions_in, run_pass
from devflow.telemetry import EVENTS_DIR

CHUNK = 1_000_000
BARE_SQL = (
    "SELECT user_id, session_id, date, count(*) FROM read_parquet('{glob}', hive_partitioning=true) "
    "GROUP BY ALL"
)


def bare_aggregate(lake_root: str) -> tuple[float, int, int, int]:
    """Best-of-3 seconds of the bare DuckDB aggregate (a new default connection each time), with its
    row count, the events it counted and DuckDB's thread count."""
    sql = BARE_SQL.format(glob=f"{lake_root}/{EVENTS_DIR}/date=*/*.parquet")
    timings = []
    rows: list[tuple[object, ...]] = []
    threads = 0
    for _ in range(3):
        t0 = time.perf_counter()
        with duckdb.connect() as con:
            rows = con.execute(sql).fetchall()
            timings.append(time.perf_counter() - t0)
            threads = int(con.execute("SELECT current_setting('threads')").fetchall()[0][0])
    return min(timings), len(rows), sum(int(str(row[3])) for row in rows), threads


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument(
        "--dir", type=Path, default=None, help="work directory (default: a temp dir, removed)"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --dir: time the lake already generated there instead of adding events",
    )
    args = parser.parse_args()

    work = args.dir or Path(tempfile.mkdtemp(prefix="devflow-bench-etl-"))
    settings = Settings.from_env(
        {"DEVFLOW_DATA_DIR": str(work), "JWT_SECRET": "bench", "METRICS_ETL_ENABLED": "false"}
    )
    engine = make_engine(settings.database_url)
    upgrade(engine)
    db = make_session_factory(engine)
    storage = LakeStorage.from_url(settings.lake_url)
    env = EtlEnv(settings=settings, db=db, storage=storage)
    users = [str(uuid.uuid4()) for _ in range(args.users)]
    start = dt.date(2026, 4, 1)

    t0 = time.perf_counter()
    written = 0
    seed = 0
    if args.reuse and args.dir is not None:
        written = sum(storage.row_count(f.path) for f in storage.list_parquet(EVENTS_DIR))
        start = dt.date.fromisoformat(storage.list_partitions(EVENTS_DIR)[0])
        args.days = len(storage.list_partitions(EVENTS_DIR))
    while written < args.events:
        n = min(CHUNK, args.events - written)
        write_event_files(
            storage, db, synthetic_events(n, user_ids=users, start=start, days=args.days, seed=seed)
        )
        written += n
        seed += 1
    print(
        f"{'reused' if args.reuse else 'generated'} {written:,} events "
        f"({args.users} users, {args.days} days) "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    print(f"lake: {storage.root}")

    bare_before, groups, counted, threads = bare_aggregate(storage.root)
    t0 = time.perf_counter()
    result = run_pass(env, rebuild=True)
    elapsed = time.perf_counter() - t0
    bare_after, _, _, _ = bare_aggregate(storage.root)
    bare = min(bare_before, bare_after)
    print(
        f"full rebuild: {written:,} events in {elapsed:.2f} s = {written / elapsed:,.0f} events/s "
        f"({result.recomputed_sessions:,} sessions)"
    )
    print(
        f"bare DuckDB aggregate ({groups:,} groups, {counted:,} events counted; duckdb {duckdb.__version__}, "
        f"{threads} threads), best of 3: before the rebuild {bare_before:.3f} s = "
        f"{counted / bare_before:,.0f} events/s, after it {bare_after:.3f} s = "
        f"{counted / bare_after:,.0f} events/s"
    )
    ratio = (written / elapsed) / (counted / bare)
    print(f"rebuild / bare DuckDB: {ratio:.3f} (target >= 0.5: {'met' if ratio >= 0.5 else 'NOT MET'})")

    day = (start + dt.timedelta(days=args.days // 2)).isoformat()
    files = [f.path for f in storage.list_parquet(f"{EVENTS_DIR}/date={day}")]
    day_rows = sum(storage.row_count(p) for p in files)
    timings = []
    for _ in range(3):
        t0 = time.perf_counter()
        sessions = recompute_sessions_in(env, files, settings.metrics_line_counting)
        timings.append(time.perf_counter() - t0)
    print(
        f"one-day recompute ({day}: {day_rows:,} events, {sessions:,} sessions): "
        f"best {min(timings):.3f} s, worst {max(timings):.3f} s "
        f"(target <= 0.3 s: {'met' if min(timings) <= 0.3 else 'NOT MET'})"
    )
    engine.dispose()
    if args.dir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
