"""The dashboard's six calls (week and today; churn and context-switching, daily and session) for data
ingested from the client vectors: the shapes of tests/vectors/metrics-*.json and the §6 values; and
the legacy clients' calls, byte for byte as recorded before contract 1.1 (issue 13)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from devflow.app import create_app
from devflow.config import Settings
from tests.conftest import VECTORS
from tests.metrics.events import churn, run_etl_until_idle, send, switching
from tests.metrics.reference import reference
from tests.support.accounts import TestUser, create_user

WEEK = "from=2026-05-08&to=2026-05-14"
TODAY = "from=2026-05-14&to=2026-05-14"

# Contract 1.1 adds these to every grain=session entry, after the original fields.
ADDED_SESSION_FIELDS = ["started_at", "ended_at", "duration_seconds", "active_seconds", "event_counts"]

LEGACY = VECTORS / "legacy-metrics"  # bodies recorded before contract 1.1 (see its README)
CALLS = {
    "churn-week": f"/api/v1/metrics/churn?{WEEK}",
    "churn-today": f"/api/v1/metrics/churn?{TODAY}",
    "churn-today-session": f"/api/v1/metrics/churn?{TODAY}&grain=session",
    "churn-empty": "/api/v1/metrics/churn?from=2026-01-01&to=2026-01-07",
    "switching-week": f"/api/v1/metrics/context-switching?{WEEK}",
    "switching-today": f"/api/v1/metrics/context-switching?{TODAY}",
    "switching-top3": f"/api/v1/metrics/context-switching?{WEEK}&top_n=3",
    "switching-today-session": f"/api/v1/metrics/context-switching?{TODAY}&grain=session",
}


def _shape(value: Any) -> Any:
    """Keys and JSON types, recursively (lists by their first element); null ratios match numbers."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    if isinstance(value, bool) or value is None:
        return "number-or-null"
    if isinstance(value, int | float):
        return "number-or-null"
    return type(value).__name__


@pytest.fixture()
def vector_client(make_settings: Callable[..., Settings]) -> Iterator[tuple[TestClient[Any], TestUser]]:
    """The app with every telemetry vector ingested by one user and the ETL caught up."""
    settings = make_settings()
    user = create_user(settings)
    with TestClient(
        app=create_app(make_settings(ADMIN_USER_IDS=str(user.id))), raise_server_exceptions=False
    ) as client:
        for path in sorted(VECTORS.glob("telemetry-*.json")):
            assert send(client, user, json.loads(path.read_text())["events"])["rejected_count"] == 0
        run_etl_until_idle(client, user)
        yield client, user


def test_dashboard_six_calls_on_vector_data(vector_client: tuple[TestClient[Any], TestUser]) -> None:
    c, user = vector_client
    events: list[dict[str, Any]] = []
    for path in sorted(VECTORS.glob("telemetry-*.json")):
        events.extend(json.loads(path.read_text())["events"])
    week_churn, today_churn = churn(c, user, WEEK), churn(c, user, TODAY)
    week_switch, today_switch = switching(c, user, WEEK), switching(c, user, TODAY)
    session_churn = churn(c, user, TODAY + "&grain=session")
    session_switch = switching(c, user, TODAY + "&grain=session")

    # Shapes: exactly the contract's example bodies.
    churn_vector = json.loads((VECTORS / "metrics-churn.response.json").read_text())
    switch_vector = json.loads((VECTORS / "metrics-context-switching.response.json").read_text())
    assert _shape(week_churn) == _shape(churn_vector)
    assert _shape(week_switch) == _shape(switch_vector)
    assert list(week_churn) == list(churn_vector) and list(week_switch) == list(switch_vector)
    assert [e["date"] for e in week_churn["series"]] == [e["date"] for e in churn_vector["series"]]
    assert len(today_churn["series"]) == len(today_switch["series"]) == 1

    # Values: the independent reference of §6 over the same events.
    daily, sessions = reference([(str(user.id), e) for e in events], "line-delta")
    today = daily[(str(user.id), "2026-05-14")]
    for body in (week_churn, today_churn):
        assert (body["total_lines_added"], body["total_lines_deleted"]) == (
            today.lines_added,
            today.lines_deleted,
        )
        expected_ratio = min(1, today.lines_deleted / today.lines_added) if today.lines_added else None
        assert body["ratio"] == expected_ratio
    assert today.lines_added > 0 and today.switch_count > 0
    for body in (week_switch, today_switch):
        assert (body["switch_count"], body["rapid_switch_count"]) == (
            today.switch_count,
            today.rapid_switch_count,
        )
        expected_top = sorted(today.files.items(), key=lambda item: (-item[1], item[0]))[:10]
        assert [(f["path"], f["count"]) for f in body["top_files"]] == expected_top
    assert {s["session_id"] for s in session_churn["sessions"]} == {
        sid
        for sid, t in sessions.items()
        if t.switch_count or any(e["type"] == "text_change" and e["session_id"] == sid for e in events)
    }
    for s in session_switch["sessions"]:
        assert s["switch_count"] == sessions[s["session_id"]].switch_count
        assert list(s) == [
            "session_id",
            "switch_count",
            "rapid_switch_count",
            "top_files",
            *ADDED_SESSION_FIELDS,
        ]
        assert s["event_counts"]["editor_switch"] == sessions[s["session_id"]].switch_count


def test_legacy_calls_answer_byte_for_byte_as_before(vector_client: tuple[TestClient[Any], TestUser]) -> None:
    """The clients' calls without ``tz`` give the bytes recorded before contract 1.1; a session
    body differs only by the added fields, after the original ones."""
    client, user = vector_client
    assert sorted(p.stem for p in LEGACY.glob("*.json")) == sorted(CALLS)
    for name, call in CALLS.items():
        response = client.get(call, headers=user.jwt_headers)
        assert response.status_code == 200, response.text
        before = (LEGACY / f"{name}.json").read_bytes()
        if not name.endswith("-session"):
            assert response.content == before, name
            continue
        body = json.loads(response.content)
        assert body["sessions"], name
        for entry in body["sessions"]:
            assert list(entry)[-len(ADDED_SESSION_FIELDS) :] == ADDED_SESSION_FIELDS
            for field in ADDED_SESSION_FIELDS:
                del entry[field]
        assert msgspec.json.encode(body) == before, name
