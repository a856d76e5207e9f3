"""Analyst access to the lake: a DuckDB connection with named views, and the same as Polars frames.

Views (all read-only; nothing here writes to the lake; every view and column is described in
:mod:`devflow.analytics.catalog`, as DuckDB comments and by :func:`describe`):

* ``events``           accepted events, each (``session_id``, ``fingerprint``) once
                       (:mod:`devflow.analytics.events_view`), plus the Hive ``date`` and the
                       local-time columns of each user's zone;
* ``users``            the accounts (id, username, time zone, created), read from the database;
* ``sessions``         one row per session: start, end, duration (active minutes when known);
* ``events_all``       every stored row, re-sent duplicates included;
* ``quarantine``       rejected events with their ``reason`` and raw JSON;
* ``metrics_daily``    the ETL's totals per (user, session, UTC ``date``);
* ``metrics_file_switches``  editor switches per (user, session, UTC 15-minute ``bucket_start``,
                       ``path``);
* ``metrics_coding_time``    coding seconds per (user, session, UTC 15-minute ``bucket_start``,
                       language, workspace, file);
* ``metrics_quarter_hours``  the ``metrics_daily`` totals per UTC 15-minute ``bucket_start``
                       (local days of any zone are exact sums of them);
* ``metrics_session``  the ETL's rows per session: totals, start, end, duration, active seconds,
                       per-type event counts and the UTC ``dates`` it spans (the layout is the
                       metrics context's, see :mod:`devflow.metrics.layout`);
* ``user_daily``       one row per (user, date): the sums of ``metrics_daily`` plus ``churn_ratio``
                       as the insight rules see it (contract §7.2 step 4).

``connect()`` takes the lake of the current settings (``DEVFLOW_LAKE_URL`` or
``<DEVFLOW_DATA_DIR>/lake``) unless given a path or ``s3://`` URL.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.dataset as pads
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from devflow.accounts import User
from devflow.analytics.catalog import apply_comments
from devflow.analytics.catalog import describe as _describe
from devflow.analytics.events_view import ZONE_MAP_LIMIT, register_lake_views, with_local_columns
from devflow.analytics.events_view import scan_events as _scan_lake_events
from devflow.config import Settings
from devflow.db.engine import make_engine
from devflow.insights import churn_ratio_expr
from devflow.lake.storage import LakeStorage
from devflow.metrics import (
    METRICS_CODING_TIME_DIR,
    METRICS_DAILY_DIR,
    METRICS_FILE_SWITCHES_DIR,
    METRICS_QUARTER_HOURS_DIR,
    METRICS_SESSION_DIR,
    coding_time_schema,
    file_switch_schema,
    quarter_schema,
    session_day_schema,
    session_schema,
)
from devflow.telemetry import QUARANTINE_DIR, quarantine_schema

if TYPE_CHECKING:
    import duckdb
    import polars as pl

log = logging.getLogger("devflow.analytics")

USERS_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string()),
        pa.field("username", pa.string()),
        pa.field("time_zone", pa.string()),
        pa.field("created_at", pa.timestamp("us", tz="UTC")),
    ]
)

DUCKDB_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    # Extensions cannot be downloaded here; a miss would cost seconds of failed download.
    "autoinstall_known_extensions": "false",
    "autoload_known_extensions": "false",
}

#: Where the lake is: a local path, an object-store URL, an open storage, or None (the settings' lake).
LakeRef = str | Path | LakeStorage | None

USER_DAILY_SQL = """
SELECT
    user_id,
    date,
    CAST(sum(lines_added) AS BIGINT) AS lines_added,
    CAST(sum(lines_deleted) AS BIGINT) AS lines_deleted,
    CAST(sum(switch_count) AS BIGINT) AS switch_count,
    CAST(sum(rapid_switch_count) AS BIGINT) AS rapid_switch_count,
    CAST(sum(activity_count) AS BIGINT) AS activity_count,
    count(DISTINCT session_id) AS sessions,
    CASE WHEN sum(lines_added) > 0
         THEN least(1.0, sum(lines_deleted) / sum(lines_added)) END AS churn_ratio,
    any_value(definition) AS definition
