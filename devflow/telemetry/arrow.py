"""Accepted telemetry events → rows of the lake's ``event_schema()`` (contract §4.5, §4.7).

A request appends to the spool only what identifies and orders its events plus their raw JSON
(``spool_event_schema()``, as Python lists: :func:`spool_events_columns`); the typed columns travel
next to it in memory as one Arrow struct (:func:`typed_struct`) and are flattened into columns when
the spool is flushed (:func:`complete_events`). There is one way to build the typed columns:
``pa.array`` over the decoded events with the struct type derived from the field table of
:mod:`devflow.telemetry.schema`. Rows replayed after a crash, and the synthetic generator's events,
go the same way (their raw JSON decoded first). A value is placed in a typed column only for the
event types that own the field, so a key the validator did not check for an event's type (``file``
on a ``git_activity``) can never break the table; the ``raw`` column keeps everything.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec

from devflow.kernel.clock import epoch_us
from devflow.kernel.lazy import pa, pc
from devflow.lake.tables import Columns, as_tables, text_column
from devflow.telemetry.schema import (
    EVENT_FIELDS,
    WORKSPACE,
    EventField,
    ValueKind,
    event_schema,
    quarantine_schema,
)
from devflow.telemetry.timestamps import parse_timestamp_us

_sorted_encoder = msgspec.json.Encoder(order="sorted")


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


# -- the typed columns ---------------------------------------------------------------------------------


def _column_fields() -> dict[str, tuple[EventField, frozenset[str]]]:
    """Each typed column: the field that fills it and the event types that own that field."""
    columns: dict[str, tuple[EventField, frozenset[str]]] = {
        "workspace": (WORKSPACE, frozenset(EVENT_FIELDS))
    }
    for kind, fields in EVENT_FIELDS.items():
        for spec in fields:
            assert spec.column is not None
            known, owners = columns.get(spec.column, (spec, frozenset()))
            columns[spec.column] = (known, owners | {kind})
    return columns


_COLUMN_FIELDS = _column_fields()


@functools.cache
def typed_column_names() -> tuple[str, ...]:
    """The lake columns filled from typed fields, in ``event_schema()`` order."""
    return tuple(name for name in event_schema().names if name in _COLUMN_FIELDS)


@functools.cache
def _struct_type() -> pa.StructType:
    """The events' typed fields as pyarrow should convert them (other keys are ignored)."""
    top: dict[str, pa.DataType] = {}
    nested: dict[str, dict[str, pa.DataType]] = {}
    for column in typed_column_names():
        spec, _ = _COLUMN_FIELDS[column]
        arrow_type = event_schema().field(column).type
        if spec.parent is None:
            top[spec.key] = arrow_type
        else:
            nested.setdefault(spec.parent, {})[spec.key] = arrow_type
    fields = [pa.field(key, arrow_type) for key, arrow_type in top.items()]
    fields += [pa.field(parent, pa.struct(list(children.items()))) for parent, children in nested.items()]
    return pa.struct(fields)


@functools.cache
def spool_event_schema() -> pa.Schema:
    """What one request appends to the spool: identity, ordering and the raw JSON (the typed struct
    stays in memory next to it, see the module doc)."""
    schema = event_schema()
    return pa.schema([schema.field(name) for name in schema.names if name not in typed_column_names()])


def _as_float(value: Any) -> float | None:
    """A JSON number as a double; an integer beyond the double range has no typed value (``raw`` keeps it)."""
    try:
        return float(value)
    except (OverflowError, TypeError, ValueError):
        return None


def _owned_fields(event: Mapping[str, Any]) -> dict[str, Any]:
    """Only the keys the event's type owns (values of other keys may have any type), numbers as doubles."""
    kind = event.get("type")
    projected: dict[str, Any] = {WORKSPACE.key: event.get(WORKSPACE.key)}
    for spec in EVENT_FIELDS.get(kind, ()) if isinstance(kind, str) else ():
        assert spec.parent is not None
        parent = event.get(spec.parent)
        if isinstance(parent, dict) and spec.key in parent:
            value = parent[spec.key]
            if spec.kind is ValueKind.NUMBER and value is not None:
                value = _as_float(value)
            projected.setdefault(spec.parent, {})[spec.key] = value
    if not isinstance(projected[WORKSPACE.key], str):
        projected[WORKSPACE.key] = None
    return projected


def typed_struct(events: Sequence[Mapping[str, Any]]) -> pa.StructArray:
    """The validated events' typed fields as one struct array.

    The whole events convert in one C call when nothing stands in the way; otherwise (a key of another
    event type holding a value of another shape) each event is first cut down to the keys its type
    owns, which the validator has checked.
    """
    try:
        return pa.array(events, type=_struct_type())
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
        return pa.array([_owned_fields(e) for e in events], type=_struct_type())


