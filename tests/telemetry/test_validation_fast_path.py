"""The whole-batch fast path of per-event validation (msgspec Structs) must decide exactly as the
ordered checks of §4.6 (contract checklist 78, 81, 82, 101): every event of every vector, with every
field in turn removed, nulled or replaced by a value of another JSON type, is validated both ways."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from devflow.telemetry.validation import (
    all_fields_valid,
    validate_events,
    validate_events_in_order,
)
from tests.conftest import VECTORS
from tests.telemetry.payloads import vector_events

RECEIVED_US = 1_900_000_000_000_000  # 2030: every vector timestamp is in the past
_DELETE = object()
REPLACEMENTS: tuple[Any, ...] = (
    _DELETE, None, "", "x", 0, 1, -1, 1.0, 1.5, True, False, [], {}, [{"start": 1}], 2**63, -(2**63) - 1,
)  # fmt: skip


def _all_vector_events() -> list[dict[str, Any]]:
    names = sorted({path.stem.removeprefix("telemetry-") for path in VECTORS.glob("telemetry-*.json")})
    events: list[dict[str, Any]] = []
    for name in names:
        events += vector_events(name)
    return events


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path of a JSON value (objects and lists, leaves included)."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield (*prefix, i)
            yield from _paths(child, (*prefix, i))


def _mutated(event: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(event)
    target: Any = out
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        if isinstance(target, list):
            del target[path[-1]]
        else:
            target.pop(path[-1])
    else:
        target[path[-1]] = value
    return out


def _variants() -> list[Any]:
    events = _all_vector_events()
    assert len(events) >= 6
    variants: list[Any] = [*events, None, 5, "event", [], {}]
    for event in events:
        for path in _paths(event):
            for value in REPLACEMENTS:
                variants.append(_mutated(event, path, value))
        for parent in ("file", "metrics", "from", "to", "debug", "terminal", "git"):
            variants.append({**copy.deepcopy(event), parent: {"path": "p", "unexpected": 1}})
    return variants


VARIANTS = _variants()


def _outcome(batch: Any) -> tuple[Any, ...]:
    return (batch.indexes, batch.rejected, batch.session_ids, batch.timestamps_us)


def test_fast_path_agrees_with_ordered_checks_on_every_single_event_variant() -> None:
    accepted = rejected = 0
    for event in VARIANTS:
        reference = validate_events_in_order([event], RECEIVED_US)
        ok = not reference.rejected
        if all_fields_valid([event]):
            # The fast path may only skip checks 1, 2, 6–8: the event must pass them in order too.
            reasons = [reason for _, reason in reference.rejected]
            assert all(
                r in {"invalid_session_id", "invalid_timestamp", "timestamp_in_future"} for r in reasons
            ), (event, reasons)
        assert _outcome(validate_events([event], RECEIVED_US)) == _outcome(reference), event
        accepted += ok
        rejected += not ok
    # The variants exercise both outcomes many times over.
    assert accepted > 50 and rejected > 200, (accepted, rejected)


@pytest.mark.parametrize("size", [2, 7, 100])
def test_fast_path_agrees_on_mixed_batches(size: int) -> None:
    """Batches mixing valid and invalid events give the same indexes, reasons and values."""
    good = _all_vector_events()
    for start in range(0, len(VARIANTS), size):
        batch = VARIANTS[start : start + size] + good
        assert _outcome(validate_events(batch, RECEIVED_US)) == _outcome(
            validate_events_in_order(batch, RECEIVED_US)
        )


def test_valid_vectors_take_the_fast_path() -> None:
    """The extension's own payloads are what the fast path is for."""
    assert all_fields_valid(_all_vector_events())
