"""End to end over HTTP with no GOOGLE_API_KEY: telemetry → ETL → trigger → pending → actions (issue 6)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar.testing import TestClient

from devflow.config import Settings
from tests.insights.support import pending_count, recommendation_rows
from tests.metrics.events import editor_switch, file_save, run_etl_until_idle, send, text_change
from tests.support.accounts import create_user

TRIGGER = "/api/v1/recommendations/trigger"
PENDING = "/api/v1/recommendations/pending"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _high_churn_session(session_id: str) -> list[dict[str, Any]]:
    """Today (UTC), within the last hour: +100 lines pasted, then 50 deleted (line-delta) → churn 0.5."""
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    start = max(now - timedelta(minutes=60), midnight + timedelta(seconds=1))
    step = (now - timedelta(seconds=1) - start) / 8
    at = [_iso(start + step * i) for i in range(8)]
    path = "src/services/api.ts"
    return [
        file_save(at[0], session_id, path, 100),
        editor_switch(at[1], session_id, path),
        text_change(at[2], session_id, path, 200, [(10, 10)], 4000, 0),
        editor_switch(at[3], session_id, "src/app.ts"),
        editor_switch(at[4], session_id, path),
        text_change(at[5], session_id, path, 150, [(20, 70)], 0, 2000),
        editor_switch(at[6], session_id, path, rapid=True),
        file_save(at[7], session_id, path, 150),
    ]


def test_end_to_end_high_churn_without_api_key(
    make_client: Callable[..., TestClient[Any]], settings: Settings
) -> None:
    """Ingest a session that trips high_churn, run the ETL, trigger → a template recommendation citing the
    real numbers; pending for an API-token caller; cooldown; force; actions 200 then 409; demo keeps one."""
    user = create_user(settings)
    client = make_client(ADMIN_USER_IDS=str(user.id))
    session_id = str(uuid.uuid4())
    accepted = send(client, user, _high_churn_session(session_id))
    assert accepted["accepted_count"] == 8 and accepted["rejected_count"] == 0

    # Before the ETL has run, today's metrics are still empty: nothing fires.
    assert client.post(TRIGGER, json={}, headers=user.jwt_headers).json() == {
        "skipped": True,
        "reason": "no_rule_fired",
    }
    run_etl_until_idle(client, user)

    body = client.post(TRIGGER, json={}, headers=user.jwt_headers).json()
    assert body["skipped"] is False
    assert (body["rule"], body["state_type"]) == ("high_churn", "stuck_loop")
    first_id = body["recommendation_id"]
    [rec] = recommendation_rows(settings, user.id)
    assert rec.recommendation_text == (
        "Today you deleted 50 lines for 100 written (churn ratio 0.50) — write down your approach or a "
        "failing test before editing again."
    )
    assert rec.code_context == {
        "reasoning": "Rule high_churn fired: lines_deleted=50, lines_added=100, churn_ratio=0.50.",
        "triggered_rule": "high_churn",
        "evidence": [
            {"metric": "lines_deleted", "value": 50},
            {"metric": "lines_added", "value": 100},
            {"metric": "churn_ratio", "value": 0.5},
        ],
        "generator": "template",
    }

    pending = client.get(PENDING, headers=user.token_headers)
    assert pending.status_code == 200
    item = pending.json()["recommendation"]
    assert item["id"] == first_id and item["state_type"] == "stuck_loop" and item["confidence_score"] == 0.6
    assert item["reasoning"] == rec.code_context["reasoning"]
    # #129: the item carries the evidence the template cited ("Why?" in the newest extension).
    assert item["evidence"] == rec.code_context["evidence"]
    listed = client.get("/api/v1/recommendations", headers=user.jwt_headers).json()["recommendations"]
    assert listed[0]["evidence"] == rec.code_context["evidence"]

    # Inside the cooldown a real trigger is refused; force bypasses it and replaces the pending one.
    assert client.post(TRIGGER, json={"mode": "real"}, headers=user.token_headers).json() == {
        "skipped": True,
        "reason": "cooldown",
    }
    forced = client.post(TRIGGER, json={"mode": "force"}, headers=user.token_headers).json()
    assert forced["skipped"] is False and forced["rule"] == "high_churn"
    second_id = forced["recommendation_id"]
    assert second_id != first_id
    assert client.get(PENDING, headers=user.token_headers).json()["recommendation"]["id"] == second_id

    url = f"/api/v1/recommendations/{second_id}/action"
    done = client.post(url, json={"action": "accepted"}, headers=user.token_headers)
    assert done.status_code == 200 and done.json() == {"id": second_id, "user_action": "accepted"}
    again = client.post(url, json={"action": "accepted"}, headers=user.token_headers)
    assert again.status_code == 409 and again.json() == {"error": "Recommendation already acted on"}
    expired = client.post(
        f"/api/v1/recommendations/{first_id}/action", json={"action": "dismissed"}, headers=user.jwt_headers
    )
    assert expired.status_code == 409

    for _ in range(3):
        demo = client.post(TRIGGER, json={"mode": "demo"}, headers=user.jwt_headers)
        assert demo.status_code == 200
        assert pending_count(settings, user.id) == 1
    history = client.get("/api/v1/recommendations", headers=user.jwt_headers).json()["recommendations"]
    assert [h["user_action"] for h in history] == [None, "expired", "expired", "accepted", "expired"]


def _edits(session_id: str, added: int, deleted: int, rapid: int) -> list[dict[str, Any]]:
    """Today's events giving exactly ``added``/``deleted`` lines (line-delta) and ``rapid`` rapid switches."""
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    start = max(now - timedelta(minutes=50), midnight + timedelta(seconds=1))
    count = 2 + rapid + 2
    step = (now - timedelta(seconds=1) - start) / count
    at = iter(_iso(start + step * i) for i in range(count))
    path = "src/lib/parser.ts"
    lines = 100
    events = [file_save(next(at), session_id, path, lines)]
    if added:
        events.append(text_change(next(at), session_id, path, lines + added, [(10, 10)], 40 * added, 0))
        lines += added
    if deleted:
        events.append(
            text_change(next(at), session_id, path, lines - deleted, [(20, 20 + deleted)], 0, 40 * deleted)
        )
        lines -= deleted
    events += [editor_switch(next(at), session_id, f"src/f{i % 3}.ts", rapid=True) for i in range(rapid)]
    events.append(file_save(next(at), session_id, path, lines))
    return events


