"""The metrics ETL: take in newly ingested lake files, recompute the touched sessions whole, and
replace the metric partitions atomically (contract §6.5, DESIGN flow 3).

A pass:

1. registers event files that are visible in the lake but were never registered (a crash between
   the writer's rename and its INSERT), once they are older than a grace period;
2. takes in the registered event files no pass has taken yet, in ``seq`` order, at most
   ``METRICS_ETL_BATCH_SIZE`` ingested rows (whole files, at least one);
3. finds the sessions with metric events (text_change, editor_switch, file_save) in those files —
   the *dirty* sessions — and the UTC dates they have events on: the dates in the new files plus
   the dates stored with the session's previous aggregate;
4. re-reads every stored event of the dirty sessions from those date partitions (every visible
   file, so also files registered or written while the pass runs), recomputes their per-day and
   per-session metrics (the one definition, :mod:`devflow.metrics.frames`) — and swaps
   each touched partition whole;
5. records the pass (``etl_runs``) and the files it took in (``etl_files``) in one transaction.

A user's daily figure is the sum of its sessions' day rows, so recomputing a session whole keeps
every other session's rows and the day stays exact — the line-delta baseline, which crosses day
boundaries, only ever looks inside one session. When ``METRICS_LINE_COUNTING`` differs from the
definition of the previous pass (or there was none) the pass recomputes everything.

Watermarks are positions in ingestion order: the sum of ``ingested_rows`` of the files taken in so
far (compaction outputs count 0). Callers hold the single-runner lock (:mod:`devflow.db.locks`).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from devflow.config import Settings
from devflow.kernel import instruments
from devflow.kernel.lazy import np, pa, pc, pl
from devflow.lake.partitions import files_on, partition_date_of, read_partition, replace_partition, scan
from devflow.lake.registry import LakeFile, register_unlisted_files
from devflow.lake.storage import LakeStorage
from devflow.metrics.compute import (
    RAW_COLUMNS,
    SessionMetrics,
    coding_time_schema,
    file_switch_schema,
    quarter_schema,
    session_day_schema,
    session_schema,
)
from devflow.metrics.frames import session_metrics_frames
from devflow.metrics.layout import (
    METRICS_CODING_TIME_DIR,
    METRICS_DAILY_DIR,
    METRICS_FILE_SWITCHES_DIR,
    METRICS_QUARTER_HOURS_DIR,
    METRICS_SESSION_DIR,
    dated_partition,
    session_partition,
    user_bucket,
)
from devflow.metrics.models import EtlFile, EtlRun
from devflow.telemetry import EVENTS_DIR, event_schema

log = logging.getLogger("devflow.metrics.etl")

# An unregistered ingest file younger than this may still be registered by its writer.
ORPHAN_GRACE_SECONDS = 60.0
# Rows per chunk of a full rebuild. Chunking costs a copy of the raw rows, so it only bounds the
# intermediates of very large lakes.
REBUILD_CHUNK_ROWS = 50_000_000
# Partition files read, merged and written at once (their I/O and compression overlap).
PARTITION_THREADS = 4


@dataclass(frozen=True, slots=True)
class EtlEnv:
    """What a pass needs: settings, the database and the lake."""

    settings: Settings
    db: sessionmaker[Session]
    storage: LakeStorage


@dataclass(frozen=True, slots=True)
class PassResult:
    """The outcome of one pass (the four integers of ``POST /metrics/etl/run``, and more)."""

    run_id: int
    processed_count: int
    watermark_before: int
    watermark_after: int
    duration_ms: int
    recomputed_sessions: int
    full: bool
    definition: str


@dataclass(frozen=True, slots=True)
class _PendingFile:
    seq: int
    path: str
    partition_date: str
    ingested_rows: int


def run_pass(
    env: EtlEnv,
    *,
    rebuild: bool = False,
    take_all: bool = False,
    orphan_grace_seconds: float = ORPHAN_GRACE_SECONDS,
) -> PassResult:
    """Run one ETL pass (the caller holds the runner lock). ``rebuild`` recomputes every partition
    from the raw events; ``take_all`` ignores the batch size."""
    started_at = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    definition = env.settings.metrics_line_counting
    # A crash between a writer's rename and its INSERT: count those rows too (once their writer has
    # had time to register them itself).
    register_unlisted_files(
        env.storage, env.db, [EVENTS_DIR], older_than=dt.timedelta(seconds=orphan_grace_seconds)
    )

    with env.db() as session:
        last = session.scalars(
            select(EtlRun).where(EtlRun.finished_at.is_not(None)).order_by(EtlRun.id.desc()).limit(1)
        ).first()
        watermark_before = int(session.scalar(select(func.coalesce(func.sum(EtlFile.ingested_rows), 0))) or 0)
        rows = session.execute(
            select(LakeFile.seq, LakeFile.path, LakeFile.partition_date, LakeFile.ingested_rows)
            .outerjoin(EtlFile, EtlFile.file_seq == LakeFile.seq)
            .where(LakeFile.kind == EVENTS_DIR, EtlFile.file_seq.is_(None))
            .order_by(LakeFile.seq)
        ).all()
    pending = [_PendingFile(int(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]
    taken = _take(pending, None if (take_all or rebuild) else env.settings.metrics_etl_batch_size)

    gap = env.settings.coding_time_gap_minutes
    full = (
        rebuild
        or last is None
        or last.definition != definition
        or not stored_definitions_match(env.storage, definition, gap)
    )
    if full:
        recomputed = recompute_everything(env, definition)
    elif taken:
        recomputed = recompute_sessions_in(env, [f.path for f in taken], definition)
    else:
        recomputed = 0

    processed = sum(f.ingested_rows for f in taken)
    duration_ms = int((time.perf_counter() - t0) * 1000)
    with env.db.begin() as session:
        run = EtlRun(
            started_at=started_at,
            finished_at=dt.datetime.now(dt.UTC),
            last_file_seq=max((f.seq for f in taken), default=last.last_file_seq if last else 0),
            watermark_before=watermark_before,
            watermark_after=watermark_before + processed,
            processed_count=processed,
            duration_ms=duration_ms,
            definition=definition,
        )
        session.add(run)
        session.flush()
        session.add_all(EtlFile(file_seq=f.seq, run_id=run.id, ingested_rows=f.ingested_rows) for f in taken)
        run_id = run.id
    if instruments.enabled():
        instruments.observe_etl_pass(time.perf_counter() - t0, _freshness_lag(env))
    log.info(
        "etl pass %s: %d rows from %d files, %d sessions recomputed%s in %d ms",
        run_id,
        processed,
        len(taken),
        recomputed,
        " (full)" if full else "",
        duration_ms,
    )
    return PassResult(
        run_id=run_id,
        processed_count=processed,
        watermark_before=watermark_before,
        watermark_after=watermark_before + processed,
        duration_ms=duration_ms,
        recomputed_sessions=recomputed,
        full=full,
        definition=definition,
    )


def _freshness_lag(env: EtlEnv) -> float:
    """Seconds since the oldest event file still waiting for the ETL was registered (0: caught up)."""
    with env.db() as session:
        oldest = session.scalar(
            select(func.min(LakeFile.registered_at))
            .outerjoin(EtlFile, EtlFile.file_seq == LakeFile.seq)
            .where(LakeFile.kind == EVENTS_DIR, EtlFile.file_seq.is_(None))
        )
    if oldest is None:
        return 0.0
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=dt.UTC)
    return max(0.0, (dt.datetime.now(dt.UTC) - oldest).total_seconds())


def _take(pending: Sequence[_PendingFile], batch_size: int | None) -> list[_PendingFile]:
    """Whole files in seq order up to ``batch_size`` ingested rows, and always at least one."""
    taken: list[_PendingFile] = []
    total = 0
    for f in pending:
        if batch_size is not None and taken and total + f.ingested_rows > batch_size:
            break
        taken.append(f)
        total += f.ingested_rows
    return taken


# -- reading raw events -------------------------------------------------------------------------


def _scan(
    storage: LakeStorage,
    paths: Sequence[str],
    sessions: Sequence[str] | None = None,
    *,
    columns: Sequence[str] = RAW_COLUMNS,
) -> pl.DataFrame:
    """The events' ``columns`` in the files ``paths`` (optionally only some sessions)."""
    where: dict[str, Sequence[str]] = {}
    if sessions is not None:
        where["session_id"] = list(sessions)
    return scan(storage, paths, event_schema(), columns, where)


