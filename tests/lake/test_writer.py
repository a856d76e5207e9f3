"""The durable writer: group-committed spool, flush to Parquet, crash replay, multi-process safety."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from devflow.analytics.events_view import connect_lake
from devflow.lake.registry import LakeFile
from devflow.lake.spool.records import read_records
from devflow.lake.spool.writer import Append, LakeWriter
from devflow.lake.storage import LakeStorage, LakeUnavailable
from devflow.telemetry import EVENTS_DIR, QUARANTINE_DIR, TELEMETRY_TABLES
from devflow.telemetry.arrow import events_to_table, quarantine_table
from tests.lake.test_files import vector_events


def _writer(storage: LakeStorage, db: sessionmaker[Session], spool: Path) -> LakeWriter:
    # A long interval: these tests decide when to flush.
    return LakeWriter(storage, db, spool, TELEMETRY_TABLES, flush_interval_seconds=10)


def _die(writer: LakeWriter) -> None:
    """What a kill -9 leaves: the segment on disk, its lock released (the kernel drops flocks)."""
    assert writer._segment is not None
    os.close(writer._segment.fd)
    writer._segment = None
    writer._stop.set()
    writer._wake.set()


def _batch(n: int) -> pa.Table:
    return events_to_table(
        vector_events(), user_id=f"user-{n}", received_at=datetime.now(UTC), batch_id=str(uuid.uuid4())
    )


def test_concurrent_appends_are_durable_and_flushed_once(
    storage: LakeStorage, db: sessionmaker[Session], tmp_path: Path
) -> None:
    """Appends from 8 threads share fsyncs; each returns with its record on disk; one flush puts every
    row in the lake once and empties the spool."""
    spool = tmp_path / "spool"
    writer = _writer(storage, db, spool).start()
    tables = [_batch(i) for i in range(40)]

    def append(chunk: list[pa.Table]) -> None:
        for table in chunk:
            writer.append(Append(EVENTS_DIR, table))

    threads = [threading.Thread(target=append, args=(tables[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [segment] = list(spool.glob("*.spool"))
    records = list(read_records(segment.read_bytes()))
    assert len(records) == 40
    writer.flush()
    assert not list(spool.glob("*.spool"))
    rows = sum(t.num_rows for t in tables)
    assert connect_lake(storage).sql("SELECT count(*) FROM events_all").fetchall() == [(rows,)]
    with db() as session:
        assert session.scalar(select(func.sum(LakeFile.ingested_rows))) == rows
    writer.stop()


def test_spool_of_a_dead_process_is_replayed(
    storage: LakeStorage, db: sessionmaker[Session], tmp_path: Path
) -> None:
    """A segment left by a killed writer (torn last record included) is replayed at start-up by the
    next writer: every complete record reaches the lake, quarantine rows too, exactly once."""
    spool = tmp_path / "spool"
    dead = _writer(storage, db, spool).start()
    dead.append(Append(EVENTS_DIR, _batch(1)))
    quarantined = quarantine_table(
        user_id="user-1",
        received_at=datetime.now(UTC),
        batch_id="b",
        batch_indexes=[3],
        reasons=["unknown_type"],
        raws=[b'{"type":"x"}'],
    )
    dead.append(Append(EVENTS_DIR, _batch(2)), Append(QUARANTINE_DIR, quarantined))
    [segment] = list(spool.glob("*.spool"))
    _die(dead)
    with segment.open("ab") as handle:  # a crash in the middle of a third, never acknowledged record
        handle.write(b"DVFS\x01\xff\xff\x00\x00garbage")
    survivor = _writer(storage, db, spool).start()
    assert not list(spool.glob("*.spool"))
    con = connect_lake(storage)
    assert con.sql("SELECT count(*) FROM events_all").fetchall() == [(2 * len(vector_events()),)]
    assert con.sql("SELECT reason FROM quarantine").fetchall() == [("unknown_type",)]
    assert survivor.recover() == 0  # nothing left to replay
    survivor.stop()


def test_live_segment_is_never_replayed_by_another_process(
    storage: LakeStorage, db: sessionmaker[Session], tmp_path: Path
) -> None:
    """Two writers share a spool folder: starting the second never touches the first's live segment."""
    spool = tmp_path / "spool"
    first = _writer(storage, db, spool).start()
    first.append(Append(EVENTS_DIR, _batch(1)))
    second = _writer(storage, db, spool).start()  # its recover() must skip the locked segment
    assert len(list(spool.glob("*.spool"))) == 1
    assert storage.list_parquet(EVENTS_DIR) == []
    first.stop()
    second.stop()
    assert connect_lake(storage).sql("SELECT count(*) FROM events_all").fetchall() == [
        (len(vector_events()),)
    ]


