"""Accepted telemetry events → one Arrow table of ``EVENT_SCHEMA`` (contract §4.5, §4.7).

Built column by column (one list comprehension per column) because turning events into rows one
at a time is the bottleneck of ingest (NOTES.md). Typed columns are filled only when the value has
the contract's type, so a key the validator did not check for this event type (``file`` on a
``git_activity`` event, say) can never break the table; the ``raw`` column keeps everything.

The synthetic data generator uses :func:`events_to_table` too, so the lake has one writer shape.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from devflow.lake.schema import EVENT_SCHEMA, QUARANTINE_SCHEMA, TS
from devflow.telemetry.timestamps import parse_timestamp_us

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_EMPTY: dict[str, Any] = {}
_sorted_encoder = msgspec.json.Encoder(order="sorted")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def epoch_us(moment: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact, no float rounding)."""
    return (moment - _EPOCH) // _MICROSECOND


def canonical_json(event: Any, *, may_contain_floats: bool = True) -> bytes:
    """§4.7 canonical form: exactly ``json.dumps(event, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`` as UTF-8.

    msgspec's sorted encoder produces the same bytes for strings, integers, booleans and nesting
    (checked against every code point) but spells some floats differently (``1e-05`` vs
    ``0.00001``); callers that know the value holds no float take the fast path.
    """
    if may_contain_floats:
        text = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8", "surrogatepass")
    return _sorted_encoder.encode(event)


def fingerprint(event: Any, *, may_contain_floats: bool = True) -> str:
    """The hex SHA-256 of the event's canonical JSON (contract §4.7). Never changes for a lake."""
    return hashlib.sha256(canonical_json(event, may_contain_floats=may_contain_floats)).hexdigest()


def _int(value: Any) -> int | None:
    if value is None:
        return None
    if value.__class__ is int:
        return value if INT64_MIN <= value <= INT64_MAX else None
    if value.__class__ is float and value.is_integer() and INT64_MIN <= value <= INT64_MAX:
        return int(value)
    return None


def _number(value: Any) -> float | None:
    if value.__class__ is int or value.__class__ is float:
        return float(value)
    return None


def _ranges(value: Any) -> list[dict[str, int]] | None:
    if value.__class__ is not list:
        return None
    out: list[dict[str, int]] = []
    for item in value:
        if item.__class__ is not dict:
            return None
        start, end = _int(item.get("start")), _int(item.get("end"))
        if start is None or end is None:
            return None
        out.append({"start": start, "end": end})
    return out


_FILE_TYPES = frozenset({"file_save", "text_change"})
_TEXT_TYPES = frozenset({"text_change"})
_SWITCH_TYPES = frozenset({"editor_switch"})
_DEBUG_TYPES = frozenset({"debug_session_start"})
_TERMINAL_TYPES = frozenset({"terminal_open"})
_GIT_TYPES = frozenset({"git_activity"})


def _objects(
    events: Sequence[Mapping[str, Any]], kinds: Sequence[Any], types: frozenset[str], key: str
) -> list[dict[str, Any]] | None:
    """The ``key`` object of each event of one of ``types`` (``{}`` elsewhere); None if no such event.

    Typed columns belong to the event types of §4.3–4.4: a ``git`` key on a ``text_change`` is an
    unknown key, kept in ``raw`` only.
    """
    if types.isdisjoint(kinds):
        return None
    return [
        o if kind in types and (o := e.get(key)).__class__ is dict else _EMPTY
        for e, kind in zip(events, kinds, strict=True)
    ]