def _write_partition(storage: LakeStorage, path: str, table: pa.Table) -> None:
    replace_partition(storage, path, table, row_group_size=64 * 1024)


def _in_parallel(jobs: Iterable[Callable[[], None]]) -> None:
    """Run independent partition jobs on a few threads and wait for all of them (the first error is
    raised). Parquet encoding, compression and fsync release the GIL, so writes overlap."""
    with ThreadPoolExecutor(max_workers=PARTITION_THREADS) as pool:
        for _ in pool.map(lambda job: job(), jobs):
            pass


# -- recomputation --------------------------------------------------------------------------------


def stored_definitions_match(storage: LakeStorage, definition: str, gap_minutes: float) -> bool:
    """Whether every stored session partition was computed with ``definition`` and ``gap_minutes``
    (a partition of an older layout, without those columns, does not match). Sessions whose raw
    events retention dropped keep the figures they were computed with: they are left out, and the
    event files are listed only when a partition does not match as a whole (the rare case)."""
    raw_days: set[str] | None = None
    for f in storage.list_parquet(METRICS_SESSION_DIR):
        try:
            table = storage.read_table(f.path)
        except FileNotFoundError:
            continue
        if _computed_with(table, definition, gap_minutes):
            continue
        raw_days = _raw_days(storage) if raw_days is None else raw_days
        recomputable = table.filter(_on_raw_days(table, raw_days))
        if recomputable.num_rows and not _computed_with(recomputable, definition, gap_minutes):
            return False
    return True


