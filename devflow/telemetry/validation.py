"""Per-event validation of telemetry (contract §4.6): the first failing check gives the reason.

Checks 1–8 need only the event itself and run here; check 9 (session ownership) needs the database
and is applied by :mod:`devflow.telemetry.sessions`. A field is *missing* when it is absent or
``null``; ``null`` for an optional field means absent. Integers are JSON numbers without a
fractional part that fit in int64 (larger ones are ``invalid_field``); booleans are ``true`` /
``false`` only. A required container is checked before its fields and reported by its own path
(contract 1.1): a ``git_activity`` without ``git`` (or with ``"git": null``) is
``missing_field:git``, one with ``"git": 5`` is ``invalid_field:git``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec

from devflow.telemetry.timestamps import parse_timestamp_us

EVENT_TYPES = frozenset(
    {"file_save", "text_change", "editor_switch", "debug_session_start", "terminal_open", "git_activity"}
)
FUTURE_TOLERANCE_US = 3600 * 1_000_000  # timestamp ≤ receive time + 1 hour (check 5)
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

Check = Callable[[Any], bool]


def is_str(value: Any) -> bool:
    """A JSON string."""
    return value.__class__ is str


def is_int(value: Any) -> bool:
    """A JSON number without fractional part, within int64 (``true`` is not an integer)."""
    if value.__class__ is int:
        return INT64_MIN <= value <= INT64_MAX
    return value.__class__ is float and value.is_integer() and INT64_MIN <= value <= INT64_MAX


def is_positive_int(value: Any) -> bool:
    """An integer ≥ 1 (``file.lines``)."""
    return is_int(value) and value >= 1


def is_natural_int(value: Any) -> bool:
    """An integer ≥ 0 (``git.changed_files_count``)."""
    return is_int(value) and value >= 0


def is_bool(value: Any) -> bool:
    """JSON ``true`` or ``false`` only."""
    return value.__class__ is bool


def is_number(value: Any) -> bool:
    """Any JSON number (not a boolean)."""
    return value.__class__ is int or value.__class__ is float


FieldSpec = tuple[str, str, Check]  # (parent object, key, check)

_FILE_REQUIRED: tuple[FieldSpec, ...] = (("file", "path", is_str),)
_FILE_OPTIONAL: tuple[FieldSpec, ...] = (
    ("file", "name", is_str),
    ("file", "absolute_path", is_str),
    ("file", "extension", is_str),
    ("file", "language", is_str),
    ("file", "workspace", is_str),
    ("file", "lines", is_positive_int),
    ("file", "size_bytes", is_int),
)
_SWITCH_END: tuple[FieldSpec, ...] = tuple(
    (end, key, is_str) for end in ("from", "to") for key in ("file", "language", "module")
)

REQUIRED: dict[str, tuple[FieldSpec, ...]] = {
    "file_save": _FILE_REQUIRED,
    "text_change": (
        *_FILE_REQUIRED,
        ("metrics", "characters_added", is_int),
        ("metrics", "characters_deleted", is_int),
        ("metrics", "change_count", is_int),
        ("metrics", "edit_duration_ms", is_int),
        ("metrics", "is_large_paste", is_bool),
        ("metrics", "is_possible_rewrite", is_bool),
        ("metrics", "is_possible_undo_cycle", is_bool),
    ),
    "editor_switch": (
        ("metrics", "switch_interval_seconds", is_number),
        ("metrics", "is_cross_module_switch", is_bool),
        ("metrics", "is_rapid_context_switching", is_bool),
    ),
    "debug_session_start": (("debug", "name", is_str), ("debug", "type", is_str)),
    "terminal_open": (("terminal", "name", is_str),),
    "git_activity": (("git", "changed_files_count", is_natural_int),),
}
OPTIONAL: dict[str, tuple[FieldSpec, ...]] = {
    "file_save": _FILE_OPTIONAL,
    "text_change": _FILE_OPTIONAL,  # + metrics.affected_line_ranges, checked after these
    "editor_switch": _SWITCH_END,
    "debug_session_start": (("debug", "launch_configuration_name", is_str),),
    "terminal_open": (("terminal", "shell_type", is_str),),
    "git_activity": (("git", "branch", is_str),),
}


@dataclass(slots=True)
class ValidatedBatch:
    """Outcome of checks 1–8 for one request: parallel lists for the accepted events."""

    indexes: list[int] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    session_ids: list[str] = field(default_factory=list)  # lower-cased
    timestamps_us: list[int] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (index, reason), ascending


def _line_ranges_reason(value: Any) -> str | None:
    path = "metrics.affected_line_ranges"
    if value.__class__ is not list:
        return f"invalid_field:{path}"
    for i, item in enumerate(value):
        if item.__class__ is not dict:
            return f"invalid_field:{path}[{i}]"
        for key in ("start", "end"):
            bound = item.get(key)
            if bound is None:
                return f"missing_field:{path}[{i}].{key}"
            if not is_int(bound):
                return f"invalid_field:{path}[{i}].{key}"
    return None


def field_reason(event: dict[str, Any], kind: str) -> str | None:
    """Checks 6–8 for an event whose ``type`` is ``kind``: the reason of the first failure, or None."""
    workspace = event.get("workspace")
    if workspace is None:
        return "missing_field:workspace"
    if workspace.__class__ is not str:
        return "invalid_field:workspace"
    for parent_key, key, check in REQUIRED[kind]:
        parent = event.get(parent_key)
        if parent is None:
            return f"missing_field:{parent_key}"
        if parent.__class__ is not dict:
            return f"invalid_field:{parent_key}"
        value = parent.get(key)
        if value is None:
            return f"missing_field:{parent_key}.{key}"
        if not check(value):
            return f"invalid_field:{parent_key}.{key}"
    for parent_key, key, check in OPTIONAL[kind]:
        parent = event.get(parent_key)
        if parent is None:
            continue
        if parent.__class__ is not dict:
            return f"invalid_field:{parent_key}"
        value = parent.get(key)
        if value is not None and not check(value):
            return f"invalid_field:{parent_key}.{key}"
    if kind == "text_change":
        ranges = event["metrics"].get("affected_line_ranges")
        if ranges is not None:
            return _line_ranges_reason(ranges)
    return None


# -- whole-batch fast path ------------------------------------------------------------------------
# msgspec Structs that mirror REQUIRED/OPTIONAL exactly: converting a batch to ``list[_Event]``
# succeeds only when every event is an object of a known type whose fields all pass checks 6–8
# (unknown keys are ignored, as in the lake's ``raw`` column). That is the common case, and msgspec
# checks it in C, an order of magnitude faster than the per-field Python checks above. When any event
# fails, the converter's error is discarded and the ordered checks find each event's reason.
# Integers written as ``1.0`` are valid (``is_int``) but not for msgspec: such a batch merely takes
# the slow path.

_Int64 = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]
_Lines = Annotated[int, msgspec.Meta(ge=1, le=INT64_MAX)]
_Count = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]


class _File(msgspec.Struct, gc=False):
    path: str
    name: str | None = None
    absolute_path: str | None = None
    extension: str | None = None
    language: str | None = None
    workspace: str | None = None
    lines: _Lines | None = None
    size_bytes: _Int64 | None = None


class _Range(msgspec.Struct, gc=False):
    start: _Int64
    end: _Int64


class _TextMetrics(msgspec.Struct, gc=False):
    characters_added: _Int64
    characters_deleted: _Int64
    change_count: _Int64
    edit_duration_ms: _Int64
    is_large_paste: bool
    is_possible_rewrite: bool
    is_possible_undo_cycle: bool
    affected_line_ranges: list[_Range] | None = None


class _SwitchMetrics(msgspec.Struct, gc=False):
    switch_interval_seconds: float  # msgspec's float takes JSON integers too, never booleans
    is_cross_module_switch: bool
    is_rapid_context_switching: bool


class _SwitchEnd(msgspec.Struct, gc=False):
    file: str | None = None
    language: str | None = None
    module: str | None = None


class _Debug(msgspec.Struct, gc=False):
    name: str
    type: str
    launch_configuration_name: str | None = None


class _Terminal(msgspec.Struct, gc=False):
    name: str
    shell_type: str | None = None


class _Git(msgspec.Struct, gc=False):
    changed_files_count: _Count
    branch: str | None = None


class _Base(msgspec.Struct, tag_field="type", gc=False):
    workspace: str


class _FileSave(_Base, tag="file_save"):
    file: _File


class _TextChange(_Base, tag="text_change"):
    file: _File
    metrics: _TextMetrics


class _EditorSwitch(_Base, tag="editor_switch"):
    metrics: _SwitchMetrics
    from_: _SwitchEnd | None = msgspec.field(default=None, name="from")
    to: _SwitchEnd | None = None


class _DebugStart(_Base, tag="debug_session_start"):
    debug: _Debug


class _TerminalOpen(_Base, tag="terminal_open"):
    terminal: _Terminal


class _GitActivity(_Base, tag="git_activity"):
    git: _Git


_Event = _FileSave | _TextChange | _EditorSwitch | _DebugStart | _TerminalOpen | _GitActivity
_batch_type = list[_Event]


def all_fields_valid(events: Sequence[Any]) -> bool:
    """True when every event passes checks 1, 2 and 6–8 (one C-level pass over the batch)."""
    try:
        msgspec.convert(events, _batch_type)
    except msgspec.ValidationError:
        return False
    return True


def validate_events(events: Sequence[Any], received_at_us: int) -> ValidatedBatch:
    """Run checks 1–8 of §4.6 on every event, in array order."""
    return _validate(events, received_at_us, fields_known_valid=all_fields_valid(events))


def validate_events_in_order(events: Sequence[Any], received_at_us: int) -> ValidatedBatch:
    """Checks 1–8 of §4.6 for each event in turn (the reference the fast path must agree with)."""
    return _validate(events, received_at_us, fields_known_valid=False)


def _validate(events: Sequence[Any], received_at_us: int, *, fields_known_valid: bool) -> ValidatedBatch:
    """The ordered checks; with ``fields_known_valid`` (every event passes checks 1, 2 and 6–8, see
    :func:`all_fields_valid`) only checks 3–5 run."""
    out = ValidatedBatch()
    latest_allowed = received_at_us + FUTURE_TOLERANCE_US
    uuid_match = _UUID.fullmatch
    # A batch carries few distinct session ids: check and lower-case each only once.
    session_ids: dict[str, str] = {}
    for index, event in enumerate(events):
        if not fields_known_valid:
            if event.__class__ is not dict:
                out.rejected.append((index, "not_an_object"))
                continue
            kind = event.get("type")
            if kind.__class__ is not str or kind not in EVENT_TYPES:
                out.rejected.append((index, "unknown_type"))
                continue
        session_id = event.get("session_id")
        lowered = session_ids.get(session_id) if session_id.__class__ is str else None
        if lowered is None:
            if session_id.__class__ is not str or uuid_match(session_id) is None:
                out.rejected.append((index, "invalid_session_id"))
                continue
            lowered = session_ids[session_id] = session_id.lower()
        timestamp = event.get("timestamp")
        ts = parse_timestamp_us(timestamp) if timestamp.__class__ is str else None
        if ts is None:
            out.rejected.append((index, "invalid_timestamp"))
            continue
        if ts > latest_allowed:
            out.rejected.append((index, "timestamp_in_future"))
            continue
        if not fields_known_valid:
            reason = field_reason(event, event["type"])  # the type was checked above
            if reason is not None:
                out.rejected.append((index, reason))
                continue
        out.indexes.append(index)
        out.events.append(event)
        out.session_ids.append(lowered)
        out.timestamps_us.append(ts)
    return out
