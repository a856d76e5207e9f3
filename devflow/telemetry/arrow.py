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
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pyarrow as pa

from devflow.lake.schema import EVENT_SCHEMA, LINE_RANGE, QUARANTINE_SCHEMA, TS
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


def _str(value: Any) -> str | None:
    return value if value.__class__ is str else None


def _int(value: Any) -> int | None:
    if value.__class__ is int:
        return value if INT64_MIN <= value <= INT64_MAX else None
    if value.__class__ is float and value.is_integer() and INT64_MIN <= value <= INT64_MAX:
        return int(value)
    return None


def _bool(value: Any) -> bool | None:
    return value if value.__class__ is bool else None


def _number(value: Any) -> float | None:
    if value.__class__ is int or value.__class__ is float:
        return float(value)
    return None


def _obj(value: Any) -> dict[str, Any]:
    return value if value.__class__ is dict else _EMPTY


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
) -> pa.Table:
    """An ``EVENT_SCHEMA`` table for already-validated events of one user and one request.

    Omitted columns are derived: ``batch_indexes`` = 0..n-1, ``timestamps_us`` parsed from each
    ``timestamp``, ``fingerprints`` per §4.7, ``raws`` = the event serialised as JSON. The
    ingest route passes them in because it has them already (``raws`` are the request's own bytes).
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
    received_us = epoch_us(received_at)

    files = [_obj(e.get("file")) for e in events]
    metrics = [_obj(e.get("metrics")) for e in events]
    froms = [_obj(e.get("from")) for e in events]
    tos = [_obj(e.get("to")) for e in events]
    debugs = [_obj(e.get("debug")) for e in events]
    terminals = [_obj(e.get("terminal")) for e in events]
    gits = [_obj(e.get("git")) for e in events]

    def strings(objs: Sequence[Mapping[str, Any]], key: str) -> pa.Array:
        return pa.array([_str(o.get(key)) for o in objs], pa.string())

    def ints(objs: Sequence[Mapping[str, Any]], key: str) -> pa.Array:
        return pa.array([_int(o.get(key)) for o in objs], pa.int64())

    def bools(objs: Sequence[Mapping[str, Any]], key: str) -> pa.Array:
        return pa.array([_bool(o.get(key)) for o in objs], pa.bool_())

    columns: dict[str, pa.Array] = {
        "user_id": pa.array([user_id] * n, pa.string()),
        "session_id": pa.array([str(e.get("session_id")).lower() for e in events], pa.string()),
        "type": strings(events, "type"),
        "timestamp": pa.array(timestamps_us, pa.int64()).cast(TS),
        "received_at": pa.array([received_us] * n, pa.int64()).cast(TS),
        "batch_id": pa.array([batch_id] * n, pa.string()),
        "batch_index": pa.array(batch_indexes, pa.int32()),
        "fingerprint": pa.array(fingerprints, pa.string()),
        "workspace": strings(events, "workspace"),
        "file_path": strings(files, "path"),
        "file_name": strings(files, "name"),
        "file_absolute_path": strings(files, "absolute_path"),
        "file_extension": strings(files, "extension"),
        "file_language": strings(files, "language"),
        "file_workspace": strings(files, "workspace"),
        "file_lines": ints(files, "lines"),
        "file_size_bytes": ints(files, "size_bytes"),
        "characters_added": ints(metrics, "characters_added"),
        "characters_deleted": ints(metrics, "characters_deleted"),
        "change_count": ints(metrics, "change_count"),
        "affected_line_ranges": pa.array(
            [_ranges(m.get("affected_line_ranges")) for m in metrics], pa.list_(LINE_RANGE)
        ),
        "edit_duration_ms": ints(metrics, "edit_duration_ms"),
        "is_large_paste": bools(metrics, "is_large_paste"),
        "is_possible_rewrite": bools(metrics, "is_possible_rewrite"),
        "is_possible_undo_cycle": bools(metrics, "is_possible_undo_cycle"),
        "from_file": strings(froms, "file"),
        "from_language": strings(froms, "language"),
        "from_module": strings(froms, "module"),
        "to_file": strings(tos, "file"),
        "to_language": strings(tos, "language"),
        "to_module": strings(tos, "module"),
        "switch_interval_seconds": pa.array(
            [_number(m.get("switch_interval_seconds")) for m in metrics], pa.float64()
        ),
        "is_cross_module_switch": bools(metrics, "is_cross_module_switch"),
        "is_rapid_context_switching": bools(metrics, "is_rapid_context_switching"),
        "debug_name": strings(debugs, "name"),
        "debug_type": strings(debugs, "type"),
        "debug_launch_configuration_name": strings(debugs, "launch_configuration_name"),
        "terminal_name": strings(terminals, "name"),
        "terminal_shell_type": strings(terminals, "shell_type"),
        "git_changed_files_count": ints(gits, "changed_files_count"),
        "git_branch": strings(gits, "branch"),
        "raw": pa.array(raws, pa.string()),
    }
    return pa.Table.from_arrays([columns[f.name] for f in EVENT_SCHEMA], schema=EVENT_SCHEMA)


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
            pa.array([received_us] * n, pa.int64()).cast(TS),
            pa.array([batch_id] * n, pa.string()),
            pa.array(batch_indexes, pa.int32()),
            pa.array(reasons, pa.string()),
            pa.array(raws, pa.string()),
        ],
        schema=QUARANTINE_SCHEMA,
    )
