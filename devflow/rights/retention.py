"""Retention: raw event partitions older than ``RAW_EVENTS_RETENTION_DAYS`` go once the metrics ETL
has taken them in (their metrics stay); quarantine partitions older than
``QUARANTINE_RETENTION_DAYS`` go (they feed nothing).

A UTC date partition ``D`` is *older than N days* when ``D < today - N``. An events partition counts as
taken in when every ingest file on disk is registered and every live (not superseded) registered file
of it has an ``etl_files`` row; otherwise it stays, whatever its age, and the next run looks again. A
dropped partition's files are deleted, then their registry rows (the ETL's own bookkeeping, which
holds the watermark, is kept). The job runs under its runner lock and takes the metrics ETL's lock,
so no pass reads a partition while it goes.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from devflow.db.locks import try_runner_lock
from devflow.lake.partitions import INGEST_PREFIX
from devflow.lake.registry import LakeFile
from devflow.lake.storage import LakeStorage
from devflow.metrics import ETL_LOCK
from devflow.models import EtlFile
from devflow.services import Services
from devflow.telemetry import EVENTS_DIR, QUARANTINE_DIR

log = logging.getLogger("devflow.rights.retention")

RETENTION_LOCK = "lake-retention"
RETENTION_INTERVAL_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class PartitionDecision:
    kind: str  # "events" | "quarantine"
    date: str
    files: tuple[str, ...]
    drop: bool
    reason: str


def _older(storage: LakeStorage, kind: str, days: int | None, today: dt.date) -> list[str]:
    if days is None:
        return []
    cutoff = (today - dt.timedelta(days=days)).isoformat()
    return [d for d in storage.list_partitions(kind) if d < cutoff]


def _taken_in(db: sessionmaker[Session], day: str, on_disk: list[str]) -> tuple[bool, str]:
    with db() as session:
        rows = session.execute(
            select(LakeFile.path, LakeFile.superseded_at, EtlFile.file_seq)
            .outerjoin(EtlFile, EtlFile.file_seq == LakeFile.seq)
            .where(LakeFile.kind == EVENTS_DIR, LakeFile.partition_date == day)
        ).all()
    registered = {r.path for r in rows}
    unregistered = [
        p for p in on_disk if p not in registered and p.rsplit("/", 1)[-1].startswith(INGEST_PREFIX)
    ]
    if unregistered:
        return False, f"{len(unregistered)} file(s) not registered yet"
    pending = [r.path for r in rows if r.superseded_at is None and r.file_seq is None]
    if pending:
        return False, f"{len(pending)} file(s) not taken in by the metrics ETL yet"
    return True, "taken in by the metrics ETL"


def plan_retention(services: Services, today: dt.date | None = None) -> list[PartitionDecision]:
    """What a retention run would do now (nothing is changed)."""
    settings, storage = services.settings, services.lake
    today = today or services.clock().date()
    decisions: list[PartitionDecision] = []
    for day in _older(storage, EVENTS_DIR, settings.raw_events_retention_days, today):
        files = [f.path for f in storage.list_parquet(f"{EVENTS_DIR}/date={day}")]
        ok, reason = _taken_in(services.db, day, files)
        decisions.append(PartitionDecision(EVENTS_DIR, day, tuple(files), ok, reason))
    for day in _older(storage, QUARANTINE_DIR, settings.quarantine_retention_days, today):
        files = [f.path for f in storage.list_parquet(f"{QUARANTINE_DIR}/date={day}")]
        decisions.append(PartitionDecision(QUARANTINE_DIR, day, tuple(files), True, "past retention"))
    return decisions


def apply_retention(services: Services, *, dry_run: bool = False) -> list[PartitionDecision] | None:
    """Plan and (unless ``dry_run``) drop; None when the ETL holds its lock (the next run retries)."""
    if dry_run:
        return plan_retention(services)
    with try_runner_lock(services.engine, services.settings.data_dir, ETL_LOCK) as held:
        if not held:
            log.info("retention skipped: the metrics ETL is running")
            return None
        decisions = plan_retention(services)
        for decision in decisions:
            if not decision.drop:
                continue
            for path in decision.files:
                services.lake.delete(path)
            with services.db.begin() as session:
                session.execute(
                    delete(LakeFile).where(
                        LakeFile.kind == decision.kind, LakeFile.partition_date == decision.date
                    )
                )
            log.info(
                "retention: dropped %s date=%s (%d files)", decision.kind, decision.date, len(decision.files)
            )
    return decisions


def retention_enabled(services: Services) -> bool:
    settings = services.settings
    return settings.raw_events_retention_days is not None or settings.quarantine_retention_days is not None