# Typed columns derived from the event JSON: (column, parent key or None, key, event types or None).
# A column belongs to the event types of §4.3–4.4 only: a ``git`` key on a ``text_change`` is an
# unknown key, kept in ``raw`` alone.
TYPED_COLUMNS: tuple[tuple[str, str | None, str, frozenset[str] | None], ...] = (
    ("workspace", None, "workspace", None),
    ("file_path", "file", "path", _FILE_TYPES),
    ("file_name", "file", "name", _FILE_TYPES),
    ("file_absolute_path", "file", "absolute_path", _FILE_TYPES),
    ("file_extension", "file", "extension", _FILE_TYPES),
    ("file_language", "file", "language", _FILE_TYPES),
    ("file_workspace", "file", "workspace", _FILE_TYPES),
    ("file_lines", "file", "lines", _FILE_TYPES),
    ("file_size_bytes", "file", "size_bytes", _FILE_TYPES),
    ("characters_added", "metrics", "characters_added", _TEXT_TYPES),
    ("characters_deleted", "metrics", "characters_deleted", _TEXT_TYPES),
    ("change_count", "metrics", "change_count", _TEXT_TYPES),
    ("affected_line_ranges", "metrics", "affected_line_ranges", _TEXT_TYPES),
    ("edit_duration_ms", "metrics", "edit_duration_ms", _TEXT_TYPES),
    ("is_large_paste", "metrics", "is_large_paste", _TEXT_TYPES),
    ("is_possible_rewrite", "metrics", "is_possible_rewrite", _TEXT_TYPES),
    ("is_possible_undo_cycle", "metrics", "is_possible_undo_cycle", _TEXT_TYPES),
    ("from_file", "from", "file", _SWITCH_TYPES),
    ("from_language", "from", "language", _SWITCH_TYPES),
    ("from_module", "from", "module", _SWITCH_TYPES),
    ("to_file", "to", "file", _SWITCH_TYPES),
    ("to_language", "to", "language", _SWITCH_TYPES),
    ("to_module", "to", "module", _SWITCH_TYPES),
    ("switch_interval_seconds", "metrics", "switch_interval_seconds", _SWITCH_TYPES),
    ("is_cross_module_switch", "metrics", "is_cross_module_switch", _SWITCH_TYPES),
    ("is_rapid_context_switching", "metrics", "is_rapid_context_switching", _SWITCH_TYPES),
    ("debug_name", "debug", "name", _DEBUG_TYPES),
    ("debug_type", "debug", "type", _DEBUG_TYPES),
    ("debug_launch_configuration_name", "debug", "launch_configuration_name", _DEBUG_TYPES),
    ("terminal_name", "terminal", "name", _TERMINAL_TYPES),
    ("terminal_shell_type", "terminal", "shell_type", _TERMINAL_TYPES),
    ("git_changed_files_count", "git", "changed_files_count", _GIT_TYPES),
    ("git_branch", "git", "branch", _GIT_TYPES),
)

# What one request appends to the spool: identity, ordering and the raw JSON. The typed columns
# are derived from ``raw`` when the spool is flushed (:func:`expand_events`), in bulk, off the
# request path: per-request Arrow construction of 43 columns costs more than everything else.
SPOOL_EVENT_SCHEMA = pa.schema(
    [EVENT_SCHEMA.field(name) for name in EVENT_SCHEMA.names if name not in {c[0] for c in TYPED_COLUMNS}]
)


def _typed_columns_python(events: Sequence[Mapping[str, Any]], kinds: Sequence[Any]) -> dict[str, pa.Array]:
    """The typed columns, one list comprehension each, with inline type checks."""
    n = len(events)
    parents: dict[tuple[str, frozenset[str]], list[dict[str, Any]] | None] = {}
    columns: dict[str, pa.Array] = {}
    for name, parent, key, types in TYPED_COLUMNS:
        arrow_type = EVENT_SCHEMA.field(name).type
        objs: Sequence[Mapping[str, Any]] | None
        if parent is None or types is None:
            objs = events
        else:
            if (parent, types) not in parents:
                parents[(parent, types)] = _objects(events, kinds, types, parent)
            objs = parents[(parent, types)]
        if objs is None:
            columns[name] = pa.nulls(n, arrow_type)
        elif arrow_type == pa.string():
            columns[name] = pa.array(
                [v if (v := o.get(key)).__class__ is str else None for o in objs], arrow_type
            )
        elif arrow_type == pa.int64():
            values = [
                v if (v := o.get(key)).__class__ is int and INT64_MIN <= v <= INT64_MAX else _int(v)
                for o in objs
            ]
            columns[name] = pa.array(values, arrow_type)
        elif arrow_type == pa.bool_():
            columns[name] = pa.array(
                [v if (v := o.get(key)).__class__ is bool else None for o in objs], arrow_type
            )
        elif arrow_type == pa.float64():
            columns[name] = pa.array([_number(o.get(key)) for o in objs], arrow_type)
        else:  # the line ranges
            columns[name] = pa.array([_ranges(o.get(key)) for o in objs], arrow_type)
    return columns


def _json_schema() -> pa.Schema:
    """The shape of an event as pyarrow's JSON reader should see it (unknown keys ignored)."""
    top: dict[str, pa.DataType] = {}
    nested: dict[str, list[pa.Field]] = {}
    for name, parent, key, _ in TYPED_COLUMNS:
        arrow_type = EVENT_SCHEMA.field(name).type
        if parent is None:
            top[key] = arrow_type
        else:
            nested.setdefault(parent, [])
            if key not in {f.name for f in nested[parent]}:
                nested[parent].append(pa.field(key, arrow_type))
    fields = [pa.field(k, t) for k, t in top.items()]
    fields += [pa.field(parent, pa.struct(children)) for parent, children in nested.items()]
    return pa.schema(fields)


