"""Storage, partitioned writes, registration and readers of the lake (docs/design.md flow 2)."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devflow.analytics.events_view import connect_lake, scan_events
from devflow.lake.partitions import write_partitioned
from devflow.lake.registry import LakeFile, register_files, register_unlisted_files
from devflow.lake.storage import LakeStorage
from devflow.telemetry import EVENTS_DIR, EVENTS_TABLE, event_schema
from devflow.telemetry.arrow import (
    complete_events,
    events_to_table,
    fingerprint,
    spool_event_schema,
    typed_column_names,
    typed_struct,
)
from devflow.telemetry.schema import EVENT_FIELDS, WORKSPACE, ValueKind
from devflow.telemetry.validation import validate_events
from tests.conftest import VECTORS
from tests.support.lake import write_event_files
from tests.telemetry.payloads import field_variants


def vector_events() -> list[dict[str, Any]]:
    """Every event of every telemetry vector."""
    events: list[dict[str, Any]] = []
    for path in sorted(VECTORS.glob("telemetry-*.json")):
        events += json.loads(path.read_text())["events"]
    return events


def _table(events: list[dict[str, Any]], user: str = "u1") -> Any:
    return events_to_table(events, user_id=user, received_at=datetime.now(UTC), batch_id=str(uuid.uuid4()))


def test_atomic_write_and_listing(storage: LakeStorage) -> None:
    """A write leaves exactly the final file (no temporary name), listed with its partition."""
    table = _table(vector_events())
    storage.write_parquet_atomic("events/date=2026-05-14/part-a.parquet", table)
    (Path(storage.root) / "events/date=2026-05-14/part-b.parquet.123.tmp").write_bytes(b"partial")
    listed = [f.path for f in storage.list_parquet(EVENTS_DIR)]
    assert listed == ["events/date=2026-05-14/part-a.parquet"]
    assert storage.list_partitions(EVENTS_DIR) == ["2026-05-14"]
    assert storage.row_count(listed[0]) == table.num_rows
    assert storage.read_table(listed[0]).schema.names == event_schema().names  # no Hive column inside


def test_write_event_files_split_sorted_registered(storage: LakeStorage, db: sessionmaker[Session]) -> None:
    """One file per UTC date, rows sorted by (user_id, timestamp), registered after the rename with
    ingested_rows = row_count; registering again is a no-op."""
    events = vector_events()
    shifted = json.loads(json.dumps(events[:5]))
    for e in shifted:
        e["timestamp"] = "2026-05-13T23:59:59.999+00:00"
    table = _table(events + shifted, user="u2")
    files = write_event_files(storage, db, table)
    assert sorted(f.partition_date for f in files) == ["2026-05-13", "2026-05-14"]
    for f in files:
        part = storage.read_table(f.path)
        keys = list(zip(part["user_id"].to_pylist(), part["timestamp"].to_pylist(), strict=True))
        assert keys == sorted(keys)
        assert pq.ParquetFile(storage.full_path(f.path)).metadata.num_row_groups == 1
    with db() as session:
        rows = session.execute(select(LakeFile.path, LakeFile.row_count, LakeFile.ingested_rows)).all()
    assert sorted(rows) == sorted((f.path, f.row_count, f.row_count) for f in files)
    register_files(db, files)
    with db() as session:
        assert len(session.scalars(select(LakeFile.seq)).all()) == len(files)


def test_interleaved_batches_over_three_days_each_land_whole_and_sorted(
    storage: LakeStorage, db: sessionmaker[Session]
) -> None:
    """Batches of two users whose days interleave (as a spool segment collects them, one chunk per
    request): each date's file holds exactly that date's rows, sorted; none is lost or repeated."""
    batches = []
    for n, day in enumerate(["2026-05-14", "2026-05-12", "2026-05-13", "2026-05-14", "2026-05-12"]):
        events = json.loads(json.dumps(vector_events()[:7]))
        for i, e in enumerate(events):
            e["timestamp"] = f"{day}T{23 - i:02d}:00:0{n}.000Z"
        batches.append(_table(events, user=f"u{n % 2}"))
    table = pa.concat_tables(batches)
    files = write_event_files(storage, db, table)
    assert sorted(f.partition_date for f in files) == ["2026-05-12", "2026-05-13", "2026-05-14"]
    seen: list[str] = []
    for f in files:
        part = storage.read_table(f.path)
        assert {ts.date().isoformat() for ts in part["timestamp"].to_pylist()} == {f.partition_date}
        keys = list(zip(part["user_id"].to_pylist(), part["timestamp"].to_pylist(), strict=True))
        assert keys == sorted(keys)
        seen += part["fingerprint"].to_pylist()
    assert sorted(seen) == sorted(table["fingerprint"].to_pylist())


def test_unregistered_file_is_found_by_listing(storage: LakeStorage, db: sessionmaker[Session]) -> None:
    """A crash between rename and INSERT leaves a visible, unregistered ``part-*`` file: listing
    registers it with its rows; an abandoned ``compacted-*`` file is never registered."""
    table = _table(vector_events())
    orphan = write_partitioned(storage, EVENTS_TABLE, table)  # written, never registered
    write_partitioned(storage, EVENTS_TABLE, table, prefix="compacted-", ingested=False)
    found = register_unlisted_files(storage, db, [EVENTS_DIR])
    assert [(f.path, f.ingested_rows) for f in found] == [(orphan[0].path, table.num_rows)]
    assert register_unlisted_files(storage, db, [EVENTS_DIR]) == []


def test_readers_deduplicate_first_in_ingestion_order(
    storage: LakeStorage, db: sessionmaker[Session]
) -> None:
    """DuckDB and Polars views agree; (session_id, fingerprint) pairs count once, keeping the first
    copy in (received_at, batch_id, batch_index) order; an empty lake gives empty, typed views."""
    assert connect_lake(storage).sql("SELECT count(*) FROM events").fetchall() == [(0,)]
    assert scan_events(storage).collect().height == 0
    events = vector_events()
    first = events_to_table(
        events, user_id="u", received_at=datetime(2026, 5, 14, 10, tzinfo=UTC), batch_id="b1"
    )
    later = events_to_table(
        events, user_id="u", received_at=datetime(2026, 5, 14, 11, tzinfo=UTC), batch_id="b0"
    )
    write_event_files(storage, db, later)
    write_event_files(storage, db, first)
    con = connect_lake(storage)
    assert con.sql("SELECT count(*), min(batch_id), max(batch_id) FROM events").fetchall() == [
        (len(events), "b1", "b1")
    ]
    assert con.sql("SELECT count(*) FROM events_all").fetchall() == [(2 * len(events),)]
    frame = scan_events(storage).collect()
    assert frame.height == len(events) and set(frame["batch_id"]) == {"b1"}
    assert scan_events(storage, deduplicate=False).collect().height == 2 * len(events)


def _reference_value(event: dict[str, Any], column: str) -> Any:
    """Row by row: the value a typed column must hold for one accepted event (contract §4.5)."""
    if column == WORKSPACE.column:
        return event.get("workspace")
    for kind, fields in EVENT_FIELDS.items():
        for spec in fields:
            if spec.column != column or event.get("type") != kind:
                continue
            parent = event.get(spec.parent or "")
            value = parent.get(spec.key) if isinstance(parent, dict) else None
            if value is None:
                return None
            if spec.kind in (ValueKind.INTEGER, ValueKind.POSITIVE_INTEGER, ValueKind.NATURAL_INTEGER):
                return int(value)
            if spec.kind is ValueKind.NUMBER:
                try:
                    return float(value)
                except OverflowError:  # beyond the double range: raw keeps it, the column cannot
                    return None
            if spec.kind is ValueKind.LINE_RANGES:
                return [{"start": int(r["start"]), "end": int(r["end"])} for r in value]
            return value
    return None


def _accepted_variants() -> list[dict[str, Any]]:
    """Every single-field variant of the vectors that validation accepts (nulls, 1.0 for integers,
    integers for floats), plus junk of the wrong shape in keys of other event types."""
    received_us = 1_900_000_000_000_000
    sample = [
        v for v in field_variants() if v.__class__ is dict and not validate_events([v], received_us).rejected
    ]
    junk = []
    for event in vector_events():
        for parent, value in (
            ("file", {"lines": 1.5, "path": 3}),
            ("metrics", {"change_count": True, "switch_interval_seconds": "x"}),
            ("git", "not an object"),
            (
                "metrics",
                {
                    "switch_interval_seconds": 10**400,
                    "is_cross_module_switch": False,
                    "is_rapid_context_switching": True,
                },
            ),
            ("from", {"file": 1}),
            ("debug", {"name": 2.5}),
        ):
            junk.append({**event, parent: value})
    junk = [v for v in junk if not validate_events([v], received_us).rejected]
    assert len(sample) > 100 and len(junk) > 10
    return [*sample, *junk]


def test_typed_columns_equal_a_row_by_row_reference() -> None:
    """The one way typed columns are built (``pa.array`` over the decoded events, cut down to the keys
    each event's type owns when some other key would not convert) gives, for every accepted variant,
    exactly the value a row-by-row reading of the event gives."""
    events = _accepted_variants()
    received = datetime(2026, 5, 14, tzinfo=UTC)
    for batch in (events, events[:40], [events[-1]]):  # whole batches and the fallback alone
        table = events_to_table(batch, user_id="u", received_at=received, batch_id="b")
        for column in typed_column_names():
            expected = [_reference_value(event, column) for event in batch]
            assert table.column(column).to_pylist() == expected, column


def test_replayed_rows_get_the_columns_of_the_request_path() -> None:
    """Rows read back from the spool after a crash (no typed struct in memory) are completed from their
    raw JSON the same way the request completed them."""
    events = _accepted_variants()
    table = events_to_table(events, user_id="u", received_at=datetime(2026, 5, 14, tzinfo=UTC), batch_id="b")
    spooled = table.select(spool_event_schema().names)
    replayed = complete_events([spooled], [None])
    from_request = complete_events([spooled], [typed_struct(events)])
    assert replayed.equals(table) and from_request.equals(table)
    # Several appended tables at once, some with their struct and some without.
    half = len(events) // 2
    first, second = spooled.slice(0, half), spooled.slice(half)
    mixed = complete_events([first, second], [typed_struct(events[:half]), None])
    assert mixed.equals(table)


def test_fingerprint_fast_path_matches_reference() -> None:
    """§4.7: the msgspec canonical form equals json.dumps(sort_keys, compact, ensure_ascii=False)."""
    for event in vector_events():
        event["x"] = {"ü": ["\u2028", "\x00", "😀", -0, 10**20]}
        canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert fingerprint(event, may_contain_floats=False) == hashlib.sha256(canonical).hexdigest()
        assert fingerprint(event) == hashlib.sha256(canonical).hexdigest()
    floaty = {"a": 1e-05, "b": 1e16, "c": 0.1}
    expected = json.dumps(floaty, sort_keys=True, separators=(",", ":"))
    assert fingerprint(floaty) == hashlib.sha256(expected.encode()).hexdigest()


def test_timestamps_partition_by_utc_date(storage: LakeStorage, db: sessionmaker[Session]) -> None:
    """An event at 23:30-02:00 lands in the next UTC day's partition (checklist 102)."""
    event = vector_events()[0]
    event["timestamp"] = "2026-05-12T23:30:00-02:00"
    write_event_files(storage, db, _table([event]))
    assert storage.list_partitions(EVENTS_DIR) == ["2026-05-13"]
    ts = connect_lake(storage).sql("SELECT timestamp FROM events").fetchall()[0][0]
    assert ts.astimezone(UTC) == datetime(2026, 5, 13, 1, 30, tzinfo=UTC) + timedelta(0)
