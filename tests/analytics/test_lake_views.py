"""``devflow generate`` through the ingest path, and the analyst views of ``devflow.analytics.connect``."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from devflow.accounts.credentials import issue_jwt
from devflow.accounts.models import User
from devflow.analytics import (
    connect,
    scan_events,
    scan_metrics_daily,
    scan_metrics_quarter_hours,
    scan_metrics_session,
    scan_quarantine,
    scan_user_daily,
)
from devflow.analytics.generate import GenerateReport, write_synthetic
from devflow.analytics.synthetic import SyntheticSpec, generate
from devflow.config import Settings
from devflow.db.engine import make_engine, make_session_factory
from devflow.lake.registry import LakeFile
from devflow.lake.storage import LakeStorage
from devflow.metrics.etl import EtlEnv, run_pass
from devflow.telemetry.models import Session as TelemetrySession

SPEC = SyntheticSpec(users=10, days=3, seed=21, end_date=date(2026, 5, 13))
NOW = datetime(2026, 5, 15, tzinfo=UTC)


def _generate(settings: Settings) -> GenerateReport:
    engine = make_engine(settings.database_url)
    try:
        return write_synthetic(settings, SPEC, db=make_session_factory(engine), now=NOW)
    finally:
        engine.dispose()


def _etl(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    try:
        env = EtlEnv(settings, make_session_factory(engine), LakeStorage.from_url(settings.lake_url))
        run_pass(env, take_all=True)
    finally:
        engine.dispose()


def test_generate_writes_users_sessions_and_registered_event_files(settings: Settings) -> None:
    report = _generate(settings)
    expected = generate(SPEC)
    assert report.events_written == expected.event_count > 0
    assert report.users_created == SPEC.users
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as db:
            usernames = set(db.scalars(select(User.username)))
            assert usernames == {u.username for u in expected.users}
            sessions = {str(s.id): s for s in db.scalars(select(TelemetrySession))}
            registered = db.scalar(select(func.sum(LakeFile.row_count)).where(LakeFile.kind == "events"))
    finally:
        engine.dispose()
    assert registered == report.events_written
    assert set(sessions) == {sid for d in expected.days for sid in d.session_ids}
    # start_time / last_event_at are the first and last event of each session (§3.6)
    first_day = expected.days[0]
    sid = first_day.session_ids[0]
    stamps = [e["timestamp"] for e in first_day.events if e["session_id"] == sid]
    row = sessions[sid]
    assert row.start_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z" == stamps[0]
    assert row.last_event_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z" == stamps[-1]


def test_views_deduplicate_a_second_generate_run(settings: Settings) -> None:
    """Checklist 86 for the analyst views: the same events written twice count once."""
    first = _generate(settings)
    second = _generate(settings)
    assert second.users_created == 0 and second.events_written == first.events_written
    con = connect(settings=settings)
    assert con.sql("SELECT count(*) FROM events_all").fetchall()[0][0] == 2 * first.events_written
    assert con.sql("SELECT count(*) FROM events").fetchall()[0][0] == first.events_written
    assert scan_events(settings=settings).select(pl.len()).collect().item() == first.events_written
    assert scan_events(settings=settings, deduplicate=False).select(pl.len()).collect().item() == (
        2 * first.events_written
    )


def test_views_exist_and_are_empty_on_an_empty_lake(settings: Settings) -> None:
    con = connect(settings=settings)
    for view in ("events", "events_all", "quarantine", "metrics_daily", "metrics_session", "user_daily"):
        assert con.sql(f"SELECT count(*) FROM {view}").fetchall() == [(0,)]  # noqa: S608
    assert scan_quarantine(settings=settings).collect().height == 0
    assert scan_metrics_daily(settings=settings).collect().height == 0
    assert scan_user_daily(settings=settings).collect().height == 0


def test_metric_views_after_etl_match_between_duckdb_and_polars(settings: Settings) -> None:
    _generate(settings)
    _etl(settings)
    con = connect(settings.lake_url)  # a lake given by path works like the settings' lake
    daily = con.sql("SELECT user_id, date, lines_added, lines_deleted, churn_ratio FROM user_daily").pl()
    assert daily.height > 0
    polars_daily = scan_user_daily(settings=settings).select(daily.columns).collect()
    assert daily.sort("user_id", "date").equals(polars_daily.sort("user_id", "date"))
    total_daily = con.sql("SELECT sum(lines_added) FROM metrics_daily").fetchall()[0][0]
    total_session = con.sql("SELECT sum(lines_added) FROM metrics_session").fetchall()[0][0]
    assert total_daily == total_session == daily["lines_added"].sum() > 0
    # every table has one grain: switches summed per file equal the daily totals
    switches = con.sql("SELECT sum(switch_count) FROM metrics_daily").fetchall()[0][0]
    per_file = con.sql("SELECT sum(switch_count) FROM metrics_file_switches").fetchall()[0][0]
    assert 0 < per_file <= switches
    # the quarter-hour rows sum to the daily totals, per (user, session, UTC date)
    by_day = (
        "SELECT user_id, session_id, date, sum(lines_added), sum(switch_count), sum(activity_count) "
        "FROM {} GROUP BY ALL ORDER BY ALL"
    )
    quarters = con.sql(by_day.format("metrics_quarter_hours")).fetchall()
    assert quarters == con.sql(by_day.format("metrics_daily")).fetchall() and len(quarters) > 0
    assert (
        scan_metrics_quarter_hours(settings=settings).collect().height
        == (con.sql("SELECT count(*) FROM metrics_quarter_hours").fetchall()[0][0])
    )
    coding = con.sql("SELECT sum(seconds) FROM metrics_coding_time").fetchall()[0][0]
    active = con.sql("SELECT sum(active_seconds) FROM metrics_session").fetchall()[0][0]
    assert coding == pytest.approx(active) and coding > 0
    assert (
        scan_metrics_session(settings=settings).collect().height
        == con.sql("SELECT count(*) FROM metrics_session").fetchall()[0][0]
    )
    # churn_ratio is the rules' definition: min(1, deleted / added), null without additions
    for row in daily.iter_rows(named=True):
        if row["lines_added"]:
            assert row["churn_ratio"] == pytest.approx(min(1.0, row["lines_deleted"] / row["lines_added"]))


def test_generated_data_is_served_by_the_metrics_api(
    settings: Settings, make_client: Callable[..., TestClient[Any]]
) -> None:
    """The generated users own their sessions, so the service serves their metrics."""
    _generate(settings)
    _etl(settings)
    user = generate(SPEC).users[4]
    jwt = issue_jwt(settings.with_dev_secret().jwt_secret, uuid.UUID(str(user.user_id)), "password")
    client = make_client()
    response = client.get(
        "/api/v1/metrics/churn",
        params={"from": "2026-05-10", "to": "2026-05-14"},
        headers={"Authorization": f"Bearer {jwt}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    con = connect(settings=settings)
    expected = con.sql(
        "SELECT coalesce(sum(lines_added), 0) FROM user_daily WHERE user_id = $u",
        params={"u": str(user.user_id)},
    ).fetchall()[0][0]
    assert body["total_lines_added"] == expected > 0


ANALYST_SQL = sorted((Path(__file__).resolve().parents[2] / "sql" / "analyst").glob("*.sql"))


def test_every_analyst_query_runs_on_a_generated_lake(settings: Settings) -> None:
    """The examples in sql/analyst/ run unchanged on connect()'s views and find data."""
    _generate(settings)
    _etl(settings)
    con = connect(settings=settings)
    assert len(ANALYST_SQL) >= 5
    for path in ANALYST_SQL:
        frame = con.sql(path.read_text(encoding="utf-8")).pl()
        assert frame.width >= 2, path.name
        if path.stem != "quarantine_reasons":  # the generator sends only valid events
            assert frame.height > 0, path.name


def test_worker_processes_write_the_same_events(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """``--workers 2`` builds the rows in other processes; the lake holds exactly the same events."""
    spec = SyntheticSpec(users=6, days=2, seed=4, end_date=date(2026, 5, 13))
    fingerprints = []
    for workers, folder in ((1, "one"), (2, "two")):
        settings = make_settings(DEVFLOW_LAKE_URL=str(tmp_path / folder))
        engine = make_engine(settings.database_url)
        try:
            write_synthetic(settings, spec, db=make_session_factory(engine), now=NOW, workers=workers)
        finally:
            engine.dispose()
        con = connect(settings=settings)
        fingerprints.append(con.sql("SELECT fingerprint FROM events ORDER BY fingerprint").fetchall())
    assert fingerprints[0] == fingerprints[1] and len(fingerprints[0]) == generate(spec).event_count


def test_intensity_scales_the_event_rate() -> None:
    calm = generate(SyntheticSpec(users=6, days=3, seed=2, end_date=date(2026, 5, 13)))
    busy = generate(SyntheticSpec(users=6, days=3, seed=2, end_date=date(2026, 5, 13), intensity=2.0))
    assert busy.event_count > 1.5 * calm.event_count
