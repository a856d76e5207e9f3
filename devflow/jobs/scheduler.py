"""Background jobs: APScheduler 3 ``BackgroundScheduler`` in the app lifespan (or ``devflow worker``).

Every replica may run the scheduler; each job run first takes its named runner lock
(:mod:`devflow.jobs.lock`), so a job never runs twice at once across replicas, and a tick that finds
the lock held is skipped. Job errors are logged, never fatal. (APScheduler job stores must not be
shared between processes, so the scheduler keeps its jobs in memory.)

**Adding a job** (e.g. the insight check every ``INSIGHT_CHECK_INTERVAL_SECONDS``): write a
``def my_jobs(ctx: AppContext) -> list[Job]`` that returns nothing when the feature is disabled, and
append it to :data:`JOB_SOURCES`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from devflow.jobs.lock import ETL_LOCK, PAIRING_CLEANUP_LOCK, try_runner_lock

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

    from devflow.http.context import AppContext

log = logging.getLogger("devflow.jobs")

PAIRING_CLEANUP_INTERVAL_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class Job:
    """A periodic job; ``name`` is also the name of its runner lock."""

    name: str
    interval_seconds: float
    run: Callable[[AppContext], object]


def etl_jobs(ctx: AppContext) -> list[Job]:
    """The metrics ETL every ``METRICS_ETL_INTERVAL_SECONDS`` unless ``METRICS_ETL_ENABLED`` is off."""
    if not ctx.settings.metrics_etl_enabled:
        return []

    def etl_tick(ctx: AppContext) -> object:
        from devflow.metrics.etl import run_pass
        from devflow.metrics.service import etl_env

        return run_pass(etl_env(ctx))

    return [Job(ETL_LOCK, ctx.settings.metrics_etl_interval_seconds, etl_tick)]


def pairing_jobs(ctx: AppContext) -> list[Job]:
    """The pairing cleanup of §5.2 every 300 s, whatever ``INSIGHTS_ENABLED`` says (§7.1)."""
    try:
        from devflow.accounts.pairing import cleanup_pairings
    except ImportError:  # pragma: no cover - the accounts context always ships it
        return []

    def cleanup(ctx: AppContext) -> object:
        return cleanup_pairings(ctx.db, datetime.now(UTC))

    return [Job(PAIRING_CLEANUP_LOCK, PAIRING_CLEANUP_INTERVAL_SECONDS, cleanup)]


def _insight_jobs(ctx: AppContext) -> list[Job]:
    from devflow.insights.jobs import insight_jobs

    return insight_jobs(ctx)


# Each source returns the jobs of one context for this configuration.
JOB_SOURCES: list[Callable[[AppContext], list[Job]]] = [etl_jobs, pairing_jobs, _insight_jobs]


def register_jobs(ctx: AppContext) -> list[Job]:
    """Every job enabled by the configuration."""
    jobs: list[Job] = []
    for source in JOB_SOURCES:
        jobs.extend(source(ctx))
    return jobs


def run_guarded(job: Job, ctx: AppContext) -> bool:
    """Run ``job`` once if its runner lock is free; errors are logged. Returns whether it ran."""
    try:
        with try_runner_lock(ctx.engine, ctx.settings.data_dir, job.name) as held:
            if not held:
                log.info("job %s skipped: running elsewhere", job.name)
                return False
            job.run(ctx)
            return True
    except Exception:
        log.exception("job %s failed", job.name)
        return False


def start_scheduler(ctx: AppContext, jobs: list[Job] | None = None) -> BackgroundScheduler | None:
    """Start a background scheduler with ``jobs`` (default: :func:`register_jobs`); None if none."""
    jobs = register_jobs(ctx) if jobs is None else jobs
    if not jobs:
        return None
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(timezone=UTC)
    for job in jobs:
        scheduler.add_job(
            run_guarded,
            "interval",
            seconds=job.interval_seconds,
            args=(job, ctx),
            id=job.name,
            name=job.name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(job.interval_seconds)),
        )
    scheduler.start()
    log.info("scheduler started: %s", ", ".join(f"{j.name} every {j.interval_seconds:g}s" for j in jobs))
    return scheduler


def stop_scheduler(scheduler: BackgroundScheduler | None) -> None:
    """Stop the scheduler without waiting for running jobs (their locks are released as they end)."""
    if scheduler is not None:
        scheduler.shutdown(wait=False)
