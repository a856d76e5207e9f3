"""Compaction of closed partitions (UTC dates before today) into one large file each.

Protocol, chosen so that no row ever vanishes or counts twice:

1. read every live (registered, not superseded) file of the partition, concatenate, sort by
   (``user_id``, ``timestamp``) — every column is kept, ingestion-order columns included;
2. write ``compacted-<id>.parquet`` atomically (still unregistered: readers of the de-duplicated
   view see each row twice at most, and collapse it);
3. in ONE transaction: mark exactly the inputs superseded (if another compactor got there first,
   roll back and delete our output) and register the output with ``ingested_rows = 0`` (its rows
   were counted by the ETL watermark when their original files were registered);
4. delete the inputs. A crash before this step leaves superseded files that the next run deletes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from devflow.kernel.ids import uuid7
from devflow.kernel.lazy import pa
from devflow.lake.partitions import COMPACTED_PREFIX, partition_path
from devflow.lake.registry import LakeFile, register_unlisted_files
from devflow.lake.storage import LakeStorage
from devflow.lake.tables import PartitionedTable

log = logging.getLogger("devflow.lake.compaction")

# An unregistered compaction output younger than this may belong to a compactor still running.
ABANDONED_AFTER_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class CompactionResult:
    """One partition compacted: ``inputs`` files replaced by ``output`` with ``rows`` rows."""

    kind: str
    partition_date: str
    inputs: int
    output: str
    rows: int


def compact_partition(
    storage: LakeStorage, db: sessionmaker[Session], spec: PartitionedTable, partition_date: str
) -> CompactionResult | None:
    """Compact one partition if it has two or more live files; None when there is nothing to do."""
    kind, schema = spec.name, spec.schema
    with db() as session:
        live = session.execute(
            select(LakeFile.path, LakeFile.row_count)
            .where(
                LakeFile.kind == kind,
                LakeFile.partition_date == partition_date,
                LakeFile.superseded_at.is_(None),
            )
            .order_by(LakeFile.seq)
        ).all()
    if len(live) < 2:
        return None
    paths = [path for path, _ in live]
    expected = sum(rows for _, rows in live)
    table = pa.concat_tables([storage.read_table(path).select(schema.names).cast(schema) for path in paths])
    if table.num_rows != expected:
        raise RuntimeError(f"{kind} {partition_date}: read {table.num_rows} rows, registry says {expected}")
    table = table.sort_by(list(spec.sort_keys))
    output = partition_path(kind, partition_date, f"{COMPACTED_PREFIX}{uuid7().hex}.parquet")
    storage.write_parquet_atomic(output, table)
    now = datetime.now(UTC)
    with db.begin() as tx:
        outcome = tx.execute(
            update(LakeFile)
            .where(LakeFile.path.in_(paths), LakeFile.superseded_at.is_(None))
            .values(superseded_at=now)
            .execution_options(synchronize_session=False)
        )
        marked = int(getattr(outcome, "rowcount", -1))
        if marked != len(paths):
            tx.rollback()
            storage.delete(output)
            log.warning("%s %s: inputs changed during compaction; output discarded", kind, partition_date)
            return None
        tx.add(
            LakeFile(
                kind=kind,
                path=output,
                partition_date=partition_date,
                row_count=table.num_rows,
                ingested_rows=0,
                registered_at=now,
            )
        )
    for path in paths:
        storage.delete(path)
    return CompactionResult(kind, partition_date, len(paths), output, table.num_rows)


def delete_superseded_files(storage: LakeStorage, db: sessionmaker[Session]) -> int:
    """Delete files that a committed compaction superseded but a crash left on storage."""
    with db() as session:
        paths = list(session.scalars(select(LakeFile.path).where(LakeFile.superseded_at.is_not(None))))
    removed = 0
    for path in paths:
        if storage.exists(path):
            storage.delete(path)
            removed += 1
    return removed


def delete_abandoned_outputs(storage: LakeStorage, db: sessionmaker[Session], kinds: Sequence[str]) -> int:
    """Delete unregistered ``compacted-*`` files of crashed compactions (their inputs are still live)."""
    removed = 0
    now = time.time()
    with db() as session:
        known = set(session.scalars(select(LakeFile.path)))
    for kind in kinds:
        for info in storage.list_parquet(kind):
            name = info.path.rsplit("/", 1)[-1]
            if not name.startswith(COMPACTED_PREFIX) or info.path in known:
                continue
            mtime = storage.fs.get_file_info(storage.full_path(info.path)).mtime
            if mtime is not None and now - mtime.timestamp() > ABANDONED_AFTER_SECONDS:
                storage.delete(info.path)
                removed += 1
    return removed


def compact_closed_partitions(
    storage: LakeStorage,
    db: sessionmaker[Session],
    specs: Sequence[PartitionedTable],
    *,
    today: date | None = None,
) -> list[CompactionResult]:
    """Compact every partition of the given tables dated before ``today`` (UTC)."""
    today = today or datetime.now(UTC).date()
    kinds = [spec.name for spec in specs]
    register_unlisted_files(storage, db, kinds)  # a crash between rename and INSERT: count those rows too
    delete_superseded_files(storage, db)
    delete_abandoned_outputs(storage, db, kinds)
    results: list[CompactionResult] = []
    for spec in specs:
        for day in storage.list_partitions(spec.name):
            if day >= today.isoformat():
                continue
            result = compact_partition(storage, db, spec, day)
            if result is not None:
                log.info("compacted %s %s: %d files → %s", spec.name, day, result.inputs, result.output)
                results.append(result)
    return results