FROM metrics_daily
{totals_only}
GROUP BY user_id, date
"""


def lake_storage(lake: LakeRef = None, settings: Settings | None = None) -> LakeStorage:
    """The lake to read: ``lake`` when given (a path, URL or storage), else the settings' lake."""
    if isinstance(lake, LakeStorage):
        return lake
    if lake is not None:
        return LakeStorage.from_url(str(lake))
    return LakeStorage.from_url((settings or Settings.from_env()).lake_url)


def _metrics_source(
    con: duckdb.DuckDBPyConnection,
    storage: LakeStorage,
    kind: str,
    schema: pa.Schema,
    glob: str = "*/*.parquet",
) -> str:
    """A FROM-clause over one metrics folder (``*/data.parquet``), or an empty typed table."""
    name = f"__devflow_{kind}_source"
    if not storage.list_parquet(kind):
        con.register(name, pa.Table.from_batches([], schema))
        return name
    if storage.is_local:
        pattern = storage.uri(f"{kind}/{glob}").replace("'", "''")
        # The files carry their own columns (``date`` included): the folder names are not read.
        return f"read_parquet('{pattern}', hive_partitioning = false, union_by_name = true)"
    con.register(name, pads.dataset(storage.full_path(kind), filesystem=storage.fs, format="parquet"))
    return name


def load_users(settings: Settings) -> pa.Table:
    """The accounts (``USERS_SCHEMA``) from the settings' database; empty, with a warning, when the
    database cannot be read (no database yet, not migrated, unreachable)."""
    url = settings.database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return pa.Table.from_batches([], USERS_SCHEMA)  # opening would create an empty file
    engine = make_engine(url)
    try:
        with engine.connect() as db:
            rows = db.execute(select(User.id, User.username, User.time_zone, User.created_at)).all()
    except SQLAlchemyError as exc:
        log.warning("analyst views: users not readable from the database (%s)", type(exc).__name__)
        rows = []
    finally:
        engine.dispose()
    return pa.table(
        {
            "user_id": [str(r[0]) for r in rows],
            "username": [r[1] for r in rows],
            "time_zone": [r[2] for r in rows],
            "created_at": [r[3] for r in rows],
        },
        schema=USERS_SCHEMA,
    )


USERS_SQL = """
SELECT user_id, username,
    -- a zone DuckDB does not know would break every local-time column: such rows read as UTC
    CASE WHEN time_zone IN (SELECT name FROM pg_timezone_names()) THEN time_zone END AS time_zone,
    created_at
FROM __devflow_users_source
"""

#: Session bounds from every stored row: min and max are the same with or without re-sent copies.
SESSIONS_FROM_EVENTS_SQL = """
SELECT s.user_id, s.session_id, s.started_at, s.ended_at,
    (epoch_ms(s.ended_at) - epoch_ms(s.started_at)) / 60000.0 AS duration_minutes,
    CAST(NULL AS DOUBLE) AS active_minutes,
    CAST(timezone(coalesce(u.time_zone, 'UTC'), s.started_at) AS DATE) AS local_start_date
FROM (SELECT user_id, session_id, min("timestamp") AS started_at, max("timestamp") AS ended_at
      FROM events_all GROUP BY user_id, session_id) s
LEFT JOIN users u ON u.user_id = s.user_id
"""

#: The metrics' session rows, once they carry the session bounds (metrics layout of issue 13).
SESSIONS_FROM_METRICS_SQL = """
SELECT m.user_id, m.session_id, m.started_at, m.ended_at,
    m.duration_seconds / 60.0 AS duration_minutes,
    m.active_seconds / 60.0 AS active_minutes,
    CAST(timezone(coalesce(u.time_zone, 'UTC'), m.started_at) AS DATE) AS local_start_date
FROM metrics_session m LEFT JOIN users u ON u.user_id = m.user_id
"""


# The views of per-15-minute rows: they get the local-time columns of their bucket_start.
_BUCKETED = ("metrics_coding_time", "metrics_file_switches", "metrics_quarter_hours")


