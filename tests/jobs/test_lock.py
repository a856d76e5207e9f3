"""The single-runner lock and the guarded job runner (contract §6.5, §7.1)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Engine

from devflow.config import Settings
from devflow.db.engine import make_engine, make_session_factory
from devflow.http.context import AppContext
from devflow.jobs.lock import ETL_LOCK, try_runner_lock
from devflow.jobs.scheduler import Job, register_jobs, run_guarded


@pytest.fixture()
def engine(settings: Settings) -> Engine:
    engine = make_engine(settings.database_url)
    yield engine  # type: ignore[misc]
    engine.dispose()


def test_lock_is_exclusive_and_released(settings: Settings, engine: Engine) -> None:
    other_engine = make_engine(settings.database_url)  # another pool: like another process
    try:
        with try_runner_lock(engine, settings.data_dir, ETL_LOCK) as first:
            assert first
            with try_runner_lock(other_engine, settings.data_dir, ETL_LOCK) as second:
                assert not second
            with try_runner_lock(other_engine, settings.data_dir, "another-job") as unrelated:
                assert unrelated
        with try_runner_lock(other_engine, settings.data_dir, ETL_LOCK) as again:
            assert again
    finally:
        other_engine.dispose()


def test_guarded_job_skips_when_held_and_logs_errors(
    settings: Settings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = AppContext(settings=settings, engine=engine, db=make_session_factory(engine))
    calls: list[str] = []

    def boom(_: AppContext) -> None:
        calls.append("boom")
        raise RuntimeError("job failure")

    job = Job("test-job", 60, boom)
    with caplog.at_level(logging.ERROR, logger="devflow.jobs"):
        assert run_guarded(job, ctx) is False
    assert calls == ["boom"] and "job test-job failed" in caplog.text
    with try_runner_lock(engine, settings.data_dir, "test-job") as held:
        assert held
        assert run_guarded(job, ctx) is False
    assert calls == ["boom"]  # skipped while another runner held the lock


def test_jobs_follow_configuration(settings: Settings, engine: Engine) -> None:
    ctx = AppContext(settings=settings, engine=engine, db=make_session_factory(engine))
    assert [j.name for j in register_jobs(ctx)] == ["pairing-cleanup"]  # ETL disabled in tests
    enabled = AppContext(
        settings=settings.replace(metrics_etl_enabled=True, metrics_etl_interval_seconds=42.0),
        engine=engine,
        db=make_session_factory(engine),
    )
    jobs = {j.name: j.interval_seconds for j in register_jobs(enabled)}
    assert jobs == {"metrics-etl": 42.0, "pairing-cleanup": 300.0}
