"""The single-runner lock and the guarded job runner (contract §6.5, §7.1)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Engine

from devflow.config import Settings
from devflow.db.engine import make_engine
from devflow.db.locks import try_runner_lock
from devflow.jobs import Job, enabled_jobs, run_guarded
from devflow.metrics import ETL_LOCK
from devflow.services import build_services, close


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
    services = build_services(settings)
    calls: list[str] = []

    def boom() -> None:
        calls.append("boom")
        raise RuntimeError("job failure")

    job = Job("test-job", 60, boom)
    try:
        with caplog.at_level(logging.ERROR, logger="devflow.jobs"):
            assert run_guarded(job, services) is False
        assert calls == ["boom"] and "job test-job failed" in caplog.text
        with try_runner_lock(engine, settings.data_dir, "test-job") as held:
            assert held
            assert run_guarded(job, services) is False
        assert calls == ["boom"]  # skipped while another runner held the lock
    finally:
        close(services)


def test_jobs_follow_configuration(settings: Settings) -> None:
    quiet = build_services(settings)
    enabled = build_services(settings.replace(metrics_etl_enabled=True, metrics_etl_interval_seconds=42.0))
    try:
        # ETL disabled in tests; deletion resumption always; retention because quarantine defaults to 30 days.
        always = ["pairing-cleanup", "account-deletions", "lake-retention"]
        assert [j.name for j in enabled_jobs(quiet)] == always
        jobs = {j.name: j.interval_seconds for j in enabled_jobs(enabled)}
        assert jobs == {
            "metrics-etl": 42.0,
            "pairing-cleanup": 300.0,
            "account-deletions": 60.0,
            "lake-retention": 3600.0,
        }
        no_retention = build_services(settings.replace(quarantine_retention_days=None))
        try:
            assert "lake-retention" not in [j.name for j in enabled_jobs(no_retention)]
        finally:
            close(no_retention)
    finally:
        close(quiet)
        close(enabled)
