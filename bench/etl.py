"""ETL benchmark: synthetic events straight into a lake, then a full rebuild and a one-day recompute.

    .venv/bin/python bench/etl.py --events 10000000 --users 400 --days 20

Targets (issue 5): full rebuild ≥ 1,000,000 events/s for 10 M events; recomputing one day holding
500,000 events in < 1 s. Prints its figures; the machine is shared, so they are noisy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from devflow.config import Settings
from devflow.db.engine import make_engine, make_session_factory
from devflow.db.migrate import upgrade
from devflow.lake.files import write_event_files
from devflow.lake.schema import EVENTS_DIR
from devflow.lake.storage import LakeStorage
from devflow.metrics.etl import EtlEnv, recompute_sessions_in, run_pass
from devflow.metrics.synthetic import synthetic_events

CHUNK = 1_000_000


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

    t0 = time.perf_counter()
    result = run_pass(env, rebuild=True)
    elapsed = time.perf_counter() - t0
    print(
        f"full rebuild: {written:,} events in {elapsed:.2f} s = {written / elapsed:,.0f} events/s "
        f"({result.recomputed_sessions:,} sessions; target >= 1,000,000 events/s)"
    )

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
        f"best {min(timings):.3f} s, worst {max(timings):.3f} s (target < 1 s)"
    )
    engine.dispose()
    if args.dir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
