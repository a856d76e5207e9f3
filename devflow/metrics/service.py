"""Running ETL passes under the single-runner lock, for the endpoint, the scheduler and the CLI."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from devflow.jobs.lock import ETL_LOCK, try_runner_lock
from devflow.metrics.etl import EtlEnv, PassResult, run_pass
from devflow.metrics.queries import lake_storage

if TYPE_CHECKING:
    from devflow.http.context import AppContext

log = logging.getLogger("devflow.metrics")


def etl_env(ctx: AppContext) -> EtlEnv:
    """The ETL's view of an app context."""
    return EtlEnv(settings=ctx.settings, db=ctx.db, storage=lake_storage(ctx))


def flush_own_writer(ctx: AppContext) -> None:
    """Make this process's buffered events visible in the lake (a manual run does this first)."""
    writer = getattr(ctx, "lake_writer", None)
    if writer is not None:
        writer.flush()


def run_locked_pass(ctx: AppContext, *, rebuild: bool = False, take_all: bool = False) -> PassResult | None:
    """One pass if no other runner holds the ETL lock (anywhere); None when one does."""
    with try_runner_lock(ctx.engine, ctx.settings.data_dir, ETL_LOCK) as held:
        if not held:
            return None
        return run_pass(etl_env(ctx), rebuild=rebuild, take_all=take_all)


def run_manual_pass(ctx: AppContext) -> PassResult | None:
    """``POST /metrics/etl/run``: flush this process's writer, then one locked pass."""
    flush_own_writer(ctx)
    return run_locked_pass(ctx)


def scheduled_etl(ctx: AppContext) -> None:
    """The scheduler's ETL tick: one pass unless another runner holds the lock."""
    result = run_locked_pass(ctx)
    if result is None:
        log.info("scheduled ETL pass skipped: another pass is in flight")
