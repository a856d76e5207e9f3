"""The same lake code on an object store: ``DEVFLOW_LAKE_URL=s3://…`` against a local S3 (moto)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from devflow.analytics.events_view import connect_lake, scan_events
from devflow.lake.compaction import compact_closed_partitions
from devflow.lake.spool.writer import Append, LakeWriter
from devflow.lake.storage import LakeStorage
from devflow.telemetry import EVENTS_DIR, TELEMETRY_TABLES
from devflow.telemetry.arrow import events_to_table
from tests.lake.test_files import vector_events
from tests.support.s3 import moto_lake


@pytest.fixture()
def s3_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A bucket on a moto S3 server on 127.0.0.1; yields the lake URL inside it."""
    with moto_lake(monkeypatch) as url:
        yield url


@pytest.mark.slow
def test_writer_readers_and_compaction_on_s3(s3_url: str, db: sessionmaker[Session], tmp_path: Path) -> None:
    """Spool → Parquet objects → registry; DuckDB and Polars read them de-duplicated; compaction
    replaces the objects of a closed partition without losing a row."""
    storage = LakeStorage.from_url(s3_url)
    assert not storage.is_local
    writer = LakeWriter(storage, db, tmp_path / "spool", TELEMETRY_TABLES, flush_interval_seconds=10).start()
    events = vector_events()
    for _ in range(2):  # the same events twice: duplicates collapse in the de-duplicated view
        table = events_to_table(
            events, user_id="u", received_at=datetime.now(UTC), batch_id=str(uuid.uuid4())
        )
        writer.append(Append(EVENTS_DIR, table))
        writer.flush()
    writer.stop()
    assert len(storage.list_parquet(EVENTS_DIR)) == 2
    con = connect_lake(storage)
    assert con.sql("SELECT count(*) FROM events").fetchall() == [(len(events),)]
    assert con.sql("SELECT count(*) FROM events_all").fetchall() == [(2 * len(events),)]
    assert scan_events(storage).collect().height == len(events)
    [result] = compact_closed_partitions(storage, db, TELEMETRY_TABLES, today=date(2026, 5, 15))
    assert [f.path for f in storage.list_parquet(EVENTS_DIR)] == [result.output]
    assert connect_lake(storage).sql("SELECT count(*) FROM events_all").fetchall() == [(2 * len(events),)]