def register_views(
    con: duckdb.DuckDBPyConnection, storage: LakeStorage, users: pa.Table | None = None
) -> None:
    """Create (or refresh) every analyst view on ``con`` over ``storage``; ``users`` is the
    accounts table (:func:`load_users`; empty when None)."""
    con.register(
        "__devflow_users_source", users if users is not None else pa.Table.from_batches([], USERS_SCHEMA)
    )
    con.execute(f"CREATE OR REPLACE VIEW users AS {USERS_SQL}")
    known = con.sql("SELECT user_id, time_zone FROM users WHERE time_zone IS NOT NULL").fetchall()
    zones: dict[str, str] | str = dict(known) if len(known) <= ZONE_MAP_LIMIT else "users"
    register_lake_views(con, storage, zones=zones)
    for view, kind, schema in (
        ("metrics_daily", METRICS_DAILY_DIR, session_day_schema()),
        ("metrics_session", METRICS_SESSION_DIR, session_schema()),
        ("metrics_file_switches", METRICS_FILE_SWITCHES_DIR, file_switch_schema()),
        ("metrics_coding_time", METRICS_CODING_TIME_DIR, coding_time_schema()),
        ("metrics_quarter_hours", METRICS_QUARTER_HOURS_DIR, quarter_schema()),
    ):
        source = _metrics_source(con, storage, kind, schema)
        present = {row[0] for row in con.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()}  # noqa: S608
        if view in _BUCKETED and "bucket_start" in present:
            # Buckets are 15 minutes and every zone offset a multiple of 15 minutes: the local
            # columns of bucket_start are exact for the whole bucket.
            source = f"({with_local_columns(source, 'bucket_start', zones)})"
        con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {source}")  # noqa: S608
    daily_columns = {row[0] for row in con.sql("DESCRIBE metrics_daily").fetchall()}
    # Older lakes mix per-file switch rows (``path`` set) into metrics_daily: totals are path-less.
    totals_only = "WHERE path IS NULL" if "path" in daily_columns else ""
    con.execute(f"CREATE OR REPLACE VIEW user_daily AS {USER_DAILY_SQL.format(totals_only=totals_only)}")
    session_columns = {row[0] for row in con.sql("DESCRIBE metrics_session").fetchall()}
    bounds = {"started_at", "ended_at", "duration_seconds", "active_seconds"} <= session_columns
    # Before the first ETL pass, the raw events give the bounds (without active minutes).
    processed = bounds and bool(storage.list_parquet(METRICS_SESSION_DIR))
    sessions = SESSIONS_FROM_METRICS_SQL if processed else SESSIONS_FROM_EVENTS_SQL
    con.execute(f"CREATE OR REPLACE VIEW sessions AS {sessions}")
    apply_comments(con)


