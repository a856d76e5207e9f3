"""The shapes the metric transform (``devflow.metrics.frames``) reads and writes, its definitions'
names, and the per-thread DuckDB connection the metric reads use."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from devflow.kernel.lazy import lazy_module
from devflow.telemetry import EVENT_TYPES

if TYPE_CHECKING:
    import pyarrow as pa
else:
    pa = lazy_module("pyarrow")


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
    "workspace",
    "file_language",
    "file_workspace",
    "to_language",
)
METRIC_TYPES = ("text_change", "editor_switch", "file_save")
LINE_DEFINITIONS = ("line-delta", "typing-heuristic")  # METRICS_LINE_COUNTING, contract §6.1
SWITCH_DEFINITION = "editor-switch-count"
DEFAULT_CODING_GAP_MINUTES = 10.0  # CODING_TIME_GAP_MINUTES, the convention of wakapi and WakaTime
BUCKET_SECONDS = 15 * 60  # coding-time bucket: every IANA offset is a multiple of it


@functools.cache
def session_day_schema() -> pa.Schema:
    """Per (session, UTC day) figures: the rows of metrics_daily."""
    return pa.schema(
        [
            pa.field("user_id", pa.string()),
            pa.field("session_id", pa.string()),
            pa.field("date", pa.date32()),
            pa.field("lines_added", pa.int64()),
            pa.field("lines_deleted", pa.int64()),
            pa.field("switch_count", pa.int64()),
            pa.field("rapid_switch_count", pa.int64()),
            pa.field("activity_count", pa.int64()),
            pa.field("definition", pa.string()),
        ]
    )


@functools.cache
def quarter_schema() -> pa.Schema:
    """The metrics_daily figures per UTC 15-minute bucket: a day in any zone is an exact sum of them."""
    return pa.schema(
        [
            pa.field("user_id", pa.string()),
            pa.field("session_id", pa.string()),
            pa.field("date", pa.date32()),
            pa.field("bucket_start", pa.timestamp("us", tz="UTC")),
            pa.field("lines_added", pa.int64()),
            pa.field("lines_deleted", pa.int64()),
            pa.field("switch_count", pa.int64()),
            pa.field("rapid_switch_count", pa.int64()),
            pa.field("activity_count", pa.int64()),
            pa.field("definition", pa.string()),
        ]
    )


@functools.cache
def file_switch_schema() -> pa.Schema:
    """Switches to each file per (session, UTC 15-minute bucket): metrics_file_switches."""
    return pa.schema(
        [
            pa.field("user_id", pa.string()),
            pa.field("session_id", pa.string()),
            pa.field("date", pa.date32()),
            pa.field("bucket_start", pa.timestamp("us", tz="UTC")),  # UTC 15-minute bucket
            pa.field("path", pa.string()),
            pa.field("switch_count", pa.int64()),
            pa.field("definition", pa.string()),
        ]
    )


@functools.cache
def session_schema() -> pa.Schema:
    """One row per session: figures, facts and the definitions they were computed with."""
    return pa.schema(
        [
            pa.field("user_id", pa.string()),
            pa.field("session_id", pa.string()),
            pa.field("lines_added", pa.int64()),
            pa.field("lines_deleted", pa.int64()),
            pa.field("switch_count", pa.int64()),
            pa.field("rapid_switch_count", pa.int64()),
            pa.field("activity_count", pa.int64()),
            # Every UTC date the session has events or metric rows on (its rows in the dated datasets).
            pa.field("dates", pa.list_(pa.date32())),
            pa.field("definition", pa.string()),
            pa.field("started_at", pa.timestamp("us", tz="UTC")),
            pa.field("ended_at", pa.timestamp("us", tz="UTC")),
            pa.field("duration_seconds", pa.float64()),
            pa.field("active_seconds", pa.float64()),
            *[pa.field(f"{kind}_count", pa.int64()) for kind in EVENT_TYPES],
            pa.field("coding_gap_minutes", pa.float64()),
        ]
    )


@functools.cache
def coding_time_schema() -> pa.Schema:
    """Coding seconds per (session, UTC 15-minute bucket, language, workspace, file)."""
    return pa.schema(
        [
            pa.field("user_id", pa.string()),
            pa.field("session_id", pa.string()),
            pa.field("date", pa.date32()),  # UTC date of bucket_start
            pa.field("bucket_start", pa.timestamp("us", tz="UTC")),
            pa.field("language", pa.string()),
            pa.field("workspace", pa.string()),
            pa.field("file", pa.string()),
            pa.field("seconds", pa.float64()),
            pa.field("coding_gap_minutes", pa.float64()),
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
    file_switches: pa.Table  # FILE_SWITCH_SCHEMA: rows of the metrics_file_switches partitions
    coding_time: pa.Table  # CODING_TIME_SCHEMA: rows of the metrics_coding_time partitions
    quarter_hours: pa.Table  # QUARTER_SCHEMA: rows of the metrics_quarter_hours partitions
