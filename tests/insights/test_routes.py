"""Recommendations API over HTTP (contract §3.8; checklist items 114–120) and demo mode (§7.2)."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

from litestar.testing import TestClient

from devflow.config import Settings
from devflow.insights.pipeline import DEMO_CODE_CONTEXT, DEMO_TEXT
from tests.insights.support import (
    add_recommendation,
    add_session,
    pending_count,
    recommendation_rows,
    workflow_states,
)
from tests.support.accounts import create_user

TRIGGER = "/api/v1/recommendations/trigger"
PENDING = "/api/v1/recommendations/pending"
LIST = "/api/v1/recommendations"
JSON = {"Content-Type": "application/json"}
ITEM_KEYS = {
    "id",
    "state_type",
    "confidence_score",
    "recommendation_type",
    "recommendation_text",
    "reasoning",
    "user_action",
    "created_at",
    "evidence",
}


def action_url(rec_id: object) -> str:
    return f"/api/v1/recommendations/{rec_id}/action"


def test_no_session_real_is_200_and_demo_is_409(client: TestClient[Any], settings: Settings) -> None:
    """Checklist #114: no session → real 200 no_session; demo 409 no_session."""
    user = create_user(settings)
    resp = client.post(TRIGGER, json={}, headers=user.jwt_headers)
    assert resp.status_code == 200
    assert resp.json() == {"skipped": True, "reason": "no_session"}
    resp = client.post(TRIGGER, json={"mode": "demo"}, headers=user.token_headers)
    assert resp.status_code == 409
    assert resp.json() == {"skipped": True, "reason": "no_session"}
    resp = client.post(TRIGGER, json={"mode": "force"}, headers=user.jwt_headers)
    assert resp.json() == {"skipped": True, "reason": "no_session"}


def test_demo_creates_the_canned_recommendation_and_expires_the_previous(
    client: TestClient[Any], settings: Settings
) -> None:
    """Checklist #115.

    Exact canned text, state demo, confidence 1; a second demo leaves exactly one pending."""
    user = create_user(settings)
    add_session(settings, user.id, minutes=20)
    first = client.post(TRIGGER, json={"mode": "demo"}, headers=user.token_headers)
    assert first.status_code == 200
    body = first.json()
    assert body["skipped"] is False and body["mode"] == "demo" and type(body["recommendation_id"]) is int
    assert set(body) == {"skipped", "mode", "recommendation_id"}

    pending = client.get(PENDING, headers=user.token_headers).json()["recommendation"]
    assert pending["id"] == body["recommendation_id"]
    assert pending["recommendation_text"] == DEMO_TEXT
    assert pending["state_type"] == "demo"
    assert pending["confidence_score"] == 1
    assert pending["recommendation_type"] == "execute"
    assert pending["reasoning"] == DEMO_CODE_CONTEXT["reasoning"]
    [row] = recommendation_rows(settings, user.id)
    assert row.code_context == DEMO_CODE_CONTEXT

    second = client.post(TRIGGER, json={"mode": "demo"}, headers=user.jwt_headers).json()
    assert second["recommendation_id"] != body["recommendation_id"]
    rows = recommendation_rows(settings, user.id)
    assert [r.user_action for r in rows] == ["expired", None]
    assert pending_count(settings, user.id) == 1
    assert [s for s, _ in workflow_states(settings, user.id)] == ["demo", "demo"]