_JSON_PARSE = pa_json.ParseOptions(
    explicit_schema=_json_schema(), unexpected_field_behavior="ignore", newlines_in_values=True
)


def _typed_columns_json(
    raw: pa.ChunkedArray | pa.Array, kinds: pa.ChunkedArray | pa.Array
) -> dict[str, pa.Array]:
    """The typed columns parsed from ``raw`` by pyarrow's C++ JSON reader (multi-threaded).

    The path for spooled rows without a :func:`typed_struct` (crash recovery, or a request whose
    events did not convert). Raises ``pa.ArrowInvalid`` when some value has another type than its
    column (possible only in keys the validator does not check for that event type, or for integers
    written as 1.0 or beyond int64); the caller then takes the Python path.
    """
    n = len(raw)
    strings = raw.combine_chunks() if isinstance(raw, pa.ChunkedArray) else raw
    # The data buffer of the string array is the events back to back ("{…}{…}"), which the reader
    # splits itself (newlines_in_values mode parses object boundaries): zero-copy, no join.
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32)[strings.offset : strings.offset + n + 1]
    data = (
        strings.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0])) if n else pa.py_buffer(b"")
    )
    longest = int(np.max(np.diff(offsets))) if n else 0
    parsed = pa_json.read_json(
        pa.BufferReader(data),
        read_options=pa_json.ReadOptions(use_threads=True, block_size=max(1 << 20, longest + 1)),
        parse_options=_JSON_PARSE,
    )
    if parsed.num_rows != n:
        raise pa.ArrowInvalid("raw events and parsed rows differ")
    return _typed_columns_from(lambda key: parsed.column(key).combine_chunks(), kinds)


def _typed_columns_from(
    top: Callable[[str], pa.Array], kinds: pa.ChunkedArray | pa.Array
) -> dict[str, pa.Array]:
    """The typed columns from the top-level fields of :data:`EVENT_JSON_TYPE` (``top(key)``): nested
    values are taken out of their parent struct and nulled on events of other types."""
    masks: dict[frozenset[str], pa.Array | None] = {}
    columns: dict[str, pa.Array] = {}
    for name, parent, key, types in TYPED_COLUMNS:
        if parent is None or types is None:
            column = top(key)
        else:
            column = pc.struct_field(top(parent), [key])
            if types not in masks:
                mask = pc.fill_null(pc.is_in(kinds, value_set=pa.array(sorted(types))), False)
                masks[types] = None if pc.all(mask).as_py() else mask
            mask = masks[types]
            if mask is not None:  # null the value on events of other types (leaf arrays: cheap)
                column = pc.if_else(mask, column, pa.scalar(None, column.type))
        wanted = EVENT_SCHEMA.field(name).type
        columns[name] = column if column.type == wanted else column.cast(wanted)
    return columns


# The events' typed fields as one Arrow struct (what the JSON reader parses, and what
# :func:`typed_struct` converts the decoded events of a request into).
EVENT_JSON_TYPE = pa.struct(list(_json_schema()))
# Name of the in-memory column that carries a request's :func:`typed_struct` next to its spool
# columns (never written to the spool: a replay parses ``raw`` instead).
TYPED_STRUCT_COLUMN = "__typed"
_CONVERSION_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError)


def typed_struct(events: Sequence[Mapping[str, Any]]) -> pa.StructArray | None:
    """The accepted events of one request converted to :data:`EVENT_JSON_TYPE` from the values
    already decoded for validation, or None when some value does not convert (the flush then parses
    ``raw``). Every value that reaches a typed column was checked by the validator for its event
    type, so pyarrow's conversions are exact there; values in keys of other event types may convert
    loosely (1.5 to an int) but are nulled by the type masks."""
    try:
        return pa.array(events, type=EVENT_JSON_TYPE)
    except _CONVERSION_ERRORS:
        return None


def expand_events(spool: pa.Table) -> pa.Table:
    """A ``SPOOL_EVENT_SCHEMA`` table (possibly many requests) → the full ``EVENT_SCHEMA`` table.

    With a :data:`TYPED_STRUCT_COLUMN` (every row converted on the request path) the typed columns
    come from it; otherwise ``raw`` is parsed."""
    kinds = spool.column("type")
    typed: dict[str, pa.Array]
    if TYPED_STRUCT_COLUMN in spool.column_names:
        struct = spool.column(TYPED_STRUCT_COLUMN).combine_chunks()
        typed = _typed_columns_from(lambda key: pc.struct_field(struct, [key]), kinds)
    else:
        try:
            typed = _typed_columns_json(spool.column("raw"), kinds)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            decoded = [msgspec.json.decode(value) for value in spool.column("raw").to_pylist()]
            events = [e if e.__class__ is dict else _EMPTY for e in decoded]
            typed = _typed_columns_python(events, kinds.to_pylist())
    arrays = [
        typed[name] if name in typed else spool.column(name).combine_chunks() for name in EVENT_SCHEMA.names
    ]
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)


