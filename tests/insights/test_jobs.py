"""The scheduled insight pass (contract §7.1) and ``devflow insights run``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from devflow.config import Settings
from devflow.insights import run_insights
from devflow.jobs import INSIGHT_CHECK_LOCK, enabled_jobs
from tests.conftest import BASE_ENV
from tests.insights.support import (
    FakeGemini,
    add_recommendation,
    add_session,
    evaluations,
    model_output,
    pending_count,
    recommendation_rows,
)
from tests.support.accounts import create_user
from tests.support.lake import services_of


@pytest.fixture()
def gemini() -> Iterator[FakeGemini]:
    fake = FakeGemini().start()
    yield fake
    fake.stop()


def test_pass_evaluates_active_users_outside_cooldown(client: TestClient[Any], settings: Settings) -> None:
    """§7.1: candidates have a session with last_event_at inside INSIGHT_ACTIVITY_WINDOW_MINUTES; each is
    evaluated in real mode (gates included)."""
    due = create_user(settings)
    add_session(settings, due.id, minutes=250)
    idle = create_user(settings)  # long session, but its last event is 2 h old
    add_session(settings, idle.id, minutes=300, ended_ago=timedelta(hours=2))
    cooling = create_user(settings)
    add_session(settings, cooling.id, minutes=250, ended_ago=timedelta(minutes=5))
    held = add_recommendation(settings, cooling.id, created_ago=timedelta(minutes=10))
    quiet = create_user(settings)
    add_session(settings, quiet.id, minutes=15)

    summary = run_insights(services_of(client).insights)
    assert summary.as_dict() | {"duration_ms": 0} == {
        "candidates": 3,
        "in_cooldown": 1,
        "no_rule_fired": 1,
        "evaluated": 1,
        "outcomes": {"analysis_paralysis": 1},
        "errors": 0,
        "duration_ms": 0,
    }
    assert [r.code_context["triggered_rule"] for r in recommendation_rows(settings, due.id)] == [
        "very_long_session"
    ]
    assert recommendation_rows(settings, idle.id) == []
    assert [(r.id, r.user_action) for r in recommendation_rows(settings, cooling.id)] == [(held, None)]
    assert evaluations(settings, quiet.id) == []
    # A second pass right away finds everyone in cooldown or quiet: nothing new, the model is not asked.
    again = run_insights(services_of(client).insights)
    assert again.evaluated == 0 and again.in_cooldown == 2
    assert pending_count(settings, due.id) == 1


def test_pass_bounds_concurrent_model_calls(
    make_client: Callable[..., TestClient[Any]], settings: Settings, gemini: FakeGemini
) -> None:
    """§7.1: at most 4 model calls at once per process; every due user is still evaluated once."""
    client = make_client(
        GOOGLE_API_KEY="fake-key", GEMINI_BASE_URL=gemini.base_url, GEMINI_TIMEOUT_SECONDS="5"
    )
    gemini.answer_json(model_output())
    gemini.reply.delay = 0.3
    users = [create_user(settings) for _ in range(9)]
    for user in users:
        add_session(settings, user.id, minutes=250)
    summary = run_insights(services_of(client).insights)
    assert summary.evaluated == 9 and summary.errors == 0
    assert summary.outcomes == {"stuck_loop": 9}
    assert len(gemini.calls) == 9
    assert 1 < gemini.max_in_flight <= 4
    assert all(pending_count(settings, user.id) == 1 for user in users)


def test_pass_survives_model_failures(
    make_client: Callable[..., TestClient[Any]], settings: Settings, gemini: FakeGemini
) -> None:
    """§7.1: errors are logged, never fatal — a failing model gives llm_failed per user and the pass ends."""
    client = make_client(
        GOOGLE_API_KEY="fake-key", GEMINI_BASE_URL=gemini.base_url, GEMINI_TIMEOUT_SECONDS="5"
    )
    gemini.reply.status = 500
    user = create_user(settings)
    add_session(settings, user.id, minutes=250)
    summary = run_insights(services_of(client).insights)
    assert summary.outcomes == {"llm_failed": 1} and summary.errors == 0
    assert evaluations(settings, user.id) == ["failed"]


def test_job_registration_follows_insights_enabled(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    """§7.1: scheduled every INSIGHT_CHECK_INTERVAL_SECONDS unless INSIGHTS_ENABLED is false or 0."""
    enabled = services_of(make_client(INSIGHTS_ENABLED="true", INSIGHT_CHECK_INTERVAL_SECONDS="120"))
    [job] = [j for j in enabled_jobs(enabled) if j.name == INSIGHT_CHECK_LOCK]
    assert job.interval_seconds == 120
    for off in ("false", "0", "FALSE"):
        services = services_of(make_client(INSIGHTS_ENABLED=off))
        assert INSIGHT_CHECK_LOCK not in [j.name for j in enabled_jobs(services)]


def test_cli_insights_run(settings: Settings, database_url: str) -> None:
    """``devflow insights run`` evaluates once and prints a JSON summary."""
    user = create_user(settings)
    add_session(settings, user.id, minutes=250)
    # A minimal environment: nothing from the caller's shell (an API key, RULE_* …) leaks in.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        **BASE_ENV,
        "DATABASE_URL": database_url,
        "DEVFLOW_DATA_DIR": str(settings.data_dir),
    }
    out = subprocess.run(
        [sys.executable, "-m", "devflow", "insights", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["candidates"] == 1 and summary["outcomes"] == {"analysis_paralysis": 1}
    assert pending_count(settings, user.id) == 1


def test_scheduler_runs_the_pass_inside_the_app(
    make_client: Callable[..., TestClient[Any]], settings: Settings
) -> None:
    """§7.1 wiring: with INSIGHTS_ENABLED the app's scheduler evaluates active users by itself."""
    import time

    user = create_user(settings)
    add_session(settings, user.id, minutes=250)
    make_client(INSIGHTS_ENABLED="true", INSIGHT_CHECK_INTERVAL_SECONDS="0.5")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not recommendation_rows(settings, user.id):
        time.sleep(0.2)
    [rec] = recommendation_rows(settings, user.id)
    assert rec.code_context["triggered_rule"] == "very_long_session"
    assert rec.code_context["generator"] == "template"