def _computed_with(table: pa.Table, definition: str, gap_minutes: float) -> bool:
    """Whether every row of a session partition records ``definition`` and ``gap_minutes``."""
    if "coding_gap_minutes" not in table.column_names or "definition" not in table.column_names:
        return False
    definitions = set(table["definition"].to_pylist())
    gaps = set(table["coding_gap_minutes"].to_pylist())
    return not (definitions - {definition} or gaps - {float(gap_minutes)})


def _raw_days(storage: LakeStorage) -> set[str]:
    """The UTC dates that still have raw event files."""
    return {partition_date_of(f.path) for f in storage.list_parquet(EVENTS_DIR)}


def _on_raw_days(sessions: pa.Table, raw_days: set[str]) -> pa.Array:
    """Per session row: whether any of its ``dates`` still has raw events (so it can be recomputed)."""
    if "dates" not in sessions.column_names:  # a layout that predates them: recompute the rows
        return pa.array([True] * sessions.num_rows, pa.bool_())
    dates = sessions["dates"].combine_chunks()
    if len(dates) == 0:
        return pa.array([], pa.bool_())
    parents = pc.list_parent_indices(dates).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(dates).cast(pa.string())
    hit = pc.is_in(flat, value_set=pa.array(sorted(raw_days), pa.string())).to_numpy(zero_copy_only=False)
    return pa.array(np.bincount(parents[hit], minlength=len(dates)) > 0)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns: missing ones (an older layout's) as nulls."""
    columns = [
        table[field.name].cast(field.type)
        if field.name in table.column_names
        else pa.nulls(len(table), field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _dated() -> tuple[tuple[str, pa.Schema], ...]:
    """The dated datasets and their schemas."""
    return (
        (METRICS_DAILY_DIR, session_day_schema()),
        (METRICS_FILE_SWITCHES_DIR, file_switch_schema()),
        (METRICS_CODING_TIME_DIR, coding_time_schema()),
        (METRICS_QUARTER_HOURS_DIR, quarter_schema()),
    )


def _dated_tables(metrics: SessionMetrics) -> dict[str, pa.Table]:
    return {
        METRICS_DAILY_DIR: metrics.session_day,
        METRICS_FILE_SWITCHES_DIR: metrics.file_switches,
        METRICS_CODING_TIME_DIR: metrics.coding_time,
        METRICS_QUARTER_HOURS_DIR: metrics.quarter_hours,
    }


def recompute_sessions_in(
    env: EtlEnv, paths: Sequence[str], definition: str, gap_minutes: float | None = None
) -> int:
    """Recompute every session with events in the files ``paths``; return how many."""
    storage = env.storage
    gap = env.settings.coding_time_gap_minutes if gap_minutes is None else gap_minutes
    present = [p for p in paths if storage.exists(p)]  # a superseded file may be gone: its rows
    if not present:  # live on in the compaction output, which is taken in after it
        return 0
    new_rows = _scan(storage, present, columns=("user_id", "session_id", "type", "timestamp"))
    if new_rows.height == 0:
        return 0
    touched = (
        new_rows.group_by("session_id")
        .agg(
            pl.col("user_id").first(),
            dates=pl.col("timestamp").dt.convert_time_zone("UTC").dt.date().unique(),
        )
        .rows()
    )
    dirty: dict[str, str] = {str(sid): str(uid) for sid, uid, _ in touched}
    dates: set[str] = {d.isoformat() for _, _, ds in touched for d in ds}
    buckets = {user_bucket(uid) for uid in dirty.values()}

    # Days the dirty sessions had events or rows on before this pass (stored with their aggregate).
    old_buckets: dict[str, pa.Table] = {}
    dirty_ids = pa.array(sorted(dirty))
    for bucket in buckets:
        table = read_partition(storage, session_partition(bucket), session_schema())
        if table is None:
            continue
        old_buckets[bucket] = table
        mine = table.filter(pc.is_in(table["session_id"], value_set=dirty_ids))
        for day_list in mine["dates"].to_pylist():
            dates.update(d.isoformat() for d in day_list or [])

    raw = _scan(storage, files_on(storage, EVENTS_DIR, dates), sorted(dirty))
    metrics = session_metrics_frames(raw, definition, gap)
    # Coding time may reach into the next day (an interval across midnight).
    for day_list in metrics.sessions["dates"].to_pylist():
        dates.update(d.isoformat() for d in day_list or [])

    # Swap each touched dated partition: other sessions' rows kept, the dirty sessions' replaced.
    def swap_dated(kind: str, schema: pa.Schema, day: str, fresh: pa.Table) -> Callable[[], None]:
        def job() -> None:
            path = dated_partition(kind, day)
            kept = _rows_of_other_sessions(storage, path, dirty_ids, schema)
            # Fresh rows are sorted within their day; only a merge with kept rows needs a sort.
            combined = pa.concat_tables([kept, fresh]).sort_by(_DAY_ORDERS[kind]) if kept.num_rows else fresh
            _write_partition(storage, path, combined)

        return job

    dated_jobs = []
    for kind, schema in _dated():
        fresh_rows = _dated_tables(metrics)[kind]
        new_by_day = _split_sorted(fresh_rows, fresh_rows["date"])
        for day in sorted(dates):
            dated_jobs.append(swap_dated(kind, schema, day, new_by_day.get(day, schema.empty_table())))
    _in_parallel(dated_jobs)

    new_by_bucket = _split_by_bucket(metrics.sessions)

    def swap_sessions(bucket: str) -> Callable[[], None]:
        def job() -> None:
            kept = _without_sessions(old_buckets.get(bucket), dirty_ids, session_schema())
            fresh = new_by_bucket.get(bucket, session_schema().empty_table())
            combined = pa.concat_tables([kept, fresh]).sort_by(_SESSION_ORDER)
            _write_partition(storage, session_partition(bucket), combined)

        return job

    _in_parallel(swap_sessions(bucket) for bucket in sorted(buckets))
    return len(dirty)


def recompute_everything(env: EtlEnv, definition: str, *, chunk_rows: int = REBUILD_CHUNK_ROWS) -> int:
    """Rebuild every metric partition from all raw events; delete partitions left without data.

    The events are processed in chunks of about ``chunk_rows`` rows (whole users each)."""
    storage = env.storage
    paths = [f.path for f in storage.list_parquet(EVENTS_DIR)]
    if not paths:  # no raw events: every stored metric stays as it is (see below)
        return 0
    raw_days = {partition_date_of(p) for p in paths}
    gap = env.settings.coding_time_gap_minutes
    metrics = _in_user_chunks(_scan(storage, paths), definition, gap, chunk_rows)

    # Sessions first: a reader that finds a new session row finds its dated rows soon after, and
    # every file is swapped whole, so a read during a rebuild sees old or new figures, never none.
    # Metrics of days whose raw events retention dropped cannot be recomputed: they stay as stored
    # (their sessions' rows, and the dated partitions of those days).
    by_bucket = _split_by_bucket(metrics.sessions)
    for f in storage.list_parquet(METRICS_SESSION_DIR):
        try:
            old = storage.read_table(f.path)
        except FileNotFoundError:
            continue
        kept = old.filter(pc.invert(_on_raw_days(old, raw_days)))
        bucket = f.path.split("user_bucket=", 1)[1].split("/", 1)[0]
        if kept.num_rows:
            fresh = by_bucket.get(bucket, session_schema().empty_table())
            by_bucket[bucket] = pa.concat_tables([_conform(kept, session_schema()), fresh]).sort_by(
                _SESSION_ORDER
            )
        elif bucket not in by_bucket:
            storage.delete(f.path)
    _in_parallel(
        functools.partial(_write_partition, storage, session_partition(bucket), table)
        for bucket, table in sorted(by_bucket.items())
    )

    for kind, _ in _dated():
        rows = _dated_tables(metrics)[kind]
        by_day = _split_sorted(rows, rows["date"])
        _in_parallel(  # slices already sorted within the day
            functools.partial(_write_partition, storage, dated_partition(kind, day), table)
            for day, table in sorted(by_day.items())
        )
        for f in storage.list_parquet(kind):
            day = partition_date_of(f.path)
            if day not in by_day and day in raw_days:
                storage.delete(f.path)
    return int(metrics.sessions.num_rows)


def _in_user_chunks(raw: pl.DataFrame, definition: str, gap: float, chunk_rows: int) -> SessionMetrics:
    """Compute a big rebuild in chunks of whole users (sessions never span users), then merge."""
    if raw.height <= chunk_rows:
        return session_metrics_frames(raw, definition, gap)
    chunks = max(2, -(-raw.height // chunk_rows))
    key = pl.col("user_id").hash(seed=0) % chunks
    parts = [
        session_metrics_frames(part, definition, gap)
        for part in raw.with_columns(_chunk=key).partition_by(
            "_chunk", maintain_order=False, include_key=False
        )
    ]
    return SessionMetrics(
        session_day=pa.concat_tables([p.session_day for p in parts]).sort_by(
            [("date", "ascending"), *_DAY_ORDERS[METRICS_DAILY_DIR]]
        ),
        sessions=pa.concat_tables([p.sessions for p in parts]).sort_by(_SESSION_ORDER),
        file_switches=pa.concat_tables([p.file_switches for p in parts]).sort_by(
            [("date", "ascending"), *_DAY_ORDERS[METRICS_FILE_SWITCHES_DIR]]
        ),
        coding_time=pa.concat_tables([p.coding_time for p in parts]).sort_by(
            [("date", "ascending"), *_DAY_ORDERS[METRICS_CODING_TIME_DIR]]
        ),
        quarter_hours=pa.concat_tables([p.quarter_hours for p in parts]).sort_by(
            [("date", "ascending"), *_DAY_ORDERS[METRICS_QUARTER_HOURS_DIR]]
        ),
    )


_DAY_ORDERS: dict[str, list[tuple[str, str]]] = {
    METRICS_DAILY_DIR: [("user_id", "ascending"), ("session_id", "ascending")],
    METRICS_FILE_SWITCHES_DIR: [
        ("user_id", "ascending"),
        ("session_id", "ascending"),
        ("bucket_start", "ascending"),
        ("path", "ascending"),
    ],
    METRICS_QUARTER_HOURS_DIR: [
        ("user_id", "ascending"),
        ("session_id", "ascending"),
        ("bucket_start", "ascending"),
    ],
    METRICS_CODING_TIME_DIR: [
        ("user_id", "ascending"),
        ("session_id", "ascending"),
        ("bucket_start", "ascending"),
        ("language", "ascending"),
        ("workspace", "ascending"),
        ("file", "ascending"),
    ],
}
_SESSION_ORDER = [("user_id", "ascending"), ("session_id", "ascending")]


def _rows_of_other_sessions(
    storage: LakeStorage, path: str, session_ids: pa.Array, schema: pa.Schema
) -> pa.Table:
    """The rows of the partition at ``path`` whose session is not in ``session_ids``. Its
    ``session_id`` column is read first: a partition holding only those sessions is not read whole."""
    try:
        ids = storage.read_table(path, columns=["session_id"])["session_id"]
    except FileNotFoundError:
        return schema.empty_table()
    keep = pc.invert(pc.is_in(ids, value_set=session_ids))
    if not pc.any(keep).as_py():
        return schema.empty_table()
    table = read_partition(storage, path, schema)
    return schema.empty_table() if table is None else table.filter(keep)


def _without_sessions(table: pa.Table | None, session_ids: pa.Array, schema: pa.Schema) -> pa.Table:
    if table is None:
        return schema.empty_table()
    return table.filter(pc.invert(pc.is_in(table["session_id"], value_set=session_ids)))


def _split_sorted(table: pa.Table, keys: pa.ChunkedArray) -> dict[str, pa.Table]:
    """Zero-copy slices of ``table`` per run of equal ``keys`` (the table is sorted by them)."""
    if table.num_rows == 0:
        return {}
    runs = pc.run_end_encode(keys.combine_chunks())
    ends = runs.run_ends.to_pylist()
    values = runs.values.to_pylist()
    parts: dict[str, pa.Table] = {}
    start = 0
    for end, value in zip(ends, values, strict=True):
        key = value.isoformat() if isinstance(value, dt.date) else str(value)
        parts[key] = table.slice(start, end - start)
        start = end
    return parts


def _split_by_bucket(table: pa.Table) -> dict[str, pa.Table]:
    """Rows per session bucket (the table is sorted by user id, so buckets are contiguous)."""
    if table.num_rows == 0:
        return {}
    buckets = pc.utf8_lower(pc.utf8_slice_codeunits(table["user_id"], 0, 1))
    return _split_sorted(table, buckets)
