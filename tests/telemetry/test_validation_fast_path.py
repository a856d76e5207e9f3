"""The whole-batch fast path of per-event validation (msgspec Structs) must decide exactly as the
ordered checks of §4.6 (contract checklist 78, 81, 82, 101): every event of every vector, with every
field in turn removed, nulled or replaced by a value of another JSON type, is validated both ways."""

from __future__ import annotations

from typing import Any

import pytest

from devflow.telemetry.validation import (
    all_fields_valid,
    validate_events,
    validate_events_in_order,
)
from tests.telemetry.payloads import all_vector_events, field_variants

VARIANTS = field_variants()

RECEIVED_US = 1_900_000_000_000_000  # 2030: every vector timestamp is in the past
GOOD_PER_BATCH = 5


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
    """Batches mixing valid and invalid events give the same indexes, reasons and values. Each batch
    takes the next few valid vector events in turn, so every one of them meets many invalid ones."""
    good = all_vector_events()
    for batch_no, start in enumerate(range(0, len(VARIANTS), size)):
        first = batch_no * GOOD_PER_BATCH % len(good)
        batch = VARIANTS[start : start + size] + (good + good)[first : first + GOOD_PER_BATCH]
        assert _outcome(validate_events(batch, RECEIVED_US)) == _outcome(
            validate_events_in_order(batch, RECEIVED_US)
        )


def test_valid_vectors_take_the_fast_path() -> None:
    """The extension's own payloads are what the fast path is for."""
    assert all_fields_valid(all_vector_events())
