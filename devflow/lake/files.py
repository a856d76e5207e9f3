"""Partitioned Parquet files of the lake and their registry in ``lake_files``.

Write protocol (one file per partition per call):

1. split the table by UTC date (events: ``timestamp``; quarantine: ``received_at``),
2. sort each part by (``user_id``, ``timestamp``) / (``user_id``, ``received_at``),
3. write ``<kind>/date=YYYY-MM-DD/part-<id>.parquet`` atomically (temp name, fsync, rename),
4. AFTER the rename, register it in ``lake_files`` with ``ingested_rows = row_count``.

Registration is idempotent by ``path`` (a unique column): registering a path twice is a no-op.
A crash between the rename (3) and the INSERT (4) leaves a visible but unregistered file; whoever
finds it by listing (:func:`register_unlisted_files`, the ETL, or the spool replay, which reuses
the same deterministic file name) registers it later with the same ``ingested_rows``. The ETL's
watermark is the cumulative ``ingested_rows`` in ``seq`` order, so each ingested row counts once.

Compaction outputs are named ``compacted-<id>.parquet`` and registered with ``ingested_rows = 0``
in the same transaction that supersedes their inputs; an unregistered compaction output is an
abandoned attempt (its inputs are still live) and must never be registered by listing.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from devflow.lake.ids import uuid7
from devflow.lake.models import LakeFile
from devflow.lake.schema import EVENTS_DIR, QUARANTINE_DIR
from devflow.lake.storage import LakeStorage, partition_date_of, partition_path

log = logging.getLogger("devflow.lake")

INGEST_PREFIX = "part-"
COMPACTED_PREFIX = "compacted-"


@dataclass(frozen=True, slots=True)
class WrittenFile:
    """A Parquet file now visible in the lake (and, once registered, in ``lake_files``)."""

    kind: str  # "events" | "quarantine"
    path: str  # relative to the lake root
    partition_date: str
    row_count: int
    ingested_rows: int


SORT_KEYS = {
    EVENTS_DIR: [("user_id", "ascending"), ("timestamp", "ascending")],
    QUARANTINE_DIR: [("user_id", "ascending"), ("received_at", "ascending")],
}
_DATE_COLUMN = {EVENTS_DIR: "timestamp", QUARANTINE_DIR: "received_at"}


def split_by_date(kind: str, table: pa.Table) -> list[tuple[str, pa.Table]]:
    """The table's rows per UTC date (``YYYY-MM-DD``) of the partition column, each part sorted."""
    if table.num_rows == 0:
        return []
    dates = table[_DATE_COLUMN[kind]].cast(pa.date32())
    unique = pc.unique(dates).to_pylist()
    parts: list[tuple[str, pa.Table]] = []
    for day in sorted(unique):
        part = table if len(unique) == 1 else table.filter(pc.equal(dates, pa.scalar(day, pa.date32())))
        parts.append((day.isoformat(), part.sort_by(SORT_KEYS[kind])))
    return parts


def write_partitioned(
    storage: LakeStorage,
    kind: str,
    table: pa.Table,
    *,
    file_id: str | None = None,
    prefix: str = INGEST_PREFIX,
    ingested: bool = True,
    skip: Collection[str] = (),
) -> list[WrittenFile]:
    """Write one file per partition of ``table`` (not registered yet; see :func:`register_files`).

    ``file_id`` makes the names deterministic (the spool passes its segment id so that a replay
    after a crash finds the files it already wrote); by default a fresh UUIDv7 is used. A file
    that already exists under the deterministic name is left as it is; paths in ``skip`` (already
    registered, possibly compacted away since) are neither written nor returned.
    """
    file_id = file_id or uuid7().hex
    written: list[WrittenFile] = []
    for day, part in split_by_date(kind, table):
        path = partition_path(kind, day, f"{prefix}{file_id}.parquet")
        if path in skip:
            continue
        if not storage.exists(path):
            storage.write_parquet_atomic(path, part)
        rows = part.num_rows
        written.append(WrittenFile(kind, path, day, rows, rows if ingested else 0))
    return written


def register_files(db: sessionmaker[Session], files: Sequence[WrittenFile]) -> None:
    """Insert the files into ``lake_files``; paths already registered are skipped (idempotent)."""
    if not files:
        return
    try:
        _insert_missing(db, files)
    except IntegrityError:
        # Another process registered one of these paths between our SELECT and INSERT: retry
        # file by file, each in its own transaction, skipping whatever is there now.
        for one in files:
            try:
                _insert_missing(db, [one])
            except IntegrityError:
                log.debug("lake file %s registered concurrently", one.path)


def _insert_missing(db: sessionmaker[Session], files: Sequence[WrittenFile]) -> None:
    now = datetime.now(UTC)
    with db.begin() as session:
        paths = [f.path for f in files]
        known = set(session.scalars(select(LakeFile.path).where(LakeFile.path.in_(paths))))
        for f in files:
            if f.path in known:
                continue
            known.add(f.path)
            session.add(
                LakeFile(
                    kind=f.kind,
                    path=f.path,
                    partition_date=f.partition_date,
                    row_count=f.row_count,
                    ingested_rows=f.ingested_rows,
                    registered_at=now,
                )
            )


def write_event_files(
    storage: LakeStorage, db: sessionmaker[Session], table: pa.Table, *, file_id: str | None = None
) -> list[WrittenFile]:
    """Write an ``EVENT_SCHEMA`` table as one file per UTC date and register each (after rename)."""
    files = write_partitioned(storage, EVENTS_DIR, table, file_id=file_id)
    register_files(db, files)
    return files


def write_quarantine_files(
    storage: LakeStorage, db: sessionmaker[Session], table: pa.Table, *, file_id: str | None = None
) -> list[WrittenFile]:
    """Write a ``QUARANTINE_SCHEMA`` table per UTC receive date and register each (after rename)."""
    files = write_partitioned(storage, QUARANTINE_DIR, table, file_id=file_id)
    register_files(db, files)
    return files


def register_unlisted_files(storage: LakeStorage, db: sessionmaker[Session]) -> list[WrittenFile]:
    """Register ingest files that are visible in the lake but missing from ``lake_files``.

    Only ``part-*`` files count (a crash between rename and INSERT). Abandoned
    ``compacted-*`` files are skipped: their rows are still live in their inputs.
    """
    found: list[WrittenFile] = []
    for kind in (EVENTS_DIR, QUARANTINE_DIR):
        listed = storage.list_parquet(kind)
        if not listed:
            continue
        with db() as session:
            known = set(session.scalars(select(LakeFile.path).where(LakeFile.kind == kind)))
        for info in listed:
            name = info.path.rsplit("/", 1)[-1]
            if info.path in known or not name.startswith(INGEST_PREFIX):
                continue
            rows = storage.row_count(info.path)
            found.append(WrittenFile(kind, info.path, partition_date_of(info.path), rows, rows))
    register_files(db, found)
    return found