def test_replay_after_crash_mid_flush_writes_nothing_twice(
    storage: LakeStorage, db: sessionmaker[Session], tmp_path: Path
) -> None:
    """A crash after the Parquet files were written and registered but before the segment was deleted:
    the replay finds them by their deterministic names and adds no file and no registry row."""
    spool = tmp_path / "spool"
    writer = _writer(storage, db, spool).start()
    writer.append(Append(EVENTS_DIR, _batch(1)))
    [segment] = list(spool.glob("*.spool"))
    saved = segment.read_bytes()
    writer.stop()  # flushes, registers, deletes the segment
    segment.write_bytes(saved)  # … as if the deletion had never happened
    files_before = storage.list_parquet(EVENTS_DIR)
    replayer = _writer(storage, db, spool).start()
    assert storage.list_parquet(EVENTS_DIR) == files_before
    with db() as session:
        assert session.scalar(select(func.count()).select_from(LakeFile)) == len(files_before)
    assert not list(spool.glob("*.spool"))
    replayer.stop()


def test_running_writer_adopts_a_dead_siblings_spool(
    storage: LakeStorage, db: sessionmaker[Session], tmp_path: Path
) -> None:
    """Two processes share the spool folder; one dies: the survivor's periodic recovery replays the
    dead one's segment while its own live segment stays untouched."""
    spool = tmp_path / "spool"
    survivor = _writer(storage, db, spool).start()
    survivor.append(Append(EVENTS_DIR, _batch(1)))
    sibling = _writer(storage, db, spool).start()
    sibling.append(Append(EVENTS_DIR, _batch(2)))
    _die(sibling)
    assert survivor.recover() == 1
    assert len(list(spool.glob("*.spool"))) == 1  # the survivor's own, still live
    survivor.stop()
    assert connect_lake(storage).sql("SELECT count(DISTINCT user_id) FROM events_all").fetchall() == [(2,)]


def test_wait_durable_answers_after_the_syncers_fsync(
    storage: LakeStorage, db: sessionmaker[Session], tmp_path: Path
) -> None:
    """The event-loop path: writes awaited concurrently on one loop each return only once an fsync of
    the syncer thread covers them (never more fsyncs than writes)."""
    spool = tmp_path / "spool"
    writer = _writer(storage, db, spool).start()
    fsyncs: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        fsyncs.append(fd)
        real_fsync(fd)

    tables = [_batch(i) for i in range(30)]

    async def durable(ticket: int) -> None:
        await writer.wait_durable(ticket)
        assert writer.durable_ticket >= ticket  # an fsync that started after this write has completed

    async def main() -> list[int]:
        tickets = [writer.write(Append(EVENTS_DIR, table)) for table in tables]
        await asyncio.gather(*(durable(t) for t in tickets))
        return tickets

    os.fsync = counting_fsync  # type: ignore[assignment]
    try:
        tickets = asyncio.run(main())
    finally:
        os.fsync = real_fsync
    assert tickets == list(range(1, 31))
    assert writer.durable_ticket >= 30
    assert 1 <= len([fd for fd in fsyncs if fd == fsyncs[-1]]) <= 30
    [segment] = list(spool.glob("*.spool"))
    assert len(list(read_records(segment.read_bytes()))) == 30
    writer.stop()


def test_failed_fsync_fails_the_appenders_it_covered_and_the_next_ones_succeed(
    storage: LakeStorage, db: sessionmaker[Session], tmp_path: Path
) -> None:
    """A spool whose fsync fails answers LakeUnavailable (→ 503, the client resends) to the records it
    covered, on both paths; the writer then starts a new segment and acknowledges again."""
    writer = _writer(storage, db, tmp_path / "spool")  # no syncer thread: sync() leads the fsync
    writer.spool_dir.mkdir(parents=True)
    ticket = writer.write(Append(EVENTS_DIR, _batch(1)))
    assert writer._segment is not None
    os.close(writer._segment.fd)  # the disk goes away under the segment: fsync raises EBADF
    with pytest.raises(LakeUnavailable):
        writer.sync(ticket)
    with pytest.raises(LakeUnavailable):
        asyncio.run(writer.wait_durable(ticket))
    with pytest.raises(LakeUnavailable):  # the broken segment cannot take the next write either
        writer.write(Append(EVENTS_DIR, _batch(2)))
    writer.append(Append(EVENTS_DIR, _batch(3)))  # a fresh segment: durable again
    assert writer.durable_ticket >= writer.last_ticket
