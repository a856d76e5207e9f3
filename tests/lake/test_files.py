"""Storage, partitioned writes, registration and readers of the lake (DESIGN.md flow 2)."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devflow.lake.files import register_files, register_unlisted_files, write_event_files, write_partitioned
from devflow.lake.models import LakeFile
from devflow.lake.read import connect_lake, scan_events
from devflow.lake.schema import EVENT_SCHEMA, EVENTS_DIR
from devflow.lake.storage import LakeStorage
from devflow.telemetry.arrow import (
    SPOOL_EVENT_SCHEMA,
    TYPED_STRUCT_COLUMN,
    events_to_table,
    expand_events,
    fingerprint,
    spool_events_table,
    typed_struct,
)
from devflow.telemetry.validation import validate_events
from tests.conftest import VECTORS
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
    assert storage.read_table(listed[0]).schema.names == EVENT_SCHEMA.names  # no Hive column inside


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


def test_unregistered_file_is_found_by_listing(storage: LakeStorage, db: sessionmaker[Session]) -> None:
    """A crash between rename and INSERT leaves a visible, unregistered ``part-*`` file: listing
    registers it with its rows; an abandoned ``compacted-*`` file is never registered."""
    table = _table(vector_events())
    orphan = write_partitioned(storage, EVENTS_DIR, table)  # written, never registered
    write_partitioned(storage, EVENTS_DIR, table, prefix="compacted-", ingested=False)
    found = register_unlisted_files(storage, db)
    assert [(f.path, f.ingested_rows) for f in found] == [(orphan[0].path, table.num_rows)]
    assert register_unlisted_files(storage, db) == []


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


def test_bulk_columns_equal_python_columns() -> None:
    """The flush-time typed columns (pyarrow JSON reader) equal the exact dict-based mapping, for every
    vector event and for odd values that force the Python fallback."""
    events = vector_events()
    odd = json.loads(json.dumps(events[:3]))
    odd[0]["git"] = "not an object"  # unknown key of the wrong shape: forces the exact path
    odd[1]["metrics"] = {**odd[1].get("metrics", {}), "switch_interval_seconds": "x"}
    for sample in (events, events + odd):
        received = datetime(2026, 5, 14, tzinfo=UTC)
        reference = events_to_table(sample, user_id="u", received_at=received, batch_id="b")
        raws = [json.dumps(e).encode() for e in sample]
        spool = spool_events_table(
            user_id="u",
            received_at=received,
            batch_id="b",
            batch_indexes=list(range(len(sample))),
            session_ids=[e["session_id"] for e in sample],
            kinds=[e["type"] for e in sample],
            timestamps_us=reference["timestamp"].cast("int64").to_pylist(),
            fingerprints=reference["fingerprint"].to_pylist(),
            raws=raws,
        )
        expanded = expand_events(spool)
        assert expanded.drop_columns(["raw"]).equals(reference.drop_columns(["raw"]))
        # The request-path conversion (typed struct from the decoded values) gives the same columns.
        struct = typed_struct(sample)
        if struct is not None:
            with_struct = expand_events(spool.append_column(TYPED_STRUCT_COLUMN, struct))
            assert with_struct.drop_columns(["raw"]).equals(reference.drop_columns(["raw"]))


def test_typed_struct_columns_equal_python_columns_for_accepted_variants() -> None:
    """Every single-field variant of the vectors that validation accepts (nulls, 1.0 for integers,
    integers for floats, junk in keys of other event types) gets the same typed columns from the
    request-path struct as from the exact dict-based mapping; values that do not convert fall back."""
    received = datetime(2026, 5, 14, tzinfo=UTC)
    received_us = 1_900_000_000_000_000
    variants = field_variants()
    sample = [v for v in variants if v.__class__ is dict and not validate_events([v], received_us).rejected]
    junk = []
    for event in vector_events():
        for parent, value in (
            ("file", {"lines": 1.5, "path": 3}),
            ("metrics", {"change_count": True}),
            ("git", {"branch": 7}),
            ("from", {"file": 1}),
            ("debug", {"name": 2.5}),
        ):
            junk.append({**event, parent: value})
    junk = [v for v in junk if not validate_events([v], received_us).rejected]
    assert len(sample) > 100 and len(junk) > 10
    for events in ([*sample, *junk], sample[:50]):
        reference = events_to_table(events, user_id="u", received_at=received, batch_id="b")
        struct = typed_struct(events)
        if struct is None:  # some value did not convert: the flush parses raw instead
            continue
        spool = reference.select(SPOOL_EVENT_SCHEMA.names).append_column(TYPED_STRUCT_COLUMN, struct)
        assert expand_events(spool).drop_columns(["raw"]).equals(reference.drop_columns(["raw"]))
    # Per event too, so that a batch-level fallback cannot hide a mismatch.
    converted = 0
    for event in [*sample, *junk]:
        reference = events_to_table([event], user_id="u", received_at=received, batch_id="b")
        struct = typed_struct([event])
        if struct is None:
            continue
        converted += 1
        spool = reference.select(SPOOL_EVENT_SCHEMA.names).append_column(TYPED_STRUCT_COLUMN, struct)
        assert expand_events(spool).drop_columns(["raw"]).equals(reference.drop_columns(["raw"])), event
    assert converted > 100


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
