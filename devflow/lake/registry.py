"""The registry of the lake's ingested files, in the database: which files exist, in ingestion order.

Protocol (one file per partition per flush or import):

1. write ``<kind>/date=YYYY-MM-DD/part-<id>.parquet`` atomically (temp name, fsync, rename),
2. AFTER the rename, register it in ``lake_files`` with ``ingested_rows = row_count``.

Registration is idempotent by ``path`` (a unique column). A crash between the rename (1) and the
INSERT (2) leaves a visible but unregistered file; whoever finds it by listing
(:func:`register_unlisted_files`: the ETL and compaction, or the spool replay, which reuses the same
deterministic file name) registers it later with the same ``ingested_rows``. The ETL's watermark is
the cumulative ``ingested_rows`` in ``seq`` order, so each ingested row counts once.

Compaction outputs (``compacted-*``) are registered with ``ingested_rows = 0`` in the same transaction
that supersedes their inputs; an unregistered compaction output is an abandoned attempt (its inputs are
still live) and is never registered by listing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, Integer, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from devflow.db.base import Base, BigIntPK, UTCDateTime, utcnow
from devflow.lake.partitions import INGEST_PREFIX, WrittenFile, partition_date_of
from devflow.lake.storage import LakeStorage

log = logging.getLogger("devflow.lake.registry")


class LakeFile(Base):
    """An immutable Parquet file of ingested rows, registered after it was renamed into place."""

    __tablename__ = "lake_files"

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # "events" | "quarantine"
    path: Mapped[str] = mapped_column(String(512), unique=True)  # relative to the lake root
    partition_date: Mapped[str] = mapped_column(String(10), index=True)
    row_count: Mapped[int] = mapped_column(Integer)
    # Ingestion rows of this file that count towards the watermark (0 for compaction outputs).
    ingested_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when compaction replaced the file; readers skip files that are superseded.
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


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


def registered_paths_of(db: sessionmaker[Session], file_id: str) -> set[str]:
    """Paths of the ingest files named after ``file_id`` already registered (a replay after a crash)."""
    with db() as session:
        return set(
            session.scalars(
                select(LakeFile.path).where(LakeFile.path.like(f"%/{INGEST_PREFIX}{file_id}.parquet"))
            )
        )


def register_unlisted_files(
    storage: LakeStorage,
    db: sessionmaker[Session],
    kinds: Iterable[str],
    *,
    older_than: timedelta = timedelta(0),
) -> list[WrittenFile]:
    """Register ingest files (``part-*``) that are visible in the lake but missing from ``lake_files``
    (a crash between a writer's rename and its INSERT).

    Files modified less than ``older_than`` ago are left to their writer, which registers right after
    the rename. Compaction outputs are never registered this way (their inputs are still live).
    """
    cutoff = datetime.now(UTC) - older_than
    found: list[WrittenFile] = []
    for kind in kinds:
        candidates = [
            info.path
            for info in storage.list_parquet(kind)
            if info.path.rsplit("/", 1)[-1].startswith(INGEST_PREFIX)
            and (info.mtime is None or _aware(info.mtime) <= cutoff)
        ]
        if not candidates:
            continue
        with db() as session:
            known = set(session.scalars(select(LakeFile.path).where(LakeFile.kind == kind)))
        for path in candidates:
            if path in known:
                continue
            rows = storage.row_count(path)
            found.append(WrittenFile(kind, path, partition_date_of(path), rows, rows))
    if found:
        log.warning("registering %d unregistered lake file(s) found by listing", len(found))
        register_files(db, found)
    return found


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
