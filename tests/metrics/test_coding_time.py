"""``GET /metrics/coding-time`` through the real API: a synthetic week with known gaps equals, to the
second, an independent reading that cuts every counted interval at the zone's own midnights — in
UTC, Asia/Kathmandu (+05:45) and America/New_York across the March DST change (a 23-hour day)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import random
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient

from devflow.app import create_app
from devflow.config import Settings
from devflow.metrics.coding import coding_time_body
from devflow.metrics.queries import MetricsReader
from devflow.metrics.reports import daily_query
from devflow.metrics.service import Metrics
from tests.metrics.events import editor_switch, file_save, run_etl_until_idle, send, text_change
from tests.support.accounts import TestUser, create_user

GAP = dt.timedelta(minutes=10)
WEEK_FROM, WEEK_TO = dt.date(2026, 3, 5), dt.date(2026, 3, 11)  # New York's DST starts 2026-03-08


def _iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _week(rng: random.Random) -> list[tuple[dt.datetime, dict[str, Any]]]:
    """Sessions spread over the week (across every midnight of the three zones), with gaps below,
    at and above 10 minutes."""
    out: list[tuple[dt.datetime, dict[str, Any]]] = []
    when = dt.datetime(2026, 3, 4, 17, 0, tzinfo=dt.UTC)
    while when < dt.datetime(2026, 3, 12, 6, 0, tzinfo=dt.UTC):
        sid = str(uuid.uuid4())
        for _ in range(rng.randrange(5, 60)):
            kind = rng.random()
            ts = _iso(when)
            if kind < 0.4:
                event = text_change(ts, sid, rng.choice(["a.ts", "b.py"]), 10, [(1, 1)], 3, 0)
            elif kind < 0.7:
                event = file_save(ts, sid, rng.choice(["a.ts", "b.py"]), 10)
            else:
                event = editor_switch(ts, sid, rng.choice(["a.ts", "b.py"]))
            out.append((when, event))
            when += rng.choice(
                [
                    dt.timedelta(seconds=rng.randrange(1, 300)),
                    dt.timedelta(minutes=10),
                    dt.timedelta(minutes=11),
                ]
            ) + dt.timedelta(milliseconds=rng.randrange(0, 1000))
        when += dt.timedelta(minutes=rng.randrange(15, 400))
    return out


def _intervals(events: list[tuple[dt.datetime, dict[str, Any]]]) -> list[tuple[dt.datetime, dt.datetime]]:
    """The counted intervals: consecutive events of a session at most 10 minutes apart."""
    by_session: dict[str, list[dt.datetime]] = {}
    for when, event in events:
        by_session.setdefault(event["session_id"], []).append(when)
    out = []
    for times in by_session.values():
        times.sort()
        out.extend((a, b) for a, b in itertools.pairwise(times) if b - a <= GAP)
    return out


def _within(events: list[tuple[dt.datetime, dict[str, Any]]], start: dt.datetime, end: dt.datetime) -> float:
    """Seconds of the counted intervals inside the instants [start, end)."""
    return sum(max(0.0, (min(b, end) - max(a, start)).total_seconds()) for a, b in _intervals(events))


def _expected(events: list[tuple[dt.datetime, dict[str, Any]]], zone: str) -> dict[str, float]:
    """Seconds per local date: each counted interval cut at the zone's midnights."""
    tz = zoneinfo.ZoneInfo(zone)
    per_day: dict[str, float] = {}
    by_session: dict[str, list[dt.datetime]] = {}
    for when, event in events:
        by_session.setdefault(event["session_id"], []).append(when)
    for times in by_session.values():
        times.sort()
        for a, b in itertools.pairwise(times):
            if b - a > GAP:
                continue
            cursor = a
            while cursor < b:
                local = cursor.astimezone(tz)
                next_midnight = dt.datetime.combine(
                    local.date() + dt.timedelta(days=1), dt.time(0), tzinfo=tz
                ).astimezone(dt.UTC)
                piece_end = min(b, next_midnight)
                day = local.date().isoformat()
                per_day[day] = per_day.get(day, 0.0) + (piece_end - cursor).total_seconds()
                cursor = piece_end
    return per_day


def _coding(client: TestClient[Any], user: TestUser, query: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/metrics/coding-time?{query}", headers=user.jwt_headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_coding_time_per_day_equals_the_reference_in_three_zones(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    user = create_user(settings)
    events = _week(random.Random(7))
    app = create_app(make_settings(ADMIN_USER_IDS=str(user.id)))
    with TestClient(app=app, raise_server_exceptions=False) as client:
        for i in range(0, len(events), 500):
            send(client, user, [e for _, e in events[i : i + 500]])
        run_etl_until_idle(client, user)
        query = f"from={WEEK_FROM}&to={WEEK_TO}"
        utc = _coding(client, user, query)
        assert utc["time_zone"] == "UTC"
        for zone in ("UTC", "Asia/Kathmandu", "America/New_York"):
            body = _coding(client, user, f"{query}&tz={zone}")
            expected = _expected(events, zone)
            assert [d["date"] for d in body["series"]] == [
                (WEEK_FROM + dt.timedelta(days=i)).isoformat() for i in range(7)
            ]
            for day in body["series"]:
                assert day["seconds"] == pytest.approx(expected.get(day["date"], 0.0), abs=0.001)
            assert sum(expected.values()) > 0
            total = body["total_seconds"]
            assert total == pytest.approx(sum(d["seconds"] for d in body["series"]), abs=0.01)
            # The zone only changes the bucketing: the same instants sum to the same total.
            tz = zoneinfo.ZoneInfo(zone)
            start = dt.datetime.combine(WEEK_FROM, dt.time(0), tzinfo=tz)
            end = dt.datetime.combine(WEEK_TO + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
            assert total == pytest.approx(_within(events, start, end), abs=0.01)
            assert sum(s["seconds"] for s in body["languages"]) == pytest.approx(total, abs=0.01)
        kathmandu = _coding(client, user, f"{query}&tz=Asia/Kathmandu")["series"]
        assert kathmandu != utc["series"]  # the zone moves time between days
        # 2026-03-08 in New York has 23 hours; it is still one series entry.
        sessions = _coding(client, user, f"{query}&grain=session&tz=America/New_York")["sessions"]
        assert sessions and all(s["started_at"] and s["event_counts"] for s in sessions)
        bad = client.get(f"/api/v1/metrics/coding-time?{query}&tz=Mars/Base", headers=user.jwt_headers)
        assert bad.status_code == 400 and "tz" in bad.json()["message"]

        # The reader codes attribute names once for all dates; a table that fills up starts afresh
        # (here after every few names), and the sums stay the same.
        metrics: Metrics = app.state["services"].metrics
        tiny = dataclasses.replace(metrics, reader=MetricsReader(metrics.storage, max_names=3))
        session_query = dataclasses.replace(daily_query(str(WEEK_FROM), str(WEEK_TO)), session_grain=True)
        for zone in ("UTC", "Asia/Kathmandu"):
            expected_body = coding_time_body(metrics, user.id, session_query, zone)
            assert expected_body.sessions and len(expected_body.top_files) > 1
            for _ in range(2):  # cold, then with the rows cached
                assert coding_time_body(tiny, user.id, session_query, zone) == expected_body