def test_ten_concurrent_demo_triggers_leave_exactly_one_pending(
    client: TestClient[Any], settings: Settings
) -> None:
    """Checklist #115.

    Ten concurrent demo triggers → exactly one pending (per-user lock + partial unique index)."""
    user = create_user(settings)
    add_session(settings, user.id, minutes=5)
    statuses: list[int] = []
    barrier = threading.Barrier(10)

    def fire() -> None:
        barrier.wait()
        statuses.append(client.post(TRIGGER, json={"mode": "demo"}, headers=user.jwt_headers).status_code)

    threads = [threading.Thread(target=fire) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 10
    assert pending_count(settings, user.id) == 1
    assert len(recommendation_rows(settings, user.id)) == 10


def test_mode_validation(client: TestClient[Any], settings: Settings) -> None:
    """Checklist #116: invalid mode → 400 with the exact message; no body, {} and null mode mean real."""
    user = create_user(settings)
    for body in ({"mode": "production"}, {"mode": ""}, {"mode": 1}, {"mode": ["demo"]}, [], "demo", 3):
        resp = client.post(TRIGGER, content=json.dumps(body), headers={**JSON, **user.jwt_headers})
        assert resp.status_code == 400, body
        assert resp.json() == {
            "error": "Validation failed",
            "message": "mode must be one of real, force, demo",
        }
    for content, headers in (
        (b"", user.jwt_headers),
        (b"{}", {**JSON, **user.jwt_headers}),
        (b'{"mode":null}', {**JSON, **user.jwt_headers}),
        (b'{"mode":"demo"}', user.jwt_headers),  # not JSON by Content-Type → absent body → real
    ):
        resp = client.post(TRIGGER, content=content, headers=headers)
        assert resp.status_code == 200
        assert resp.json() == {"skipped": True, "reason": "no_session"}


def test_trigger_check_order_401_then_invalid_json(client: TestClient[Any], settings: Settings) -> None:
    """§3.8 trigger step 1: 401 before 400 Invalid JSON; then Invalid JSON before mode validation."""
    user = create_user(settings)
    assert client.post(TRIGGER, content=b"{", headers=JSON).json() == {"error": "Unauthorized"}
    resp = client.post(TRIGGER, content=b"{", headers={**JSON, **user.jwt_headers})
    assert resp.status_code == 400 and resp.json() == {"error": "Invalid JSON"}
    for url in (PENDING, LIST):
        assert client.get(url).status_code == 401


def test_pending_none_then_item(client: TestClient[Any], settings: Settings) -> None:
    """Checklist #117.

    Null when none; else the item: integer id, number confidence, reasoning from code_context."""
    user = create_user(settings)
    assert client.get(PENDING, headers=user.token_headers).json() == {"recommendation": None}
    rec_id = add_recommendation(
        settings,
        user.id,
        created_ago=timedelta(minutes=3),
        confidence="0.78",
        code_context={
            "reasoning": "Because.",
            "triggered_rule": "high_churn",
            "evidence": [],
            "generator": "x",
        },
    )
    item = client.get(PENDING, headers=user.token_headers).json()["recommendation"]
    assert set(item) == ITEM_KEYS
    assert item["id"] == rec_id and type(item["id"]) is int
    assert item["confidence_score"] == 0.78
    assert item["reasoning"] == "Because."
    assert item["user_action"] is None
    assert item["created_at"].endswith("Z") and len(item["created_at"]) == 24


def test_reasoning_null_when_not_a_string(client: TestClient[Any], settings: Settings) -> None:
    """Checklist #117: §3.8: reasoning is code_context.reasoning when it is a string, else null."""
    user = create_user(settings)
    add_recommendation(settings, user.id, created_ago=timedelta(minutes=1), code_context={"reasoning": 5})
    assert client.get(PENDING, headers=user.jwt_headers).json()["recommendation"]["reasoning"] is None


def test_list_order_limits_and_validation(client: TestClient[Any], settings: Settings) -> None:
    """Checklist #118.

    Newest first (ties by higher id), default 20, clamp 100, limit validation, empty history."""
    user = create_user(settings)
    other = create_user(settings)
    assert client.get(LIST, headers=user.jwt_headers).json() == {"recommendations": []}
    ids = [
        add_recommendation(settings, user.id, created_ago=timedelta(hours=200 - i), user_action="dismissed")
        for i in range(105)
    ]
    add_recommendation(settings, other.id, created_ago=timedelta(minutes=1))
    body = client.get(LIST, headers=user.jwt_headers).json()["recommendations"]
    assert [item["id"] for item in body] == list(reversed(ids))[:20]
    assert all(type(item["id"]) is int and set(item) == ITEM_KEYS for item in body)
    assert len(client.get(LIST + "?limit=500", headers=user.jwt_headers).json()["recommendations"]) == 100
    assert len(client.get(LIST + "?limit=3", headers=user.token_headers).json()["recommendations"]) == 3
    assert len(client.get(LIST + "?limit=007", headers=user.token_headers).json()["recommendations"]) == 7
    huge = "9" * 5000
    assert len(client.get(LIST + f"?limit={huge}", headers=user.jwt_headers).json()["recommendations"]) == 100
    for bad in ("0", "-1", "abc", "1.5", "", "+5", " 5", "٣"):
        resp = client.get(LIST, params={"limit": bad}, headers=user.jwt_headers)
        assert resp.status_code == 400, bad
        assert resp.json() == {"error": "Validation failed", "message": "limit must be a positive integer"}
    resp = client.get(LIST + "?limit=5&limit=5", headers=user.jwt_headers)
    assert resp.status_code == 400


def test_ties_broken_by_higher_id(client: TestClient[Any], settings: Settings) -> None:
    """Checklist #118: §3.8 / §8 item 20: equal created_at → higher id first."""
    user = create_user(settings)
    from tests.insights.support import database

    first = add_recommendation(settings, user.id, created_ago=timedelta(hours=1), user_action="accepted")
    second = add_recommendation(settings, user.id, created_ago=timedelta(hours=2), user_action="accepted")
    from sqlalchemy import update

    from devflow.insights.models import Recommendation

    with database(settings) as db:
        stamp = db.get(Recommendation, first)
        assert stamp is not None
        db.execute(
            update(Recommendation).where(Recommendation.id == second).values(created_at=stamp.created_at)
        )
    body = client.get(LIST, headers=user.jwt_headers).json()["recommendations"]
    assert [item["id"] for item in body] == [second, first]


def test_action_outcomes(client: TestClient[Any], settings: Settings) -> None:
    """Checklist #119.

    Owner snoozes with a token → 200; repeat → 409; expired → 409; other user → 403; unknown → 404."""
    user = create_user(settings)
    other = create_user(settings)
    rec_id = add_recommendation(settings, user.id, created_ago=timedelta(minutes=5))
    resp = client.post(action_url(rec_id), json={"action": "snoozed"}, headers=user.token_headers)
    assert resp.status_code == 200
    assert resp.json() == {"id": rec_id, "user_action": "snoozed"}
    [row] = recommendation_rows(settings, user.id)
    assert row.user_action == "snoozed" and row.acted_at is not None
    again = client.post(action_url(rec_id), json={"action": "snoozed"}, headers=user.token_headers)
    assert again.status_code == 409
    assert again.json() == {"error": "Recommendation already acted on"}

    expired = add_recommendation(settings, user.id, created_ago=timedelta(hours=3), user_action="expired")
    resp = client.post(action_url(expired), json={"action": "accepted"}, headers=user.jwt_headers)
    assert resp.status_code == 409

    theirs = add_recommendation(settings, other.id, created_ago=timedelta(minutes=1))
    resp = client.post(action_url(theirs), json={"action": "dismissed"}, headers=user.jwt_headers)
    assert resp.status_code == 403 and resp.json() == {"error": "Forbidden"}
    assert recommendation_rows(settings, other.id)[0].user_action is None

    for unknown in ("987654", "99999999999999999999", "9223372036854775808", "9" * 5000):
        resp = client.post(action_url(unknown), json={"action": "accepted"}, headers=user.jwt_headers)
        assert resp.status_code == 404, unknown[:30]
        assert resp.json() == {"error": "Recommendation not found"}


def test_action_validation_order(client: TestClient[Any], settings: Settings) -> None:
    """Checklist #119 and §3.8 steps 1–4: 401, Invalid JSON, then the body before the id."""
    user = create_user(settings)
    id_msg = {"error": "Validation failed", "message": "id must be a positive integer"}
    action_msg = {
        "error": "Validation failed",
        "message": "action must be one of accepted, dismissed, snoozed",
    }
    assert client.post(action_url("abc"), content=b"{", headers=JSON).status_code == 401
    resp = client.post(action_url("abc"), content=b"{", headers={**JSON, **user.jwt_headers})
    assert resp.json() == {"error": "Invalid JSON"}
    for bad_id in ("abc", "0", "-1", "1.5", "00"):
        resp = client.post(action_url(bad_id), json={"action": "accepted"}, headers=user.jwt_headers)
        assert resp.status_code == 400 and resp.json() == id_msg, bad_id
    for body in ({"action": "expired"}, {"action": None}, {}, [], {"action": "ACCEPTED"}, "accepted"):
        resp = client.post(action_url("abc"), content=json.dumps(body), headers={**JSON, **user.jwt_headers})
        assert resp.status_code == 400 and resp.json() == action_msg, body
    resp = client.post(action_url("abc"), headers=user.jwt_headers)  # absent body = no fields
    assert resp.json() == action_msg


def test_two_concurrent_actions_one_wins(client: TestClient[Any], settings: Settings) -> None:
    """Checklist #120: two concurrent actions on one pending recommendation → exactly one 200 and one 409."""
    user = create_user(settings)
    for attempt in range(5):
        rec_id = add_recommendation(settings, user.id, created_ago=timedelta(minutes=1 + attempt))
        barrier = threading.Barrier(2)
        statuses: list[int] = []

        def act(
            action: str, rec: int = rec_id, gate: threading.Barrier = barrier, out: list[int] = statuses
        ) -> None:
            gate.wait()
            out.append(
                client.post(action_url(rec), json={"action": action}, headers=user.token_headers).status_code
            )

        threads = [threading.Thread(target=act, args=(a,)) for a in ("accepted", "dismissed")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(statuses) == [200, 409]


def test_trailing_slash_routes(client: TestClient[Any], settings: Settings) -> None:
    """§1.1: a single trailing slash names the same route."""
    user = create_user(settings)
    assert client.get(PENDING + "/", headers=user.jwt_headers).json() == {"recommendation": None}
    assert client.get(LIST + "/", headers=user.jwt_headers).json() == {"recommendations": []}


def test_body_limit_and_method_checks(client: TestClient[Any], settings: Settings) -> None:
    """§1.2/§1.3: bodies over 1 MiB → 413 (before validation); wrong methods → 405 with Allow."""
    user = create_user(settings)
    big = b'{"mode":"' + b"x" * (1024 * 1024) + b'"}'
    for url in (TRIGGER, action_url(1)):
        resp = client.post(url, content=big, headers={**JSON, **user.jwt_headers})
        assert resp.status_code == 413 and resp.json() == {"error": "Payload too large"}
    exactly = b'{"mode":"demo","pad":"' + b"x" * (1024 * 1024 - 24) + b'"}'
    assert len(exactly) == 1024 * 1024
    resp = client.post(TRIGGER, content=exactly, headers={**JSON, **user.jwt_headers})
    assert resp.status_code == 409 and resp.json() == {"skipped": True, "reason": "no_session"}
    resp = client.get(TRIGGER, headers=user.jwt_headers)
    assert resp.status_code == 405 and resp.json() == {"error": "Method not allowed"}
    assert client.post(PENDING, headers=user.jwt_headers).status_code == 405


def test_item_shapes_match_the_client_vectors(client: TestClient[Any], settings: Settings) -> None:
    """tests/vectors/recommendation*.json: same keys, in the same order, with the same JSON types,
    plus contract 1.1's additive ``evidence`` array last (the recorded clients ignore extra keys)."""
    from tests.conftest import VECTORS

    def shape(value: Any) -> Any:
        if isinstance(value, dict):
            return [(k, shape(v)) for k, v in value.items() if k != "evidence"]
        return type(value).__name__

    user = create_user(settings)
    assert client.get(PENDING, headers=user.jwt_headers).json() == json.loads(
        (VECTORS / "recommendations-pending-none.response.json").read_text()
    )
    rec_id = add_recommendation(
        settings,
        user.id,
        created_ago=timedelta(minutes=2),
        confidence="0.78",
        code_context={"reasoning": "r"},
    )
    vector = json.loads((VECTORS / "recommendations-pending.response.json").read_text())
    pending = client.get(PENDING, headers=user.jwt_headers).json()
    assert shape(pending) == shape(vector)
    assert list(pending["recommendation"])[-1] == "evidence" and pending["recommendation"]["evidence"] == []
    listed = client.get(LIST, headers=user.jwt_headers).json()
    list_vector = json.loads((VECTORS / "recommendations-list.response.json").read_text())
    assert list(listed) == list(list_vector)
    assert shape(listed["recommendations"][0]) == shape(list_vector["recommendations"][0])
    target = rec_id
    for name in ("accepted", "dismissed", "snoozed"):
        request = json.loads((VECTORS / f"recommendation-action-{name}.request.json").read_text())
        if name != "accepted":  # one pending at a time: the previous one has just been acted on
            target = add_recommendation(settings, user.id, created_ago=timedelta(minutes=1))
        resp = client.post(action_url(target), json=request, headers=user.token_headers)
        assert resp.status_code == 200
        vector_body = json.loads((VECTORS / "recommendation-action.response.json").read_text())
        assert shape(resp.json()) == shape(vector_body) and resp.json()["user_action"] == name
