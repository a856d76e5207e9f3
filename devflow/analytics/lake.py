"""Analyst access to the lake: a DuckDB connection with named views, and the same as Polars frames.

Views (all read-only; nothing here writes to the lake):

* ``events``           accepted events, each (``session_id``, ``fingerprint``) once
                       (:mod:`devflow.analytics.events_view`), plus the Hive ``date``;
* ``events_all``       every stored row, re-sent duplicates included;
* ``quarantine``       rejected events with their ``reason`` and raw JSON;
* ``metrics_daily``    the ETL's totals per (user, session, UTC ``date``);
* ``metrics_file_switches``  editor switches per (user, session, UTC ``date``, ``path``);
* ``metrics_coding_time``    coding seconds per (user, session, UTC 15-minute ``bucket_start``,
                       language, workspace, file);
* ``metrics_session``  the ETL's rows per session: totals, start, end, duration, active seconds,
                       per-type event counts and the UTC ``dates`` it spans (the layout is the
                       metrics context's, see :mod:`devflow.metrics.layout`);
* ``user_daily``       one row per (user, date): the sums of ``metrics_daily`` plus ``churn_ratio``
                       as the insight rules see it (contract §7.2 step 4).

``connect()`` takes the lake of the current settings (``DEVFLOW_LAKE_URL`` or
``<DEVFLOW_DATA_DIR>/lake``) unless given a path or ``s3://`` URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.dataset as pads

from devflow.analytics.events_view import register_lake_views
from devflow.analytics.events_view import scan_events as _scan_lake_events
from devflow.config import Settings
from devflow.insights import churn_ratio_expr
from devflow.lake.storage import LakeStorage
from devflow.metrics import (
    CODING_TIME_SCHEMA,
    FILE_SWITCH_SCHEMA,
    METRICS_CODING_TIME_DIR,
    METRICS_DAILY_DIR,
    METRICS_FILE_SWITCHES_DIR,
    METRICS_SESSION_DIR,
    SESSION_DAY_SCHEMA,
    SESSION_SCHEMA,
)
from devflow.telemetry import QUARANTINE_DIR, QUARANTINE_SCHEMA

if TYPE_CHECKING:
    import duckdb
    import polars as pl

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
    con: duckdb.DuckDBPyConnection, storage: LakeStorage, kind: str, schema: pa.Schema
) -> str:
    """A FROM-clause over one metrics folder (``*/data.parquet``), or an empty typed table."""
    name = f"__devflow_{kind}_source"
    if not storage.list_parquet(kind):
        con.register(name, pa.Table.from_batches([], schema))
        return name
    if storage.is_local:
        glob = storage.uri(f"{kind}/*/*.parquet").replace("'", "''")
        # The files carry their own columns (``date`` included): the folder names are not read.
        return f"read_parquet('{glob}', hive_partitioning = false, union_by_name = true)"
    con.register(name, pads.dataset(storage.full_path(kind), filesystem=storage.fs, format="parquet"))
    return name


def register_views(con: duckdb.DuckDBPyConnection, storage: LakeStorage) -> None:
    """Create (or refresh) every analyst view on ``con`` over ``storage``."""
    register_lake_views(con, storage)
    for view, kind, schema in (
        ("metrics_daily", METRICS_DAILY_DIR, SESSION_DAY_SCHEMA),
        ("metrics_session", METRICS_SESSION_DIR, SESSION_SCHEMA),
        ("metrics_file_switches", METRICS_FILE_SWITCHES_DIR, FILE_SWITCH_SCHEMA),
        ("metrics_coding_time", METRICS_CODING_TIME_DIR, CODING_TIME_SCHEMA),
    ):
        source = _metrics_source(con, storage, kind, schema)
        con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {source}")  # noqa: S608
    con.execute(f"CREATE OR REPLACE VIEW user_daily AS {USER_DAILY_SQL}")


def connect(lake: LakeRef = None, settings: Settings | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the analyst views over the lake (see the module doc).

    ``lake`` is a local path or an object-store URL; by default the lake of ``settings`` (or of
    the environment). Local views re-read the folders at every query, so new files show up; an
    object-store lake is listed once, when the views are created (call :func:`register_views`
    again to refresh).
    """
    import duckdb

    con = duckdb.connect(config=DUCKDB_CONFIG)
    con.execute("SET TimeZone = 'UTC'")
    register_views(con, lake_storage(lake, settings))
    return con


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
        return _scan_folder(storage, QUARANTINE_DIR, QUARANTINE_SCHEMA, "date=*/*.parquet")
    return pl.scan_parquet(
        storage.uri(f"{QUARANTINE_DIR}/date=*/*.parquet"),
        hive_partitioning=True,
        hive_schema={"date": pl.Date},
    )


def scan_metrics_daily(lake: LakeRef = None, settings: Settings | None = None) -> pl.LazyFrame:
    """The ``metrics_daily`` rows (totals per user, session, date)."""
    return _scan_folder(lake_storage(lake, settings), METRICS_DAILY_DIR, SESSION_DAY_SCHEMA, "*/*.parquet")


def scan_metrics_file_switches(lake: LakeRef = None, settings: Settings | None = None) -> pl.LazyFrame:
    """The ``metrics_file_switches`` rows (switches per user, session, date, path)."""
    return _scan_folder(
        lake_storage(lake, settings), METRICS_FILE_SWITCHES_DIR, FILE_SWITCH_SCHEMA, "*/*.parquet"
    )


def scan_metrics_coding_time(lake: LakeRef = None, settings: Settings | None = None) -> pl.LazyFrame:
    """The ``metrics_coding_time`` rows (seconds per user, session, 15-minute bucket, language,
    workspace, file)."""
    return _scan_folder(
        lake_storage(lake, settings), METRICS_CODING_TIME_DIR, CODING_TIME_SCHEMA, "*/*.parquet"
    )


def scan_metrics_session(lake: LakeRef = None, settings: Settings | None = None) -> pl.LazyFrame:
    """The ``metrics_session`` rows (one per session)."""
    return _scan_folder(lake_storage(lake, settings), METRICS_SESSION_DIR, SESSION_SCHEMA, "*/*.parquet")


def scan_user_daily(lake: LakeRef = None, settings: Settings | None = None) -> pl.LazyFrame:
    """One row per (user, date), like the ``user_daily`` view."""
    import polars as pl

    totals = scan_metrics_daily(lake, settings)
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
