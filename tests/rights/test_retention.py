"""Retention (issue 16): exactly the raw event partitions older than the cutoff that the metrics ETL
has taken in go, never one it has not; quarantine partitions past their own retention go."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bench.bulk_events import synthetic_events
from devflow.config import Settings
from devflow.lake.partitions import write_partitioned
from devflow.lake.registry import register_files, register_unlisted_files
from devflow.rights.retention import apply_retention
from devflow.services import build_services, close
from devflow.telemetry import EVENTS_TABLE
from devflow.telemetry.arrow import quarantine_table
from devflow.telemetry.tables import QUARANTINE_TABLE
from tests.conftest import BASE_ENV
from tests.support.accounts import create_user
from tests.support.lake import write_event_files


def _dates(lake: Path, kind: str) -> set[str]:
    return {p.name.removeprefix("date=") for p in (lake / kind).glob("date=*") if any(p.glob("*.parquet"))}


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **BASE_ENV,
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": settings.database_url,
        "DEVFLOW_DATA_DIR": str(settings.data_dir),
        "DEVFLOW_LAKE_URL": settings.lake_url,
        "RAW_EVENTS_RETENTION_DAYS": str(settings.raw_events_retention_days),
    }
    return subprocess.run(
        [sys.executable, "-m", "devflow", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_retention_drops_exactly_the_taken_in_partitions(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(RAW_EVENTS_RETENTION_DAYS="5", QUARANTINE_RETENTION_DAYS="30")
    user = create_user(settings)
    uid = [str(user.id)]
    today = dt.datetime.now(dt.UTC).date()

    def day(n: int) -> str:
        return (today - dt.timedelta(days=n)).isoformat()

    services = build_services(settings)
    try:
        start = today - dt.timedelta(days=10)
        write_event_files(
            services.lake, services.db, synthetic_events(4_000, user_ids=uid, start=start, days=10)
        )
        assert services.metrics.run_locked_pass(take_all=True) is not None
        # Late files in two old partitions, after the pass: one registered, one not (a crash between
        # the writer's rename and its INSERT). Neither is taken in, so neither partition may go.
        late = synthetic_events(50, user_ids=uid, start=today - dt.timedelta(days=8), days=1, seed=3)
        write_event_files(services.lake, services.db, late)
        orphan = synthetic_events(50, user_ids=uid, start=today - dt.timedelta(days=7), days=1, seed=4)
        write_partitioned(services.lake, EVENTS_TABLE, orphan)
        for age in (40, 31, 3):
            rows = quarantine_table(
                user_id=str(user.id),
                received_at=dt.datetime.combine(today - dt.timedelta(days=age), dt.time(12), dt.UTC),
                batch_id=f"b{age}",
                batch_indexes=[0],
                reasons=["invalid_type"],
                raws=[json.dumps({"type": "x"}).encode()],
            )
            register_files(services.db, write_partitioned(services.lake, QUARANTINE_TABLE, rows))
        lake = Path(settings.lake_url)
        before = _dates(lake, "events")
        assert {day(n) for n in range(1, 11)} <= before

        dry = _cli(settings, "lake", "retain", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert f"would drop events date={day(10)}" in dry.stdout
        assert f"keep events date={day(8)}" in dry.stdout
        assert _dates(lake, "events") == before  # a dry run changes nothing

        decisions = apply_retention(services)
        assert decisions is not None
        expected = {day(n) for n in (10, 9, 6)}  # older than 5 days and taken in (8 and 7 are not)
        assert {d.date for d in decisions if d.kind == "events" and d.drop} == expected
        assert _dates(lake, "events") == before - expected
        assert _dates(lake, "quarantine") == {day(3)}
        # Once the ETL has taken the late registered file in, its partition goes too; the orphan's
        # waits for registration (the ETL registers orphans after a grace period), then goes.
        assert services.metrics.run_locked_pass(take_all=True) is not None
        apply_retention(services)
        assert _dates(lake, "events") == before - expected - {day(8)}
        register_unlisted_files(services.lake, services.db, ["events"])
        assert services.metrics.run_locked_pass(take_all=True) is not None
        apply_retention(services)
        assert _dates(lake, "events") == before - expected - {day(8), day(7)}
        daily = {p.name.removeprefix("date=") for p in (lake / "metrics_daily").glob("date=*")}
        assert expected <= daily
    finally:
        close(services)


def _metric_rows(lake: Path, kind: str, dates: set[str]) -> list[tuple[object, ...]]:
    """The rows of ``kind``'s partitions of ``dates``, sorted (definition labels left out)."""
    import duckdb

    files = [str(p) for d in sorted(dates) for p in (lake / kind / f"date={d}").glob("*.parquet")]
    if not files:
        return []
    rel = duckdb.read_parquet(files)
    columns = [c for c in rel.columns if c != "definition"]
    return sorted(rel.select(*columns).fetchall(), key=repr)


def test_a_rebuild_after_retention_keeps_the_metrics_of_dropped_days(
    make_settings: Callable[..., Settings],
) -> None:
    """Retention keeps the metrics of the days it drops; a full rebuild (asked for, or forced by a
    changed definition) cannot recompute them and must not delete them — nor rebuild forever."""
    settings = make_settings(RAW_EVENTS_RETENTION_DAYS="5")
    user = create_user(settings)
    today = dt.datetime.now(dt.UTC).date()
    dropped = {(today - dt.timedelta(days=n)).isoformat() for n in (10, 9, 8, 7, 6)}
    lake = Path(settings.lake_url)
    services = build_services(settings)
    try:
        events = synthetic_events(
            3_000, user_ids=[str(user.id)], start=today - dt.timedelta(days=10), days=10
        )
        write_event_files(services.lake, services.db, events)
        assert services.metrics.run_locked_pass(take_all=True) is not None
        before = {
            kind: _metric_rows(lake, kind, dropped) for kind in ("metrics_daily", "metrics_coding_time")
        }
        assert all(before.values())
        apply_retention(services)
        assert not dropped & _dates(lake, "events")

        rebuilt = services.metrics.run_locked_pass(rebuild=True)
        assert rebuilt is not None and rebuilt.full
        for kind, rows in before.items():
            assert _metric_rows(lake, kind, dropped) == rows, kind
        session_dates = _session_dates(lake)
        assert any(dates and set(dates) <= dropped for dates in session_dates)
        nxt = services.metrics.run_locked_pass()
        assert nxt is not None and not nxt.full
    finally:
        close(services)

    # A changed definition rebuilds once, keeps the dropped days' figures, and then settles.
    changed = build_services(
        Settings.from_env({**_env_of(settings), "METRICS_LINE_COUNTING": "typing-heuristic"})
    )
    try:
        first = changed.metrics.run_locked_pass()
        assert first is not None and first.full
        assert _metric_rows(lake, "metrics_daily", dropped) == before["metrics_daily"]
        second = changed.metrics.run_locked_pass()
        assert second is not None and not second.full
    finally:
        close(changed)


def _session_dates(lake: Path) -> list[list[str]]:
    import duckdb

    files = [str(p) for p in (lake / "metrics_session").glob("*/*.parquet")]
    return [[d.isoformat() for d in row[0]] for row in duckdb.read_parquet(files).select("dates").fetchall()]


def _env_of(settings: Settings) -> dict[str, str]:
    return {
        **BASE_ENV,
        "DATABASE_URL": settings.database_url,
        "DEVFLOW_DATA_DIR": str(settings.data_dir),
        "DEVFLOW_LAKE_URL": settings.lake_url,
        "RAW_EVENTS_RETENTION_DAYS": "5",
    }
