"""What a telemetry event is: its known fields (the one table validation, the whole-batch decoder and
the lake's typed columns are derived from) and the Arrow schemas of the rows it becomes in the lake.

Lake folders (Hive partitions by UTC date; the ``date`` lives in the path only):

- ``events/date=YYYY-MM-DD/part-*.parquet``      accepted events, partitioned by event timestamp
- ``quarantine/date=YYYY-MM-DD/part-*.parquet``  rejected events, partitioned by receive time

Ingestion order is (``received_at``, ``batch_id``, ``batch_index``) — contract §4.5.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass

from devflow.kernel.lazy import pa

EVENTS_DIR = "events"
QUARANTINE_DIR = "quarantine"


@functools.cache
def timestamp_type() -> pa.DataType:
    """The lake's timestamps: microseconds, UTC."""
    return pa.timestamp("us", tz="UTC")


@functools.cache
def line_range_type() -> pa.DataType:
    """One ``{start, end}`` of ``metrics.affected_line_ranges``."""
    return pa.struct([pa.field("start", pa.int64()), pa.field("end", pa.int64())])


@functools.cache
def event_schema() -> pa.Schema:
    """The columns of an accepted event in the lake (built on first use: pyarrow loads lazily)."""
    ts = timestamp_type()
    line_range = line_range_type()
    return pa.schema(
        [
            # identity and ordering
            pa.field("user_id", pa.string(), nullable=False),
            pa.field("session_id", pa.string(), nullable=False),  # lower-case UUID
            pa.field("type", pa.string(), nullable=False),
            pa.field("timestamp", ts, nullable=False),  # event time normalised to UTC
            pa.field("received_at", ts, nullable=False),
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
            pa.field("affected_line_ranges", pa.list_(line_range)),
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


@functools.cache
def quarantine_schema() -> pa.Schema:
    """The columns of a rejected event in the lake."""
    ts = timestamp_type()
    return pa.schema(
        [
            pa.field("user_id", pa.string(), nullable=False),
            pa.field("received_at", ts, nullable=False),
            pa.field("batch_id", pa.string(), nullable=False),
            pa.field("batch_index", pa.int32(), nullable=False),
            pa.field("reason", pa.string(), nullable=False),
            pa.field("raw", pa.string(), nullable=False),  # the rejected JSON value, verbatim
        ]
    )


class ValueKind(enum.Enum):
    """The JSON value a known field must hold (contract §4.3-4.4)."""

    STRING = "string"
    INTEGER = "integer"  # a number without fractional part, within int64 (1.0 counts)
    POSITIVE_INTEGER = "integer >= 1"
    NATURAL_INTEGER = "integer >= 0"
    BOOLEAN = "boolean"  # true or false only
    NUMBER = "number"  # any number, never a boolean
    LINE_RANGES = "array of {start, end}"
    OBJECT = "object"  # a container: its fields follow


@dataclass(frozen=True, slots=True)
class EventField:
    """A known field of an event type: ``parent.key`` (``parent`` None for top-level keys)."""

    parent: str | None
    key: str
    kind: ValueKind
    required: bool
    column: str | None = None  # the lake's typed column holding it, if any

    @property
    def path(self) -> str:
        """The dotted path used in rejection reasons (``metrics.is_large_paste``)."""
        return self.key if self.parent is None else f"{self.parent}.{self.key}"


EVENT_TYPES = (
    "file_save",
    "text_change",
    "editor_switch",
    "debug_session_start",
    "terminal_open",
    "git_activity",
)

_S, _I, _B = ValueKind.STRING, ValueKind.INTEGER, ValueKind.BOOLEAN
_FILE = (
    EventField("file", "path", _S, True, "file_path"),
    EventField("file", "name", _S, False, "file_name"),
    EventField("file", "absolute_path", _S, False, "file_absolute_path"),
    EventField("file", "extension", _S, False, "file_extension"),
    EventField("file", "language", _S, False, "file_language"),
    EventField("file", "workspace", _S, False, "file_workspace"),
    EventField("file", "lines", ValueKind.POSITIVE_INTEGER, False, "file_lines"),
    EventField("file", "size_bytes", _I, False, "file_size_bytes"),
)
_SWITCH_ENDS = tuple(
    EventField(end, key, _S, False, f"{end}_{key}")
    for end in ("from", "to")
    for key in ("file", "language", "module")
)

#: Every known field of each event type, in the order of the §4.6 checks: the required fields in the
#: contract's order (check 7), then the optional ones (check 8). Containers (``file``, ``metrics``, …)
#: are implied by their fields: a required container is required, an optional one optional.
EVENT_FIELDS: dict[str, tuple[EventField, ...]] = {
    "file_save": _FILE,
    "text_change": (
        _FILE[0],
        EventField("metrics", "characters_added", _I, True, "characters_added"),
        EventField("metrics", "characters_deleted", _I, True, "characters_deleted"),
        EventField("metrics", "change_count", _I, True, "change_count"),
        EventField("metrics", "edit_duration_ms", _I, True, "edit_duration_ms"),
        EventField("metrics", "is_large_paste", _B, True, "is_large_paste"),
        EventField("metrics", "is_possible_rewrite", _B, True, "is_possible_rewrite"),
        EventField("metrics", "is_possible_undo_cycle", _B, True, "is_possible_undo_cycle"),
        *_FILE[1:],
        EventField("metrics", "affected_line_ranges", ValueKind.LINE_RANGES, False, "affected_line_ranges"),
    ),
    "editor_switch": (
        EventField("metrics", "switch_interval_seconds", ValueKind.NUMBER, True, "switch_interval_seconds"),
        EventField("metrics", "is_cross_module_switch", _B, True, "is_cross_module_switch"),
        EventField("metrics", "is_rapid_context_switching", _B, True, "is_rapid_context_switching"),
        *_SWITCH_ENDS,
    ),
    "debug_session_start": (
        EventField("debug", "name", _S, True, "debug_name"),
        EventField("debug", "type", _S, True, "debug_type"),
        EventField("debug", "launch_configuration_name", _S, False, "debug_launch_configuration_name"),
    ),
    "terminal_open": (
        EventField("terminal", "name", _S, True, "terminal_name"),
        EventField("terminal", "shell_type", _S, False, "terminal_shell_type"),
    ),
    "git_activity": (
        EventField("git", "changed_files_count", ValueKind.NATURAL_INTEGER, True, "git_changed_files_count"),
        EventField("git", "branch", _S, False, "git_branch"),
    ),
}
#: Top-level fields every event type has besides ``type``, ``timestamp`` and ``session_id``.
WORKSPACE = EventField(None, "workspace", _S, True, "workspace")
