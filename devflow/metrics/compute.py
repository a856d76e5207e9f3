"""Pure transforms: raw lake events in, per-(session, day) and per-session metric rows out.

Everything here is a function of its input relation (no I/O); the ETL feeds it the raw events of
the sessions it recomputes and stores the result. The SQL lives in ``sql/metrics/``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from devflow.metrics.sql import lines_sql, sql_text

if TYPE_CHECKING:
    import duckdb

# Raw columns the metrics need (projection pushed down to the Parquet scan).
RAW_COLUMNS = (
    "user_id",
    "session_id",
    "type",
    "timestamp",
    "received_at",
    "batch_id",
    "batch_index",
    "fingerprint",
    "file_path",
    "file_absolute_path",
    "file_lines",
    "characters_added",
    "characters_deleted",
    "affected_line_ranges",
    "to_file",
    "is_rapid_context_switching",
)
METRIC_TYPES = ("text_change", "editor_switch", "file_save")

SESSION_DAY_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string()),
        pa.field("session_id", pa.string()),
        pa.field("date", pa.date32()),
        pa.field("path", pa.string()),
        pa.field("lines_added", pa.int64()),
        pa.field("lines_deleted", pa.int64()),
        pa.field("switch_count", pa.int64()),
        pa.field("rapid_switch_count", pa.int64()),
        pa.field("activity_count", pa.int64()),
        pa.field("definition", pa.string()),
    ]
)
SESSION_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string()),
        pa.field("session_id", pa.string()),
        pa.field("lines_added", pa.int64()),
        pa.field("lines_deleted", pa.int64()),
        pa.field("switch_count", pa.int64()),
        pa.field("rapid_switch_count", pa.int64()),
        pa.field("activity_count", pa.int64()),
        pa.field("dates", pa.list_(pa.date32())),
        pa.field("definition", pa.string()),
    ]
)

_DUCKDB_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": "false",
    "autoload_known_extensions": "false",
}
_local = threading.local()


def duckdb_connection() -> duckdb.DuckDBPyConnection:
    """This thread's in-memory DuckDB connection (DuckDB 2.0: one connection/cursor per thread)."""
    con: duckdb.DuckDBPyConnection | None = getattr(_local, "con", None)
    if con is None:
        import duckdb

        con = duckdb.connect(config=_DUCKDB_CONFIG)
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET produce_arrow_string_view = true")
        _local.con = con
    return con


@dataclass(frozen=True, slots=True)
class SessionMetrics:
    """The recomputed metrics of a set of sessions."""

    session_day: pa.Table  # SESSION_DAY_SCHEMA: rows of the metrics_daily partitions
    sessions: pa.Table  # SESSION_SCHEMA: rows of the metrics_session partitions


def compute_session_metrics(
    con: duckdb.DuckDBPyConnection, raw_events: object, definition: str
) -> SessionMetrics:
    """Recompute, whole, the metrics of every session present in ``raw_events``.

    ``raw_events`` is anything DuckDB scans (an Arrow table, dataset or record-batch reader) with the
    :data:`RAW_COLUMNS`; it must hold *all* stored events of those sessions (duplicates allowed).
    """
    con.register("raw_events", raw_events)
    try:
        # Intermediate results stay Arrow tables (string views): cheaper than DuckDB temp tables.
        events = con.sql(sql_text("01_events_dedup")).to_arrow_table()
        con.unregister("raw_events")
        con.register("events_dedup", events)
        con.execute(f"CREATE OR REPLACE TEMP VIEW event_lines AS {lines_sql(definition)}")
        day_rows = con.sql(sql_text("03_session_day")).to_arrow_table()
        con.register("session_day", day_rows)
        session_day = con.sql(
            "SELECT *, $definition AS definition FROM session_day ORDER BY date, user_id, session_id, path",
            params={"definition": definition},
        ).to_arrow_table()
        sessions = con.sql(
            f"SELECT *, $definition AS definition FROM ({sql_text('04_session_totals')}) "  # noqa: S608
            "ORDER BY user_id, session_id",
            params={"definition": definition},
        ).to_arrow_table()
    finally:
        con.execute("DROP VIEW IF EXISTS event_lines")
        for name in ("raw_events", "events_dedup", "session_day"):
            con.unregister(name)
    return SessionMetrics(
        session_day=session_day.cast(SESSION_DAY_SCHEMA), sessions=sessions.cast(SESSION_SCHEMA)
    )
