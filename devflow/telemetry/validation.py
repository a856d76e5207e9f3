"""Per-event validation of telemetry (contract §4.6): the first failing check gives the reason.

Checks 1–8 need only the event itself and run here; check 9 (session ownership) needs the database
and is applied by :mod:`devflow.telemetry.sessions`. A field is *missing* when it is absent or
``null``; ``null`` for an optional field means absent. Integers are JSON numbers without a
fractional part that fit in int64 (larger ones are ``invalid_field``); booleans are ``true`` /
``false`` only. A required container is checked before its fields and reported by its own path
(contract 1.1): a ``git_activity`` without ``git`` (or with ``"git": null``) is
``missing_field:git``, one with ``"git": 5`` is ``invalid_field:git``.

Both ways of deciding come from the one field table of :mod:`devflow.telemetry.schema`: the ordered
per-field checks (which also name the reason), and msgspec Structs built from the same table that
check a whole batch in C. The Structs decide only "every event passes checks 1, 2 and 6–8"; when any
event fails, the ordered checks find each event's reason.
"""

from __future__ import annotations

import functools
import keyword
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec

from devflow.telemetry.schema import EVENT_FIELDS, EVENT_TYPES, WORKSPACE, EventField, ValueKind
from devflow.telemetry.timestamps import parse_timestamp_us

FUTURE_TOLERANCE_US = 3600 * 1_000_000  # timestamp ≤ receive time + 1 hour (check 5)
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_KNOWN_TYPES = frozenset(EVENT_TYPES)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_int(value: Any) -> bool:
    """A JSON number without fractional part, within int64 (``true`` is not an integer)."""
    if value.__class__ is int:
        return INT64_MIN <= value <= INT64_MAX
    return value.__class__ is float and value.is_integer() and INT64_MIN <= value <= INT64_MAX


def _line_ranges_reason(value: Any, path: str) -> str | None:
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


_CHECKS: dict[ValueKind, Callable[[Any], bool]] = {
    ValueKind.STRING: lambda v: v.__class__ is str,
    ValueKind.INTEGER: is_int,
    ValueKind.POSITIVE_INTEGER: lambda v: is_int(v) and v >= 1,
    ValueKind.NATURAL_INTEGER: lambda v: is_int(v) and v >= 0,
    ValueKind.BOOLEAN: lambda v: v.__class__ is bool,
    ValueKind.NUMBER: lambda v: v.__class__ is int or v.__class__ is float,
}


def _value_reason(spec: EventField, value: Any) -> str | None:
    if spec.kind is ValueKind.LINE_RANGES:
        return _line_ranges_reason(value, spec.path)
    return None if _CHECKS[spec.kind](value) else f"invalid_field:{spec.path}"


def field_reason(event: dict[str, Any], kind: str) -> str | None:
    """Checks 6–8 for an event whose ``type`` is ``kind``: the reason of the first failure, or None."""
    workspace = event.get(WORKSPACE.key)
    if workspace is None:
        return f"missing_field:{WORKSPACE.path}"
    if workspace.__class__ is not str:
        return f"invalid_field:{WORKSPACE.path}"
    for spec in EVENT_FIELDS[kind]:
        parent = event.get(spec.parent) if spec.parent is not None else event
        if parent is None:
            if spec.required:
                return f"missing_field:{spec.parent}"
            continue
        if parent.__class__ is not dict:
            return f"invalid_field:{spec.parent}"
        value = parent.get(spec.key)
        if value is None:
            if spec.required:
                return f"missing_field:{spec.path}"
            continue
        reason = _value_reason(spec, value)
        if reason is not None:
            return reason
    return None


# -- whole-batch decision in C ----------------------------------------------------------------------
# Converting a batch to ``list[<union of one Struct per type>]`` succeeds only when every event is an
# object of a known type whose known fields all pass checks 6–8 (unknown keys are ignored, as the
# lake's ``raw`` column keeps them). msgspec's ``int`` refuses ``1.0``, which the checks accept: such
# a batch merely takes the ordered path.

_Int64 = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]


class _Range(msgspec.Struct, gc=False):
    start: _Int64
    end: _Int64


_MSGSPEC_TYPES: dict[ValueKind, Any] = {
    ValueKind.STRING: str,
    ValueKind.INTEGER: _Int64,
    ValueKind.POSITIVE_INTEGER: Annotated[int, msgspec.Meta(ge=1, le=INT64_MAX)],
    ValueKind.NATURAL_INTEGER: Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)],
    ValueKind.BOOLEAN: bool,
    ValueKind.NUMBER: float,  # msgspec's float takes JSON integers too, never booleans
    ValueKind.LINE_RANGES: list[_Range],
}


def _attribute(name: str) -> str:
    """A Struct attribute for a JSON key: keywords (``from``) get a trailing underscore and a rename."""
    return f"{name}_" if keyword.iskeyword(name) else name


def _field_def(name: str, annotation: Any, required: bool) -> tuple[Any, ...]:
    if required:
        return (_attribute(name), annotation)
    return (_attribute(name), annotation | None, None)


def _renames(names: Sequence[str]) -> dict[str, str]:
    return {_attribute(n): n for n in names if _attribute(n) != n}


def _event_struct(kind: str) -> type[msgspec.Struct]:
    fields = EVENT_FIELDS[kind]
    parents: dict[str, list[EventField]] = {}
    for spec in fields:
        assert spec.parent is not None  # top-level keys other than workspace are not type-specific
        parents.setdefault(spec.parent, []).append(spec)
    definitions: list[tuple[Any, ...]] = [(WORKSPACE.key, str)]
    for parent, specs in parents.items():
        container = msgspec.defstruct(
            f"_{kind}_{parent}",
            [_field_def(s.key, _MSGSPEC_TYPES[s.kind], s.required) for s in specs],
            gc=False,
        )
        definitions.append(_field_def(parent, container, any(s.required for s in specs)))
    ordered = [d for d in definitions if len(d) == 2] + [d for d in definitions if len(d) == 3]
    return msgspec.defstruct(
        f"_{kind}",
        ordered,
        tag_field="type",
        tag=kind,
        gc=False,
        rename=_renames([WORKSPACE.key, *parents]),
    )


# A tagged union on "type": msgspec picks each event's Struct from its tag.
_batch_type: Any = list[functools.reduce(operator.or_, (_event_struct(kind) for kind in EVENT_TYPES))]  # type: ignore[misc]


def all_fields_valid(events: Sequence[Any]) -> bool:
    """True when every event passes checks 1, 2 and 6–8 (one C-level pass over the batch)."""
    try:
        msgspec.convert(events, _batch_type)
    except msgspec.ValidationError:
        return False
    return True


@dataclass(slots=True)
class ValidatedBatch:
    """Outcome of checks 1–8 for one request: parallel lists for the accepted events."""

    indexes: list[int] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    session_ids: list[str] = field(default_factory=list)  # lower-cased
    timestamps_us: list[int] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (index, reason), ascending


def validate_events(events: Sequence[Any], received_at_us: int) -> ValidatedBatch:
    """Run checks 1–8 of §4.6 on every event, in array order."""
    return _validate(events, received_at_us, fields_known_valid=all_fields_valid(events))


def validate_events_in_order(events: Sequence[Any], received_at_us: int) -> ValidatedBatch:
    """Checks 1–8 of §4.6 for each event in turn (the reference the whole-batch decision must agree with)."""
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
            if kind.__class__ is not str or kind not in _KNOWN_TYPES:
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
