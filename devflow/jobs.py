"""Background jobs: APScheduler 3 ``BackgroundScheduler`` in the app lifespan (or ``devflow worker``).

Every replica may run the scheduler; each job run first takes its named runner lock
(:func:`devflow.db.locks.try_runner_lock`), so a job never runs twice at once across replicas, and a
tick that finds the lock held is skipped. Job errors are logged, never fatal. (APScheduler job stores
must not be shared between processes, so the scheduler keeps its jobs in memory.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC

from apscheduler.schedulers.background import BackgroundScheduler

from devflow.accounts import cleanup_pairings
from devflow.db.locks import try_runner_lock
from devflow.insights import run_insights
from devflow.kernel import instruments
from devflow.metrics import ETL_LOCK
from devflow.rights.deletion import DELETION_LOCK, resume_deletions
from devflow.rights.retention import (
    RETENTION_INTERVAL_SECONDS,
    RETENTION_LOCK,
    apply_retention,
    retention_enabled,
)
from devflow.services import Services

log = logging.getLogger("devflow.jobs")

PAIRING_CLEANUP_LOCK = "pairing-cleanup"
PAIRING_CLEANUP_INTERVAL_SECONDS = 300.0
INSIGHT_CHECK_LOCK = "insight-check"
DELETION_RESUME_INTERVAL_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Job:
    """A periodic job; ``name`` is also the name of its runner lock."""

    name: str
    interval_seconds: float
    run: Callable[[], object]


def enabled_jobs(services: Services) -> list[Job]:
    """Every job the configuration enables."""
    settings = services.settings
    jobs: list[Job] = []
    if settings.metrics_etl_enabled:
        jobs.append(Job(ETL_LOCK, settings.metrics_etl_interval_seconds, services.metrics.run_scheduled_pass))
    # The pairing cleanup of §5.2 runs whatever INSIGHTS_ENABLED says (§7.1).
    jobs.append(
        Job(
            PAIRING_CLEANUP_LOCK,
            PAIRING_CLEANUP_INTERVAL_SECONDS,
            lambda: cleanup_pairings(services.db, services.clock()),
        )
    )
    if settings.insights_enabled:
        # With or without GOOGLE_API_KEY (the template generator stands in); per-user locks inside keep
        # the trigger endpoint and the pass from evaluating one user at once.
        jobs.append(
            Job(
                INSIGHT_CHECK_LOCK,
                settings.insight_check_interval_seconds,
                lambda: run_insights(services.insights),
            )
        )
    # Account deletions a killed process left unfinished, or whose lake step waited for the ETL.
    jobs.append(Job(DELETION_LOCK, DELETION_RESUME_INTERVAL_SECONDS, lambda: resume_deletions(services)))
    if retention_enabled(services):
        jobs.append(Job(RETENTION_LOCK, RETENTION_INTERVAL_SECONDS, lambda: apply_retention(services)))
    return jobs


def run_guarded(job: Job, services: Services) -> bool:
    """Run ``job`` once if its runner lock is free; errors are logged. Returns whether it ran."""
    try:
        with try_runner_lock(services.engine, services.settings.data_dir, job.name) as held:
            if not held:
                log.info("job %s skipped: running elsewhere", job.name)
                instruments.count_job(job.name, "skipped")
                return False
            job.run()
            instruments.count_job(job.name, "ran")
            return True
    except Exception:
        log.exception("job %s failed", job.name)
        instruments.count_job(job.name, "failed")
        return False


def start_scheduler(services: Services, jobs: list[Job] | None = None) -> BackgroundScheduler | None:
    """Start a background scheduler with ``jobs`` (default: :func:`enabled_jobs`); None if none."""
    jobs = enabled_jobs(services) if jobs is None else jobs
    if not jobs:
        return None
    scheduler = BackgroundScheduler(timezone=UTC)
    for job in jobs:
        scheduler.add_job(
            run_guarded,
            "interval",
            seconds=job.interval_seconds,
            args=(job, services),
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
    """Stop the scheduler, letting a running job finish: one that outlived its process's services
    would write to a database and lake that are closing (every job is bounded: try-locks, timed
    model calls; a killed process relies on the jobs' crash safety instead)."""
    if scheduler is not None:
        scheduler.shutdown(wait=True)
