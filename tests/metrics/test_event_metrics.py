"""The per-event figures the backtest replays (``event_metrics``) add up to exactly the rows the ETL
stores (``session_metrics_frames``), for both line definitions, on random events with duplicates,
ties and odd ranges."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

from devflow.metrics import RAW_COLUMNS, event_metrics, session_metrics_frames
from devflow.telemetry import event_schema

T0 = dt.datetime(2026, 5, 10, 23, 0, tzinfo=dt.UTC)


def _row(rng: random.Random, i: int) -> dict[str, Any]:
    kind = rng.choice(["text_change", "text_change", "file_save", "editor_switch", "terminal_open"])
    # "/home/x/a.ts" is also another row's absolute path: one file key reached through either column.
    path = rng.choice(["a.ts", "b.ts", "/abs/c.ts", "/home/x/a.ts"])
    row: dict[str, Any] = {f.name: None for f in event_schema()}
    row.update(
        user_id=rng.choice(["u1", "u2"]),
        session_id=rng.choice(["s1", "s2", "s3", "s4"]),
        type=kind,
        timestamp=T0 + dt.timedelta(minutes=rng.randrange(0, 180)),  # crosses midnight, many ties
        received_at=T0 + dt.timedelta(hours=rng.randrange(0, 3)),
        batch_id=f"b{rng.randrange(0, 5)}",
        batch_index=i,
        # Duplicates within and across sessions; a real fingerprint hashes the type too.
        fingerprint=f"{kind}-fp{rng.randrange(0, 200)}",
        raw="{}",
    )
    if kind in ("text_change", "file_save"):
        row.update(
            file_path=path,
            file_absolute_path=rng.choice(["", None, "/home/x/" + path]),
            file_lines=rng.choice([None, *range(1, 40)]),
        )
    if kind == "text_change":
        start = rng.randrange(1, 30)
        row.update(
            characters_added=rng.choice([0, 1, 5, 60, 400]),
            characters_deleted=rng.choice([0, 2]),
            affected_line_ranges=rng.choice(
                [
                    None,
                    [],
                    [{"start": start, "end": start + rng.randrange(-2, 6)}],
                    [{"start": 1, "end": 1}] * 2,
                ]
            ),
        )
    if kind == "editor_switch":
        row.update(
            to_file=rng.choice([None, "", "a.ts", "b.ts"]), is_rapid_context_switching=rng.random() < 0.5
        )
    return row


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("definition", ["line-delta", "typing-heuristic"])
def test_event_figures_sum_to_the_stored_rows(seed: int, definition: str) -> None:
    rng = random.Random(seed)
    table = pa.Table.from_pylist([_row(rng, i) for i in range(600)], schema=event_schema())
    raw = table.select(list(RAW_COLUMNS))
    stored = pl.from_arrow(session_metrics_frames(raw, definition).session_day)
    assert isinstance(stored, pl.DataFrame)
    totals = stored.select(
        "user_id", "session_id", "date", "lines_added", "lines_deleted", "switch_count", "rapid_switch_count"
    )
    per_event = event_metrics(raw, definition)
    # De-duplicated: each (session_id, fingerprint) once, whatever the copies.
    assert (
        per_event.height
        == table.filter(
            pa.compute.is_in(table["type"], pa.array(["text_change", "file_save", "editor_switch"]))
        )
        .select(["session_id", "fingerprint"])
        .group_by(["session_id", "fingerprint"])
        .aggregate([])
        .num_rows
    )
    summed = (
        per_event.group_by("user_id", "session_id", pl.col("timestamp").dt.date().alias("date"))
        .agg(
            pl.col("lines_added").sum(),
            pl.col("lines_deleted").sum(),
            pl.col("switches").sum().alias("switch_count"),
            pl.col("rapid").sum().alias("rapid_switch_count"),
        )
        .sort("user_id", "session_id", "date")
    )
    assert totals.height > 0 and int(totals["lines_added"].sum()) > 0
    assert summed.to_dicts() == totals.sort("user_id", "session_id", "date").to_dicts()
