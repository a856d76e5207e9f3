"""The shapes the metric transform (``devflow.metrics.frames``) reads and writes, its definitions'
names, and the per-thread DuckDB connection the metric reads use."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

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
LINE_DEFINITIONS = ("line-delta", "typing-heuristic")  # METRICS_LINE_COUNTING, contract §6.1
SWITCH_DEFINITION = "editor-switch-count"

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
