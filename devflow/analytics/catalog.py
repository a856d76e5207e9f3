"""The data dictionary: every analyst view and column, described once.

The same text becomes DuckDB ``COMMENT``s on the views (:func:`apply_comments`, so
``duckdb_views()`` / ``duckdb_columns()`` show it), the table of :func:`describe` and the README's
"Data dictionary" section (:func:`markdown`; a test keeps the README equal to it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from devflow.telemetry import EVENT_TYPES

if TYPE_CHECKING:
    import duckdb
    import polars as pl

_EVENT_COLUMNS: Final[dict[str, str]] = {
    "user_id": "the account that sent the event (UUID text; join `users` for the name)",
    "session_id": (
        "the extension's session (lower-case UUID; a new one after 30 idle minutes or a window start)"
    ),
    "type": (
        "`text_change`, `editor_switch`, `file_save`, `debug_session_start`, "
        "`terminal_open` or `git_activity`"
    ),
    "timestamp": "when the event happened, UTC",
    "received_at": "when the server received it, UTC (first copy's, for re-sent events)",
    "batch_id": "the request that carried it (UUIDv7; first copy's)",
    "batch_index": "its index in that request's `events` (first copy's)",
    "fingerprint": "§4.7 hex SHA-256 of the event's canonical JSON; re-sent copies share it",
    "workspace": "the window's first folder",
    "file_path": (
        "text_change/file_save: path relative to its own folder, or absolute "
        "outside every folder (as sent, never resolved)"
    ),
    "file_name": "`file.name`",
    "file_absolute_path": "native OS path",
    "file_extension": 'with the dot, `""` for `Dockerfile`',
    "file_language": "editor language id",
    "file_workspace": "the folder containing the file (differs from `workspace` in multi-root windows)",
    "file_lines": "line count after the change",
    "file_size_bytes": "size in bytes after the change",
    "characters_added": "text_change: characters inserted (UTF-16 units)",
    "characters_deleted": "text_change: characters removed (UTF-16 units)",
    "change_count": "text_change: > 1 for multi-cursor edits",
    "affected_line_ranges": (
        "text_change: 1-based lines replaced, before the edit (a pure insertion has start = end)"
    ),
    "edit_duration_ms": "text_change: how long the merged edit took",
    "is_large_paste": "text_change: flagged as a large paste by the extension",
    "is_possible_rewrite": "text_change: flagged as a possible rewrite",
    "is_possible_undo_cycle": "text_change: flagged as a possible undo cycle",
    "from_file": "editor_switch: the file left",
    "from_language": "editor_switch: its language",
    "from_module": "editor_switch: its module (top folder)",
    "to_file": "editor_switch: the file opened",
    "to_language": "editor_switch: its language",
    "to_module": "editor_switch: its module",
    "switch_interval_seconds": "editor_switch: seconds since the previous switch",
    "is_cross_module_switch": "editor_switch: from and to modules differ",
    "is_rapid_context_switching": "editor_switch: the extension's flag, more than 5 switches within 60 s",
    "debug_name": "debug_session_start: the session's name",
    "debug_type": "debug_session_start: debugger type",
    "debug_launch_configuration_name": "debug_session_start: launch configuration",
    "terminal_name": "terminal_open: terminal name",
    "terminal_shell_type": "terminal_open: shell",
    "git_changed_files_count": "git_activity: files changed",
    "git_branch": "git_activity: branch",
    "raw": "the whole event as received, unknown keys included (JSON text)",
    "date": "UTC date of `timestamp` (the Hive partition)",
}

_LOCAL_COLUMNS: Final[dict[str, str]] = {
    "local_time": "`timestamp` in the user's time zone (`users.time_zone`, UTC when unset), no zone",
    "local_date": "the user's local date",
    "local_hour": "the user's local hour, 0–23",
    "local_weekday": "the user's local ISO weekday, 1 = Monday … 7 = Sunday",
}

_METRIC_TOTALS: Final[dict[str, str]] = {
    "lines_added": (
        "lines added: `line-delta` counts real line-count changes (a 50-line "
        "paste is 50), `typing-heuristic` touched lines"
    ),
    "lines_deleted": "lines deleted",
    "switch_count": "editor switches",
    "rapid_switch_count": "editor switches flagged rapid (`is_rapid_context_switching`)",
    "activity_count": "text changes + switches",
}

#: view → (what one row is, {column: meaning}). Columns a lake lacks are skipped when commenting.
# The local-time columns of the per-15-minute views, taken from their bucket_start.
_BUCKET_LOCAL_COLUMNS = {
    name: meaning.replace("`timestamp`", "`bucket_start`") for name, meaning in _LOCAL_COLUMNS.items()
}

VIEWS: Final[dict[str, tuple[str, dict[str, str]]]] = {
    "events": (
        "Accepted events, each once: re-sent copies (same session and fingerprint) collapse to the "
        "first received. Filters on date, session_id, type or fingerprint are applied before the "
        "de-duplication, so a day costs about what events_all costs.",
        {**_EVENT_COLUMNS, **_LOCAL_COLUMNS},
    ),
    "events_all": (
        "Every stored event row, re-sent copies included (for audits; count events with `events`). "
        "Copies share date, session_id and user_id, so distinct counts of those (daily active "
        "users, sessions per day) are the same here as in events, without the de-duplication's cost.",
        _EVENT_COLUMNS,
    ),
    "quarantine": (
        "Rejected events with the reason and the raw JSON.",
        {
            "user_id": "the sender",
            "received_at": "when the server received it, UTC",
            "batch_id": "the request (UUIDv7)",
            "batch_index": "index in the request's `events`",
            "reason": "why it was rejected",
            "raw": "the event as received",
            "date": "UTC date of `received_at` (the Hive partition)",
        },
    ),
    "users": (
        "One row per account (from the database; empty when the database cannot be read).",
        {
            "user_id": "the account id, as in every lake row",
            "username": "the login name",
            "time_zone": "IANA time zone of the user's days (null = UTC)",
            "created_at": "when the account was created, UTC",
        },
    ),
    "sessions": (
        "One row per extension session: when it started and ended (first and last event); from "
        "metrics_session once the ETL has run, from the raw events before.",
        {
            "user_id": "the account",
            "session_id": "the session",
            "started_at": "first event, UTC",
            "ended_at": "last event, UTC",
            "duration_minutes": "ended_at − started_at in minutes (what the session rules see)",
            "active_minutes": "coding minutes (metrics_session.active_seconds; null before any ETL pass)",
            "local_start_date": "the user's local date at started_at",
        },
    ),
    "metrics_daily": (
        "The ETL's totals per (user, session, UTC date).",
        {
            "user_id": "the account",
            "session_id": "the session",
            "date": "UTC date",
            "path": "older lakes only: null = totals, set = switches to a file (now metrics_file_switches)",
            **_METRIC_TOTALS,
            "definition": "the line-counting definition the row was computed with",
        },
    ),
    "metrics_file_switches": (
        "Editor switches per (user, session, UTC 15-minute bucket, file switched to).",
        {
            "user_id": "the account",
            "session_id": "the session",
            "date": "UTC date of bucket_start",
            "bucket_start": "start of the 15-minute bucket, UTC",
            "path": "the file switched to (`to_file`)",
            "switch_count": "switches to it in the bucket",
            "definition": "the line-counting definition of the pass that wrote it",
            **_BUCKET_LOCAL_COLUMNS,
        },
    ),
    "metrics_coding_time": (
        "Coding seconds per (user, session, UTC 15-minute bucket, language, workspace, file); every "
        "zone offset is a multiple of 15 minutes, so the local columns are exact for the bucket.",
        {
            "user_id": "the account",
            "session_id": "the session",
            "date": "UTC date of bucket_start",
            "bucket_start": "start of the 15-minute bucket, UTC",
            "language": "editor language id of the file worked on",
            "workspace": "the window's first folder",
            "file": "the file worked on (absolute path when the extension sent one)",
            "seconds": "coding seconds in the bucket (gaps up to coding_gap_minutes count)",
            "coding_gap_minutes": "the largest gap between events still counted as coding",
            **_BUCKET_LOCAL_COLUMNS,
        },
    ),
    "metrics_quarter_hours": (
        "The metrics_daily totals per (user, session, UTC 15-minute bucket): every zone offset is a "
        "multiple of 15 minutes, so a local day of any zone is an exact sum of buckets.",
        {
            "user_id": "the account",
            "session_id": "the session",
            "date": "UTC date of bucket_start",
            "bucket_start": "start of the 15-minute bucket, UTC",
            **_METRIC_TOTALS,
            "definition": "the line-counting definition the row was computed with",
            **_BUCKET_LOCAL_COLUMNS,
        },
    ),
    "metrics_session": (
        "The ETL's rows per session: totals, bounds, activity and the UTC dates it spans.",
        {
            "user_id": "the account",
            "session_id": "the session",
            **_METRIC_TOTALS,
            "dates": "UTC dates with metric events",
            "definition": "the line-counting definition the row was computed with",
            "started_at": "first event, UTC",
            "ended_at": "last event, UTC",
            "duration_seconds": "ended_at − started_at",
            "active_seconds": "coding seconds (gaps up to coding_gap_minutes)",
            **{f"{kind}_count": f"`{kind}` events" for kind in EVENT_TYPES},
            "coding_gap_minutes": "the largest gap between events still counted as active",
        },
    ),
    "user_daily": (
        "One row per (user, UTC date): the sums of metrics_daily plus churn_ratio as the rules see it.",
        {
            "user_id": "the account",
            "date": "UTC date",
            **_METRIC_TOTALS,
            "sessions": "sessions with metrics that day",
            "churn_ratio": "min(1, lines_deleted / lines_added); null when nothing was added",
            "definition": "the line-counting definition",
        },
    ),
}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def apply_comments(con: duckdb.DuckDBPyConnection) -> None:
    """``COMMENT ON`` every registered view and each of its documented columns."""
    present = {
        row[0] for row in con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    }
    for view, (about, columns) in VIEWS.items():
        if view not in present:
            continue
        con.execute(f"COMMENT ON VIEW {view} IS {_quote(about)}")
        have = {row[0] for row in con.sql(f"DESCRIBE {view}").fetchall()}
        for column, meaning in columns.items():
            if column in have:
                con.execute(f'COMMENT ON COLUMN {view}."{column}" IS {_quote(meaning)}')


def describe(con: duckdb.DuckDBPyConnection, view: str | None = None) -> pl.DataFrame:
    """view, column, type and meaning of every analyst view's columns (or of ``view``'s), as DuckDB
    reports them with their comments."""
    frame: pl.DataFrame = con.sql(
        "SELECT c.table_name AS view, c.column_name AS column, c.data_type AS type, "
        "coalesce(c.comment, '') AS meaning FROM duckdb_columns() c "
        "WHERE NOT c.internal AND c.table_name IN (SELECT unnest($views)) "
        "AND ($view IS NULL OR c.table_name = $view) ORDER BY c.table_name, c.column_index",
        params={"views": list(VIEWS), "view": view},
    ).pl()
    return frame


def markdown() -> str:
    """The README's data dictionary: one table per view."""
    parts: list[str] = []
    for view, (about, columns) in VIEWS.items():
        parts.append(f"**`{view}`** — {about}\n")
        parts.append("| column | meaning |\n|---|---|")
        parts.extend(f"| `{name}` | {meaning} |" for name, meaning in columns.items())
        parts.append("")
    return "\n".join(parts)