def _flatten(
    struct: pa.StructArray | pa.ChunkedArray, kinds: pa.ChunkedArray | pa.Array
) -> dict[str, pa.Array]:
    """The typed columns out of an struct array: each value kept only on the event types
    that own its field (elsewhere it was another key, converted loosely or not at all)."""
    struct = struct.combine_chunks() if isinstance(struct, pa.ChunkedArray) else struct
    masks: dict[frozenset[str], pa.Array | None] = {}
    columns: dict[str, pa.Array] = {}
    for name in typed_column_names():
        spec, owners = _COLUMN_FIELDS[name]
        if spec.parent is None:
            column = pc.struct_field(struct, [spec.key])
        else:
            column = pc.struct_field(struct, [spec.parent, spec.key])
            if owners not in masks:
                mask = pc.fill_null(pc.is_in(kinds, value_set=pa.array(sorted(owners))), False)
                masks[owners] = None if pc.all(mask).as_py() else mask
            mask = masks[owners]
            # Only when some other type's event filled it: ``if_else`` is slow on list columns.
            if mask is not None and pc.any(pc.and_(pc.is_valid(column), pc.invert(mask))).as_py():
                column = pc.if_else(mask, column, pa.scalar(None, column.type))
        wanted = event_schema().field(name).type
        columns[name] = column if column.type == wanted else column.cast(wanted)
    return columns


def _decoded(raws: pa.ChunkedArray | pa.Array) -> list[dict[str, Any]]:
    values = [msgspec.json.decode(raw) for raw in raws.to_pylist()]
    return [v if isinstance(v, dict) else {} for v in values]


def complete_events(spooled: Sequence[pa.Table], structs: Sequence[object | None]) -> pa.Table:
    """The ``event_schema()`` rows of appended spool tables (the lake's ``finish`` of the events table).

    A table appended by a request carries its :func:`typed_struct` as memo; a replayed one (memo None)
    has its raw JSON decoded and converted the same way.
    """
    arrays = [
        s if isinstance(s, pa.StructArray) else typed_struct(_decoded(t.column("raw")))
        for t, s in zip(spooled, structs, strict=True)
    ]
    # One chunk per column: the partition split and the Parquet writer are slower over many small
    # chunks (one per request) than the copy that joins them (impossible beyond 2 GiB of one column).
    table = pa.concat_tables(spooled) if len(spooled) > 1 else spooled[0]
    with contextlib.suppress(pa.ArrowInvalid):
        table = table.combine_chunks()
    struct = pa.chunked_array(arrays, type=_struct_type())
    typed = _flatten(struct, table.column("type"))
    schema = event_schema()
    columns = [typed[name] if name in typed else table.column(name) for name in schema.names]
    return pa.Table.from_arrays(columns, schema=schema)


def spool_events_columns(
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
) -> Columns:
    """The accepted events of one request as rows of ``spool_event_schema()``, in the lists a request
    spools (they become Arrow at the flush, see :func:`devflow.lake.tables.as_tables`)."""
    return Columns(
        num_rows=len(batch_indexes),
        lists={
            "session_id": list(session_ids),
            "type": list(kinds),
            "timestamp": list(timestamps_us),
            "batch_index": list(batch_indexes),
            "fingerprint": list(fingerprints),
        },
        constants={"user_id": user_id, "received_at": epoch_us(received_at), "batch_id": batch_id},
        texts={"raw": text_column(raws)},
    )


def spool_table(rows: Columns) -> pa.Table:
    """:func:`spool_events_columns` rows as a ``spool_event_schema()`` table (generators and tests)."""
    [table] = as_tables([rows], spool_event_schema())
    return table


def events_to_table(
    events: Sequence[Mapping[str, Any]],
    *,
    user_id: str,
    received_at: datetime,
    batch_id: str,
    batch_indexes: Sequence[int] | None = None,
    fingerprints: Sequence[str] | None = None,
) -> pa.Table:
    """An ``event_schema()`` table for already-validated events of one user and one request, built the
    way a request's rows are (for generators and tests that write the lake directly)."""
    n = len(events)
    parsed = [parse_timestamp_us(str(e.get("timestamp"))) for e in events]
    if any(ts is None for ts in parsed):
        raise ValueError("events_to_table needs valid timestamps")
    spool = spool_events_columns(
        user_id=user_id,
        received_at=received_at,
        batch_id=batch_id,
        batch_indexes=batch_indexes if batch_indexes is not None else range(n),
        session_ids=[str(e.get("session_id")).lower() for e in events],
        kinds=[str(e.get("type")) for e in events],
        timestamps_us=[ts for ts in parsed if ts is not None],
        fingerprints=fingerprints if fingerprints is not None else [fingerprint(e) for e in events],
        raws=[json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in events],
    )
    return complete_events([spool_table(spool)], [typed_struct(events)])


def quarantine_table(
    *,
    user_id: str,
    received_at: datetime,
    batch_id: str,
    batch_indexes: Sequence[int],
    reasons: Sequence[str],
    raws: Sequence[bytes | str],
) -> pa.Table:
    """A ``quarantine_schema()`` table: one row per rejected event, its JSON kept verbatim."""
    rows = Columns(
        num_rows=len(batch_indexes),
        lists={"batch_index": list(batch_indexes), "reason": list(reasons)},
        constants={"user_id": user_id, "received_at": epoch_us(received_at), "batch_id": batch_id},
        texts={"raw": text_column(raws)},
    )
    [table] = as_tables([rows], quarantine_schema())
    return table
