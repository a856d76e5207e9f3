"""The ``users`` and ``sessions`` views, local-time columns and the data dictionary."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from devflow.analytics import connect, describe
from devflow.analytics.catalog import VIEWS, markdown
from devflow.analytics.events_view import register_lake_views
from devflow.analytics.generate import write_synthetic
from devflow.analytics.synthetic import SyntheticSpec, generate
from devflow.config import Settings
from devflow.db.engine import make_engine, make_session_factory
from devflow.lake.storage import LakeStorage
from devflow.metrics.etl import EtlEnv, run_pass

SPEC = SyntheticSpec(users=8, days=3, seed=4, end_date=date(2026, 5, 13))
NOW = datetime(2026, 5, 15, tzinfo=UTC)
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture()
def generated(settings: Settings) -> Settings:
    engine = make_engine(settings.database_url)
    try:
        write_synthetic(settings, SPEC, db=make_session_factory(engine), now=NOW)
    finally:
        engine.dispose()
    return settings


def test_users_view_has_names_and_time_zones(generated: Settings) -> None:
    con = connect(settings=generated)
    rows = {r[0]: r[1:] for r in con.sql("SELECT user_id, username, time_zone FROM users").fetchall()}
    expected = {str(u.user_id): (u.username, u.time_zone) for u in generate(SPEC).users}
    assert rows == expected


def test_local_time_columns_follow_each_users_zone(generated: Settings) -> None:
    con = connect(settings=generated)
    rows = con.sql(
        'SELECT e."timestamp", u.time_zone, e.local_date, e.local_hour, e.local_weekday '
        "FROM events e JOIN users u USING (user_id)"
    ).fetchall()
    assert len(rows) == generate(SPEC).event_count
    zones = {zone for _, zone, *_ in rows}
    assert len(zones) > 1  # the check means something only across zones
    for ts, zone, local_date, hour, weekday in rows[::97]:
        local = ts.astimezone(ZoneInfo(zone))
        assert (local_date, hour, weekday) == (local.date(), local.hour, local.isoweekday())


def test_sessions_view_spans_first_to_last_event(generated: Settings) -> None:
    data = generate(SPEC)
    con = connect(settings=generated)
    sessions = {
        r[0]: r[1:]
        for r in con.sql("SELECT session_id, started_at, ended_at, duration_minutes FROM sessions").fetchall()
    }
    assert set(sessions) == {sid for d in data.days for sid in d.session_ids}
    day = next(d for d in data.days if d.events)
    sid = day.session_ids[0]
    stamps = [ms for e, ms in zip(day.events, day.timestamps_ms, strict=True) if e["session_id"] == sid]
    started, ended, minutes = sessions[sid]
    assert started == datetime.fromtimestamp(stamps[0] / 1000, UTC)
    assert ended == datetime.fromtimestamp(stamps[-1] / 1000, UTC)
    assert minutes == pytest.approx((stamps[-1] - stamps[0]) / 60000)


def test_every_view_column_is_documented_in_duckdb_and_describe(generated: Settings) -> None:
    con = connect(settings=generated)
    views = {r[0] for r in con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert set(VIEWS) <= views
    commented = dict(con.sql("SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall())
    dictionary = describe(settings=generated)
    for view in VIEWS:
        assert commented[view] == VIEWS[view][0]
        columns = {r[0] for r in con.sql(f"DESCRIBE {view}").fetchall()}
        documented = dictionary.filter(dictionary["view"] == view)
        assert set(documented["column"]) == columns
        missing = documented.filter(documented["meaning"] == "")["column"].to_list()
        assert missing == [], f"{view}: undocumented {missing}"


def test_readme_data_dictionary_is_the_catalog() -> None:
    text = README.read_text()
    start = text.index("<!-- data-dictionary:start -->\n") + len("<!-- data-dictionary:start -->\n")
    end = text.index("<!-- data-dictionary:end -->")
    assert text[start:end] == markdown()


def test_local_columns_are_the_same_through_the_users_join(generated: Settings) -> None:
    """Past ZONE_MAP_LIMIT users the zones come from a join on ``users``: same columns, same values."""
    con = connect(settings=generated)
    query = "SELECT fingerprint, local_time, local_date, local_hour, local_weekday FROM events ORDER BY 1"
    by_map = con.sql(query).fetchall()
    register_lake_views(con, LakeStorage.from_url(generated.lake_url), zones="users")
    assert con.sql(query).fetchall() == by_map
    assert len({row[3] for row in by_map}) > 3


def test_after_the_etl_sessions_come_from_the_metrics_and_coding_time_has_local_columns(
    generated: Settings,
) -> None:
    before = (
        connect(settings=generated)
        .sql("SELECT session_id, started_at, ended_at, duration_minutes FROM sessions ORDER BY 1")
        .fetchall()
    )
    engine = make_engine(generated.database_url)
    try:
        env = EtlEnv(generated, make_session_factory(engine), LakeStorage.from_url(generated.lake_url))
        run_pass(env, take_all=True)
    finally:
        engine.dispose()
    con = connect(settings=generated)
    after = con.sql(
        "SELECT session_id, started_at, ended_at, duration_minutes FROM sessions ORDER BY 1"
    ).fetchall()
    assert [row[:3] for row in after] == [row[:3] for row in before]
    assert [row[3] for row in after] == pytest.approx([row[3] for row in before])
    active = con.sql("SELECT count(*), count(active_minutes) FROM sessions").fetchall()[0]
    assert active[0] == active[1] > 0
    rows = con.sql(
        "SELECT c.bucket_start, u.time_zone, c.local_date, c.local_hour, c.local_weekday "
        "FROM metrics_coding_time c JOIN users u USING (user_id)"
    ).fetchall()
    assert rows
    for bucket, zone, local_date, hour, weekday in rows[::11]:
        local = bucket.astimezone(ZoneInfo(zone))
        assert (local_date, hour, weekday) == (local.date(), local.hour, local.isoweekday())