def test_rule_cases_through_ingest_and_etl(
    make_client: Callable[..., TestClient[Any]], settings: Settings
) -> None:
    """Checklist #107 over HTTP: churn 0.5 → high_churn; 31 rapid switches → rapid_context_switching, 30 → no;
    deleted 40 / added 20 → delete_heavy_rewriting; 30 / 20 → high_churn; nothing → no_rule_fired."""
    admin = create_user(settings)
    client = make_client(ADMIN_USER_IDS=str(admin.id))
    cases = [
        ((100, 50, 0), "high_churn"),
        ((0, 0, 31), "rapid_context_switching"),
        ((0, 0, 30), None),
        ((20, 40, 0), "delete_heavy_rewriting"),
        ((20, 30, 0), "high_churn"),
        ((0, 0, 0), None),
    ]
    users = []
    for (added, deleted, rapid), _ in cases:
        user = create_user(settings)
        result = send(client, user, _edits(str(uuid.uuid4()), added, deleted, rapid))
        assert result["rejected_count"] == 0
        users.append(user)
    run_etl_until_idle(client, admin)
    for user, (_, expected) in zip(users, cases, strict=True):
        body = client.post(TRIGGER, json={}, headers=user.token_headers).json()
        if expected is None:
            assert body == {"skipped": True, "reason": "no_rule_fired"}
        else:
            assert body["skipped"] is False and body["rule"] == expected, (expected, body)
