"""The shapes the metric transform (``devflow.metrics.frames``) reads and writes, its definitions'
names, and the per-thread DuckDB connection the metric reads use."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from devflow.kernel.lazy import pa
from devflow.telemetry import EVENT_TYPES

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


def _keys(*more: tuple[str, pa.DataType]) -> list[pa.Field]:
    """``user_id``, ``session_id``, then ``more`` (name, type) fields."""
    return [
        pa.field(name, kind) for name, kind in (("user_id", pa.string()), ("session_id", pa.string()), *more)
    ]


def _figures() -> list[pa.Field]:
    """The per-session figures, in the order every dataset stores them."""
    names = ("lines_added", "lines_deleted", "switch_count", "rapid_switch_count", "activity_count")
    return [pa.field(name, pa.int64()) for name in names]


def _utc() -> pa.DataType:
    return pa.timestamp("us", tz="UTC")


@functools.cache
def session_day_schema() -> pa.Schema:
    """Per (session, UTC day) figures: the rows of metrics_daily."""
    return pa.schema([*_keys(("date", pa.date32())), *_figures(), pa.field("definition", pa.string())])


@functools.cache
def quarter_schema() -> pa.Schema:
    """The metrics_daily figures per UTC 15-minute bucket: a day in any zone is an exact sum of them."""
    return pa.schema(
        [
            *_keys(("date", pa.date32()), ("bucket_start", _utc())),
            *_figures(),
            pa.field("definition", pa.string()),
        ]
    )


@functools.cache
def file_switch_schema() -> pa.Schema:
    """Switches to each file per (session, UTC 15-minute bucket): metrics_file_switches."""
    return pa.schema(
        _keys(
            ("date", pa.date32()),
            ("bucket_start", _utc()),
            ("path", pa.string()),
            ("switch_count", pa.int64()),
            ("definition", pa.string()),
        )
    )


@functools.cache
def session_schema() -> pa.Schema:
    """One row per session: figures, facts and the definitions they were computed with."""
    return pa.schema(
        [
            *_keys(),
            *_figures(),
            # Every UTC date the session has events or metric rows on (its rows in the dated datasets).
            pa.field("dates", pa.list_(pa.date32())),
            pa.field("definition", pa.string()),
            pa.field("started_at", _utc()),
            pa.field("ended_at", _utc()),
            pa.field("duration_seconds", pa.float64()),
            pa.field("active_seconds", pa.float64()),
            *[pa.field(f"{kind}_count", pa.int64()) for kind in EVENT_TYPES],
            pa.field("coding_gap_minutes", pa.float64()),
        ]
    )


@functools.cache
def coding_time_schema() -> pa.Schema:
    """Coding seconds per (session, UTC 15-minute bucket, language, workspace, file); ``date`` is the
    UTC date of ``bucket_start``."""
    return pa.schema(
        _keys(
            ("date", pa.date32()),
            ("bucket_start", _utc()),
            ("language", pa.string()),
            ("workspace", pa.string()),
            ("file", pa.string()),
            ("seconds", pa.float64()),
            ("coding_gap_minutes", pa.float64()),
        )
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
