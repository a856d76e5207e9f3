"""The spool's two record shapes (Arrow tables, and the ingest's Python column lists) read back as
written, convert to the table's types, and replay to exactly the rows a live flush writes."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy.orm import Session, sessionmaker

from devflow.analytics.events_view import connect_lake
from devflow.kernel.clock import epoch_us
from devflow.lake.spool.records import encode_record, read_records
from devflow.lake.spool.writer import Append, LakeWriter
from devflow.lake.storage import LakeStorage
from devflow.lake.tables import Columns, as_tables
from devflow.telemetry import EVENTS_DIR, TELEMETRY_TABLES
from devflow.telemetry.arrow import (
    events_to_table,
    fingerprint,
    spool_event_schema,
    spool_events_columns,
    typed_struct,
)
from devflow.telemetry.timestamps import parse_timestamp_us
from tests.lake.test_files import vector_events

RECEIVED = datetime(2026, 5, 14, 16, tzinfo=UTC)


def _columns(user_id: str, events: list[dict[str, Any]]) -> Columns:
    """The rows the ingest route spools for ``events`` (raw JSON as bytes, as it keeps them)."""
    stamps = [parse_timestamp_us(e["timestamp"]) for e in events]
    return spool_events_columns(
        user_id=user_id,
        received_at=RECEIVED,
        batch_id=f"batch-{user_id}",
        batch_indexes=range(len(events)),
        session_ids=[e["session_id"].lower() for e in events],
        kinds=[e["type"] for e in events],
        timestamps_us=[s for s in stamps if s is not None],
        fingerprints=[fingerprint(e) for e in events],
        raws=[json.dumps(e, ensure_ascii=False).encode() for e in events],
    )


def test_both_record_shapes_read_back_as_written() -> None:
    events = vector_events()[:5]
    columns = _columns("u-1", events)
    table = events_to_table(events, user_id="u-2", received_at=RECEIVED, batch_id="b-2")
    data = encode_record(1, columns) + encode_record(2, table)
    [(code_1, read_columns), (code_2, read_table)] = read_records(data + data[:7])  # a torn third
    assert (code_1, code_2) == (1, 2)
    assert read_columns == columns
    assert read_table.equals(table)


def test_columns_convert_in_order_with_tables_between() -> None:
    events = vector_events()
    first, second = _columns("u-1", events[:3]), _columns("u-2", events[3:7])
    table = as_tables([first], spool_event_schema())[0]
    other = Columns(num_rows=2, lists={"session_id": ["s-1", "s-2"]})
    parts = as_tables([first, second, table, other], spool_event_schema())
    assert [t.num_rows for t in parts] == [3, 4, 3, 2]
    assert parts[0].schema == spool_event_schema()
    assert parts[1]["user_id"].to_pylist() == ["u-2"] * 4
    assert parts[1]["received_at"].to_pylist() == [RECEIVED] * 4
    assert parts[1]["timestamp"].to_pylist()[0].isoformat().startswith(events[3]["timestamp"][:19])
    assert parts[1]["raw"].type == pa.string()
    assert [json.loads(r) for r in parts[1]["raw"].to_pylist()] == events[3:7]
    assert parts[2].equals(table)
    assert parts[3].column_names == ["session_id"]
    assert parts[3]["session_id"].to_pylist() == ["s-1", "s-2"]
    assert epoch_us(RECEIVED) == parts[0]["received_at"].cast(pa.int64()).to_pylist()[0]


def _typed_rows(storage: LakeStorage, user_id: str) -> list[tuple[Any, ...]]:
    return (
        connect_lake(storage)
        .sql(
            "SELECT * EXCLUDE (user_id, batch_id, date) FROM events_all WHERE user_id = ? "
            "ORDER BY batch_index",
            params=[user_id],
        )
        .fetchall()
    )


def test_a_replayed_spool_writes_the_rows_a_live_flush_writes(
    storage: LakeStorage, db: sessionmaker[Session], tmp_path: Path
) -> None:
    """Columns spooled with their typed companion and flushed live, and the same Columns replayed from
    a dead writer's segment (typed columns derived from the raw JSON), give identical lake rows."""
    events = vector_events()
    live = LakeWriter(storage, db, tmp_path / "live", TELEMETRY_TABLES, flush_interval_seconds=10).start()
    live.append(Append(EVENTS_DIR, _columns("live", events), memo=typed_struct(events)))
    live.stop()

    spool = tmp_path / "dead"
    dead = LakeWriter(storage, db, spool, TELEMETRY_TABLES, flush_interval_seconds=10).start()
    dead.append(Append(EVENTS_DIR, _columns("replayed", events), memo=typed_struct(events)))
    assert dead._segment is not None
    os.close(dead._segment.fd)  # what a kill -9 leaves: the segment, its lock released
    dead._segment = None
    survivor = LakeWriter(storage, db, spool, TELEMETRY_TABLES, flush_interval_seconds=10).start()
    assert not list(spool.glob("*.spool"))
    survivor.stop()
    dead._stop.set()  # its flusher thread ends (a killed process's threads are gone)
    dead._wake.set()

    live_rows, replayed_rows = _typed_rows(storage, "live"), _typed_rows(storage, "replayed")
    assert len(live_rows) == len(events)
    assert replayed_rows == live_rows
