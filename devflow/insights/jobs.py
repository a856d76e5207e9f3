"""The scheduled insight check (contract §7.1) and ``devflow insights run``."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Final

from devflow.config import Settings

if TYPE_CHECKING:
    from devflow.http.context import AppContext
    from devflow.jobs.scheduler import Job

INSIGHT_CHECK_LOCK: Final = "insight-check"


def insight_jobs(ctx: AppContext) -> list[Job]:
    """The insight pass every ``INSIGHT_CHECK_INTERVAL_SECONDS`` unless ``INSIGHTS_ENABLED`` is off.

    It runs with or without ``GOOGLE_API_KEY`` (the template generator stands in). The runner lock
    keeps one pass at a time across replicas; per-user locks inside keep the trigger endpoint and
    the pass from evaluating one user at once.
    """
    if not ctx.settings.insights_enabled:
        return []
    from devflow.insights.pipeline import run_insights
    from devflow.jobs.scheduler import Job

    return [Job(INSIGHT_CHECK_LOCK, ctx.settings.insight_check_interval_seconds, run_insights)]


def _cmd_insights_run(_: argparse.Namespace, settings: Settings) -> int:
    from devflow.db.engine import make_engine, make_session_factory
    from devflow.db.migrate import upgrade_with_lock
    from devflow.http.context import AppContext
    from devflow.insights.pipeline import run_insights
    from devflow.jobs.lock import try_runner_lock

    engine = make_engine(settings.database_url)
    try:
        upgrade_with_lock(engine)
        ctx = AppContext(settings=settings, engine=engine, db=make_session_factory(engine))
        with try_runner_lock(engine, settings.data_dir, INSIGHT_CHECK_LOCK) as held:
            if not held:
                print("insight pass already in flight")
                return 1
            summary = run_insights(ctx)
        print(json.dumps(summary.as_dict(), sort_keys=True))
        return 0
    finally:
        engine.dispose()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``insights run`` to the ``devflow`` command."""
    insights = sub.add_parser("insights", help="insight pipeline").add_subparsers(
        dest="insights_command", required=True
    )
    insights.add_parser(
        "run", help="evaluate every recently active user once (real mode), print a JSON summary"
    ).set_defaults(func=_cmd_insights_run)