def connect(lake: LakeRef = None, settings: Settings | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the analyst views over the lake (see the module doc).

    ``lake`` is a local path or an object-store URL; by default the lake of ``settings`` (or of
    the environment). The ``users`` view (and so the local-time columns) comes from the database
    of ``settings`` (or of the environment), read once here. Local views re-read the folders at
    every query, so new files show up; an object-store lake is listed once, when the views are
    created (call :func:`register_views` again to refresh).
    """
    import duckdb

    con = duckdb.connect(config=DUCKDB_CONFIG)
    con.execute("SET TimeZone = 'UTC'")
    settings = settings or Settings.from_env()
    register_views(con, lake_storage(lake, settings), load_users(settings))
    return con


def describe(view: str | None = None, lake: LakeRef = None, settings: Settings | None = None) -> pl.DataFrame:
    """The data dictionary: view, column, type and meaning of every analyst view (or of ``view``)."""
    con = connect(lake, settings)
    try:
        return _describe(con, view)
    finally:
        con.close()


# --------------------------------------------------------------------------- Polars


def _scan_folder(storage: LakeStorage, kind: str, schema: pa.Schema, glob: str) -> pl.LazyFrame:
    import polars as pl

    if not storage.list_parquet(kind):
        frame = pl.from_arrow(pa.Table.from_batches([], schema))
        assert isinstance(frame, pl.DataFrame)
        return frame.lazy()
    if storage.is_local:
        return pl.scan_parquet(storage.uri(f"{kind}/{glob}"), hive_partitioning=False)
    return pl.scan_pyarrow_dataset(
        pads.dataset(storage.full_path(kind), filesystem=storage.fs, format="parquet")
    )


def scan_events(
    lake: LakeRef = None,
    settings: Settings | None = None,
    *,
    deduplicate: bool = True,
) -> pl.LazyFrame:
    """The events as a Polars LazyFrame, de-duplicated like the ``events`` view (by default)."""
    return _scan_lake_events(lake_storage(lake, settings), deduplicate=deduplicate)


def scan_quarantine(lake: LakeRef = None, settings: Settings | None = None) -> pl.LazyFrame:
    """The quarantined (rejected) events as a Polars LazyFrame."""
    import polars as pl

    storage = lake_storage(lake, settings)
    if not storage.list_parquet(QUARANTINE_DIR) or not storage.is_local:
        return _scan_folder(storage, QUARANTINE_DIR, quarantine_schema(), "date=*/*.parquet")
    return pl.scan_parquet(
        storage.uri(f"{QUARANTINE_DIR}/date=*/*.parquet"),
        hive_partitioning=True,
        hive_schema={"date": pl.Date},
    )


def scan_metrics_daily(lake: LakeRef = None, settings: Settings | None = None) -> pl.LazyFrame:
    """The ``metrics_daily`` rows (totals per user, session, date)."""
    return _scan_folder(lake_storage(lake, settings), METRICS_DAILY_DIR, session_day_schema(), "*/*.parquet")


def scan_metrics_file_switches(lake: LakeRef = None, settings: Settings | None = None) -> pl.LazyFrame:
    """The ``metrics_file_switches`` rows (switches per user, session, date, path)."""
    return _scan_folder(
        lake_storage(lake, settings), METRICS_FILE_SWITCHES_DIR, file_switch_schema(), "*/*.parquet"
    )


def scan_metrics_coding_time(lake: LakeRef = None, settings: Settings | None = None) -> pl.LazyFrame:
    """The ``metrics_coding_time`` rows (seconds per user, session, 15-minute bucket, language,
    workspace, file)."""
    return _scan_folder(
        lake_storage(lake, settings), METRICS_CODING_TIME_DIR, coding_time_schema(), "*/*.parquet"
    )


def scan_metrics_quarter_hours(lake: LakeRef = None, settings: Settings | None = None) -> pl.LazyFrame:
    """The ``metrics_quarter_hours`` rows (totals per user, session, 15-minute bucket)."""
    return _scan_folder(
        lake_storage(lake, settings), METRICS_QUARTER_HOURS_DIR, quarter_schema(), "*/*.parquet"
    )


def scan_metrics_session(lake: LakeRef = None, settings: Settings | None = None) -> pl.LazyFrame:
    """The ``metrics_session`` rows (one per session)."""
    return _scan_folder(lake_storage(lake, settings), METRICS_SESSION_DIR, session_schema(), "*/*.parquet")


def scan_user_daily(lake: LakeRef = None, settings: Settings | None = None) -> pl.LazyFrame:
    """One row per (user, date), like the ``user_daily`` view."""
    import polars as pl

    daily = scan_metrics_daily(lake, settings)
    has_path = "path" in daily.collect_schema().names()
    totals = daily.filter(pl.col("path").is_null()) if has_path else daily
    return (
        totals.group_by("user_id", "date")
        .agg(
            pl.col("lines_added").sum(),
            pl.col("lines_deleted").sum(),
            pl.col("switch_count").sum(),
            pl.col("rapid_switch_count").sum(),
            pl.col("activity_count").sum(),
            pl.col("session_id").n_unique().alias("sessions"),
            pl.col("definition").first(),
        )
        .with_columns(churn_ratio_expr().alias("churn_ratio"))
        .sort("user_id", "date")
    )
