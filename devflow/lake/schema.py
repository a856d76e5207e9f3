"""The Arrow schemas of the lake: the one definition of what an event row and a quarantine row are.

Layout under the lake root (Hive partitions, UTC dates):

- ``events/date=YYYY-MM-DD/part-*.parquet``      accepted events, partitioned by event timestamp
- ``quarantine/date=YYYY-MM-DD/part-*.parquet``  rejected events, partitioned by receive time
- ``metrics_daily/…``, ``metrics_session/…``     ETL outputs (see ``devflow.metrics``)

The partition column ``date`` lives in the path only (readers use Hive partitioning).
Ingestion order is (``received_at``, ``batch_id``, ``batch_index``) — contract §4.5.
"""

from __future__ import annotations

import pyarrow as pa

EVENTS_DIR = "events"
QUARANTINE_DIR = "quarantine"
METRICS_DAILY_DIR = "metrics_daily"
METRICS_SESSION_DIR = "metrics_session"

TS = pa.timestamp("us", tz="UTC")
LINE_RANGE = pa.struct([pa.field("start", pa.int64()), pa.field("end", pa.int64())])

EVENT_SCHEMA = pa.schema(
    [
        # identity and ordering
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("session_id", pa.string(), nullable=False),  # lower-case UUID
        pa.field("type", pa.string(), nullable=False),
        pa.field("timestamp", TS, nullable=False),  # event time normalised to UTC
        pa.field("received_at", TS, nullable=False),
        pa.field("batch_id", pa.string(), nullable=False),  # UUIDv7 per request
        pa.field("batch_index", pa.int32(), nullable=False),  # index in the request's events
        pa.field("fingerprint", pa.string(), nullable=False),  # §4.7 hex SHA-256
        pa.field("workspace", pa.string()),
        # file object (file_save, text_change)
        pa.field("file_path", pa.string()),
        pa.field("file_name", pa.string()),
        pa.field("file_absolute_path", pa.string()),
        pa.field("file_extension", pa.string()),
        pa.field("file_language", pa.string()),
        pa.field("file_workspace", pa.string()),
        pa.field("file_lines", pa.int64()),
        pa.field("file_size_bytes", pa.int64()),
        # text_change metrics
        pa.field("characters_added", pa.int64()),
        pa.field("characters_deleted", pa.int64()),
        pa.field("change_count", pa.int64()),
        pa.field("affected_line_ranges", pa.list_(LINE_RANGE)),
        pa.field("edit_duration_ms", pa.int64()),
        pa.field("is_large_paste", pa.bool_()),
        pa.field("is_possible_rewrite", pa.bool_()),
        pa.field("is_possible_undo_cycle", pa.bool_()),
        # editor_switch
        pa.field("from_file", pa.string()),
        pa.field("from_language", pa.string()),
        pa.field("from_module", pa.string()),
        pa.field("to_file", pa.string()),
        pa.field("to_language", pa.string()),
        pa.field("to_module", pa.string()),
        pa.field("switch_interval_seconds", pa.float64()),
        pa.field("is_cross_module_switch", pa.bool_()),
        pa.field("is_rapid_context_switching", pa.bool_()),
        # debug_session_start
        pa.field("debug_name", pa.string()),
        pa.field("debug_type", pa.string()),
        pa.field("debug_launch_configuration_name", pa.string()),
        # terminal_open
        pa.field("terminal_name", pa.string()),
        pa.field("terminal_shell_type", pa.string()),
        # git_activity
        pa.field("git_changed_files_count", pa.int64()),
        pa.field("git_branch", pa.string()),
        # the whole event as received, unknown keys included (§4.5)
        pa.field("raw", pa.string(), nullable=False),
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("received_at", TS, nullable=False),
        pa.field("batch_id", pa.string(), nullable=False),
        pa.field("batch_index", pa.int32(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw", pa.string(), nullable=False),  # the rejected JSON value, verbatim
    ]
)
