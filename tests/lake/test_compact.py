"""Compaction of closed partitions: few large sorted files, no row lost or counted twice."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from devflow.analytics.events_view import connect_lake
from devflow.cli import main
from devflow.config import Settings
from devflow.db.locks import try_runner_lock
from devflow.lake.compaction import compact_closed_partitions, compact_partition
from devflow.lake.registry import LakeFile
from devflow.lake.storage import LakeStorage
from devflow.metrics import ETL_LOCK
from devflow.telemetry import EVENTS_DIR, EVENTS_TABLE, TELEMETRY_TABLES
from devflow.telemetry.arrow import events_to_table
from tests.lake.test_files import vector_events
from tests.support.lake import write_event_files


def _fill(storage: LakeStorage, db: sessionmaker[Session], batches: int = 4) -> list[dict[str, Any]]:
    events = vector_events()
    for n in range(batches):
        table = events_to_table(
            events, user_id=f"user-{n % 2}", received_at=datetime.now(UTC), batch_id=str(uuid.uuid4())
        )
        write_event_files(storage, db, table)
    return events


def _counts(storage: LakeStorage) -> tuple[int, int]:
    con = connect_lake(storage)
    [(dedup,)] = con.sql("SELECT count(*) FROM events").fetchall()
    [(physical,)] = con.sql("SELECT count(*) FROM events_all").fetchall()
    return dedup, physical


def test_compaction_keeps_every_row_once(storage: LakeStorage, db: sessionmaker[Session]) -> None:
    """4 files of 2026-05-14 → 1 compacted file sorted by (user_id, timestamp); the same rows; inputs
    superseded then deleted; the watermark (Σ ingested_rows) is unchanged."""
    _fill(storage, db)
    before = _counts(storage)
    with db() as session:
        watermark = session.scalar(select(func.sum(LakeFile.ingested_rows)))
    [result] = compact_closed_partitions(storage, db, TELEMETRY_TABLES, today=date(2026, 5, 15))
    assert result.inputs == 4
    assert _counts(storage) == before
    [only] = storage.list_parquet(EVENTS_DIR)
    assert only.path == result.output
    table = storage.read_table(only.path)
    keys = list(zip(table["user_id"].to_pylist(), table["timestamp"].to_pylist(), strict=True))
    assert keys == sorted(keys)
    with db() as session:
        assert session.scalar(select(func.sum(LakeFile.ingested_rows))) == watermark
        live = session.execute(
            select(LakeFile.path, LakeFile.ingested_rows).where(LakeFile.superseded_at.is_(None))
        )
        assert live.all() == [(result.output, 0)]
    assert (
        compact_closed_partitions(storage, db, TELEMETRY_TABLES, today=date(2026, 5, 15)) == []
    )  # nothing left to do


def test_open_partition_is_left_alone(storage: LakeStorage, db: sessionmaker[Session]) -> None:
    """Today's partition (UTC) is still being written: never compacted by the closed-partition run."""
    _fill(storage, db)
    assert compact_closed_partitions(storage, db, TELEMETRY_TABLES, today=date(2026, 5, 14)) == []
    assert len(storage.list_parquet(EVENTS_DIR)) == 4


def test_crash_after_commit_before_delete(storage: LakeStorage, db: sessionmaker[Session]) -> None:
    """Inputs superseded in the database but still on storage (crash before the deletes): readers
    still count each row once, and the next run deletes the leftovers."""
    _fill(storage, db)
    before = _counts(storage)
    inputs = [f.path for f in storage.list_parquet(EVENTS_DIR)]
    saved = {path: Path(storage.full_path(path)).read_bytes() for path in inputs}
    compact_partition(storage, db, EVENTS_TABLE, "2026-05-14")
    for path, data in saved.items():  # resurrect the inputs, as if the deletes never ran
        Path(storage.full_path(path)).write_bytes(data)
    assert _counts(storage)[0] == before[0]
    compact_closed_partitions(storage, db, TELEMETRY_TABLES, today=date(2026, 5, 15))
    assert len(storage.list_parquet(EVENTS_DIR)) == 1
    assert _counts(storage) == before


def test_cli_lake_compact(
    storage: LakeStorage, db: sessionmaker[Session], database_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """``devflow lake compact --date`` compacts one partition and prints what it did."""
    _fill(storage, db, batches=2)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DEVFLOW_LAKE_URL", storage.root)
    monkeypatch.setenv("LOG_LEVEL", "warning")
    assert main(["lake", "compact", "--date", "2026-05-14"]) == 0
    out = capsys.readouterr().out
    assert "events 2026-05-14: 2 files" in out and "compacted 1 partition(s)" in out
    assert len(storage.list_parquet(EVENTS_DIR)) == 1
    assert json.loads(json.dumps(_counts(storage)))[0] == len(vector_events())


def test_cli_lake_compact_waits_for_the_lake_lock(
    storage: LakeStorage, db: sessionmaker[Session], database_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:  # fmt: skip
    """While the ETL (or an account deletion's lake step) holds its lock, compaction refuses and
    leaves the files alone, so it cannot write back rows a deletion has just erased."""
    _fill(storage, db, batches=2)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DEVFLOW_LAKE_URL", storage.root)
    monkeypatch.setenv("LOG_LEVEL", "warning")
    engine = db.kw["bind"]
    with try_runner_lock(engine, Settings().data_dir, ETL_LOCK) as held:
        assert held
        assert main(["lake", "compact", "--date", "2026-05-14"]) == 1
    assert "the lake is busy" in capsys.readouterr().out
    assert len(storage.list_parquet(EVENTS_DIR)) == 2
    assert main(["lake", "compact", "--date", "2026-05-14"]) == 0
    assert len(storage.list_parquet(EVENTS_DIR)) == 1