def spool_events_table(
    *,
    user_id: str,
    received_at: datetime,
    batch_id: str,
    batch_indexes: Sequence[int],
    session_ids: Sequence[str],
    kinds: Sequence[str],
    timestamps_us: Sequence[int],
    fingerprints: Sequence[str],
    raws: Sequence[bytes | str],
) -> pa.Table:
    """The accepted events of one request as a ``SPOOL_EVENT_SCHEMA`` table (9 columns)."""
    n = len(batch_indexes)
    received_us = epoch_us(received_at)
    arrays = {
        "user_id": pa.repeat(pa.scalar(user_id, pa.string()), n),
        "session_id": pa.array(session_ids, pa.string()),
        "type": pa.array(kinds, pa.string()),
        "timestamp": pa.array(timestamps_us, TS),
        "received_at": pa.repeat(pa.scalar(received_us, TS), n),
        "batch_id": pa.repeat(pa.scalar(batch_id, pa.string()), n),
        "batch_index": pa.array(batch_indexes, pa.int32()),
        "fingerprint": pa.array(fingerprints, pa.string()),
        "raw": _text_array(raws),
    }
    return pa.Table.from_arrays(
        [arrays[name] for name in SPOOL_EVENT_SCHEMA.names], schema=SPOOL_EVENT_SCHEMA
    )


def _text_array(values: Sequence[bytes | str]) -> pa.Array:
    """A string array from UTF-8 bytes (or str) built as binary and viewed as string: zero-copy and
    without pyarrow re-validating each value (msgspec already validated the whole request body)."""
    return pa.array(values, pa.binary()).view(pa.string())


def events_to_table(
    events: Sequence[Mapping[str, Any]],
    *,
    user_id: str,
    received_at: datetime,
    batch_id: str,
    batch_indexes: Sequence[int] | None = None,
    timestamps_us: Sequence[int] | None = None,
    fingerprints: Sequence[str] | None = None,
    raws: Sequence[bytes | str] | None = None,
    session_ids: Sequence[str] | None = None,
) -> pa.Table:
    """An ``EVENT_SCHEMA`` table for already-validated events of one user and one request.

    Omitted columns are derived: ``batch_indexes`` = 0..n-1, ``timestamps_us`` parsed from each
    ``timestamp``, ``fingerprints`` per §4.7, ``raws`` = the event serialised as JSON,
    ``session_ids`` lower-cased from the events. Used by the synthetic data generator and as the
    exact fallback of :func:`expand_events`.
    """
    n = len(events)
    if batch_indexes is None:
        batch_indexes = range(n)
    if timestamps_us is None:
        parsed = [parse_timestamp_us(str(e.get("timestamp"))) for e in events]
        if any(ts is None for ts in parsed):
            raise ValueError("events_to_table needs valid timestamps")
        timestamps_us = [ts for ts in parsed if ts is not None]
    if fingerprints is None:
        fingerprints = [fingerprint(e) for e in events]
    if raws is None:
        raws = [json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in events]
    if session_ids is None:
        session_ids = [str(e.get("session_id")).lower() for e in events]
    kinds = [e.get("type") for e in events]
    spool = spool_events_table(
        user_id=user_id,
        received_at=received_at,
        batch_id=batch_id,
        batch_indexes=batch_indexes,
        session_ids=session_ids,
        kinds=[k if k.__class__ is str else None for k in kinds],  # type: ignore[misc]
        timestamps_us=timestamps_us,
        fingerprints=fingerprints,
        raws=raws,
    )
    typed = _typed_columns_python(events, kinds)
    arrays = [
        typed[name] if name in typed else spool.column(name).combine_chunks() for name in EVENT_SCHEMA.names
    ]
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)


def quarantine_table(
    *,
    user_id: str,
    received_at: datetime,
    batch_id: str,
    batch_indexes: Sequence[int],
    reasons: Sequence[str],
    raws: Sequence[bytes | str],
) -> pa.Table:
    """A ``QUARANTINE_SCHEMA`` table: one row per rejected event, its JSON kept verbatim."""
    n = len(batch_indexes)
    received_us = epoch_us(received_at)
    return pa.Table.from_arrays(
        [
            pa.array([user_id] * n, pa.string()),
            pa.array([received_us] * n, TS),
            pa.array([batch_id] * n, pa.string()),
            pa.array(batch_indexes, pa.int32()),
            pa.array(reasons, pa.string()),
            _text_array(raws),
        ],
        schema=QUARANTINE_SCHEMA,
    )
