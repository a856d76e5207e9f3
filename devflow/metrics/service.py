"""Running ETL passes under the single-runner lock, for the endpoint, the scheduler and the CLI."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from devflow.config import Settings
from devflow.db.locks import try_runner_lock
from devflow.lake.spool.writer import LakeWriter
from devflow.lake.storage import LakeStorage, lake_io
from devflow.metrics.etl import EtlEnv, PassResult, run_pass
from devflow.metrics.models import EtlRun
from devflow.metrics.queries import MetricsReader

log = logging.getLogger("devflow.metrics")

ETL_LOCK = "metrics-etl"
#: A scheduled tick within this fraction of the interval after any replica's last pass is skipped.
TICK_SHARE = 0.8


@dataclass(frozen=True, slots=True)
class Metrics:
    """The metrics context's long-lived objects: the ETL's inputs and the cached partition reader."""

    settings: Settings
    engine: Engine
    db: sessionmaker[Session]
    storage: LakeStorage
    reader: MetricsReader
    writer: LakeWriter | None = None  # this process's spool, flushed before a manual pass

    @classmethod
    def build(
        cls,
        settings: Settings,
        engine: Engine,
        db: sessionmaker[Session],
        storage: LakeStorage,
        writer: LakeWriter | None = None,
    ) -> Metrics:
        """The context's objects for ``settings`` (no I/O)."""
        return cls(settings, engine, db, storage, MetricsReader(storage), writer)

    @property
    def definition(self) -> str:
        """The line definition in force (``METRICS_LINE_COUNTING``)."""
        return self.settings.metrics_line_counting

    @property
    def env(self) -> EtlEnv:
        """What one pass needs."""
        return EtlEnv(settings=self.settings, db=self.db, storage=self.storage)

    def _data_dir(self) -> Path:
        return self.settings.data_dir

    @lake_io
    def run_locked_pass(self, *, rebuild: bool = False, take_all: bool = False) -> PassResult | None:
        """One pass if no other runner holds the ETL lock (anywhere); None when one does."""
        with try_runner_lock(self.engine, self._data_dir(), ETL_LOCK) as held:
            if not held:
                return None
            return run_pass(self.env, rebuild=rebuild, take_all=take_all)

    @lake_io
    def run_manual_pass(self) -> PassResult | None:
        """``POST /metrics/etl/run``: flush this process's writer (§6.5), then one locked pass."""
        if self.writer is not None:
            self.writer.flush()
        return self.run_locked_pass()

    def run_scheduled_pass(self) -> PassResult | None:
        """The scheduler's tick (the job runner already holds the ETL lock). Every replica's scheduler
        ticks; a tick that comes less than an interval after the last pass started (by any of them)
        is skipped, so N replicas run the ETL once per interval, not N times. None when skipped."""
        with self.db() as session:
            last = session.scalar(select(func.max(EtlRun.started_at)))
        if last is not None:
            last = last if last.tzinfo is not None else last.replace(tzinfo=dt.UTC)
            since = (dt.datetime.now(dt.UTC) - last).total_seconds()
            if 0 <= since < TICK_SHARE * self.settings.metrics_etl_interval_seconds:
                return None
        return run_pass(self.env)
