"""The lake's typed columns hold a value only for the event types that own its field (§4.5): a key of
another type's shape on an event (``file`` on a ``git_activity``) stays in ``raw`` alone, whether the
rows arrive in one request's table or in several tables flushed together."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from devflow.telemetry import events_to_table
from devflow.telemetry.arrow import complete_events, spool_event_schema, typed_struct
from tests.telemetry.payloads import vector_events

RECEIVED = datetime(2026, 5, 14, 16, tzinfo=UTC)


def _table(events: list[dict[str, Any]], batch: str) -> Any:
    return events_to_table(events, user_id="u-1", received_at=RECEIVED, batch_id=batch)


def _columns(table: Any) -> dict[str, list[Any]]:
    return {name: table[name].to_pylist() for name in ("type", "file_path", "affected_line_ranges")}


def test_values_of_fields_another_type_owns_are_left_out() -> None:
    text_change = vector_events("text_change")[0]
    stray = copy.deepcopy(vector_events("git_activity")[0])
    stray["file"] = {"path": "src/not-owned.ts"}
    stray["metrics"] = {"affected_line_ranges": [{"start": 1, "end": 2}]}

    owned_path = text_change["file"]["path"]
    owned_ranges = text_change["metrics"]["affected_line_ranges"]
    expected = {
        "type": ["text_change", "git_activity"],
        "file_path": [owned_path, None],
        "affected_line_ranges": [owned_ranges, None],
    }
    assert owned_ranges  # the vector's event has ranges: a null below is the mask's doing
    # One request's rows, and the same rows flushed from two requests' tables.
    assert _columns(_table([text_change, stray], "b-1")) == expected
    first, second = _table([text_change], "b-1"), _table([stray], "b-2")
    assert _columns(first) == {name: values[:1] for name, values in expected.items()}
    assert _columns(second)["file_path"] == [None]
    spooled = [t.select(spool_event_schema().names) for t in (first, second)]
    merged = complete_events(spooled, [typed_struct([text_change]), typed_struct([stray])])
    assert _columns(merged) == expected
    # With no stray value, the owners' values pass through unchanged.
    clean = complete_events(spooled[:1], [typed_struct([text_change])])
    assert _columns(clean) == {name: values[:1] for name, values in expected.items()}
