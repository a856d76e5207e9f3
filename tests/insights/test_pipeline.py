"""Evaluation through POST /recommendations/trigger with the template generator (no GOOGLE_API_KEY):
checklist items 106, 108, 109 and 110, the evaluation gate and force semantics (§7.2)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from litestar.testing import TestClient

from devflow.config import Settings
from devflow.insights.pipeline import evaluate_user
from tests.insights.support import (
    add_evaluation,
    add_recommendation,
    add_session,
    evaluations,
    pending_count,
    recommendation_rows,
    workflow_states,
)
from tests.support.accounts import TestUser, create_user
from tests.support.lake import services_of

TRIGGER = "/api/v1/recommendations/trigger"
COOLDOWN = {"skipped": True, "reason": "cooldown"}


def trigger(client: TestClient[Any], user: TestUser, mode: str | None = None) -> dict[str, Any]:
    resp = client.post(TRIGGER, json={} if mode is None else {"mode": mode}, headers=user.jwt_headers)
    assert resp.status_code == 200
    body: dict[str, Any] = resp.json()
    return body


def test_very_long_session_gives_a_template_recommendation(
    client: TestClient[Any], settings: Settings
) -> None:
    """Checklist #106: a 250-minute session → very_long_session, generator "template", text citing 250."""
    user = create_user(settings)
    session_id = add_session(settings, user.id, minutes=250)
    body = trigger(client, user)
    assert body["skipped"] is False
    assert body["rule"] == "very_long_session" and body["state_type"] == "analysis_paralysis"
    assert type(body["recommendation_id"]) is int
    [rec] = recommendation_rows(settings, user.id)
    assert rec.id == body["recommendation_id"]
    assert rec.code_context == {
        "reasoning": "Rule very_long_session fired: duration_minutes=250.",
        "triggered_rule": "very_long_session",
        "evidence": [{"metric": "duration_minutes", "value": 250}],
        "generator": "template",
    }
    assert "250 minutes" in rec.recommendation_text
    assert rec.recommendation_type == "simplify_problem"
    assert workflow_states(settings, user.id) == [("analysis_paralysis", Decimal("0.70"))]
    assert evaluations(settings, user.id) == ["recommendation"]
    item = client.get("/api/v1/recommendations/pending", headers=user.token_headers).json()["recommendation"]
    assert item["confidence_score"] == 0.7 and item["state_type"] == "analysis_paralysis"
    assert item["reasoning"] == "Rule very_long_session fired: duration_minutes=250."
    del session_id


def test_no_rule_fired_persists_nothing(client: TestClient[Any], settings: Settings) -> None:
    """Checklist #107: nothing fires → no_rule_fired; nothing persisted, no evaluation recorded."""
    user = create_user(settings)
    add_session(settings, user.id, minutes=30)
    assert trigger(client, user) == {"skipped": True, "reason": "no_rule_fired"}
    assert trigger(client, user, "force") == {"skipped": True, "reason": "no_rule_fired"}
    assert recommendation_rows(settings, user.id) == []
    assert evaluations(settings, user.id) == [] and workflow_states(settings, user.id) == []


def test_long_session_threshold_from_env(
    make_client: Callable[..., TestClient[Any]], settings: Settings
) -> None:
    """Checklist #107: RULE_LONG_SESSION_MIN=15 → a 20-minute session fires long_session."""
    client = make_client(RULE_LONG_SESSION_MIN="15")
    user = create_user(settings)
    add_session(settings, user.id, minutes=20)
    assert trigger(client, user)["rule"] == "long_session"


def test_current_session_is_the_latest_one(client: TestClient[Any], settings: Settings) -> None:
    """§7.2 step 3: the session with the greatest last_event_at is current (an older long one is not)."""
    user = create_user(settings)
    add_session(settings, user.id, minutes=300, ended_ago=timedelta(hours=6))
    add_session(settings, user.id, minutes=10)
    assert trigger(client, user) == {"skipped": True, "reason": "no_rule_fired"}


def test_pending_blocks_real_and_force_replaces_it(client: TestClient[Any], settings: Settings) -> None:
    """Checklist #108.

    A pending recommendation created 10 min ago → real gives cooldown; force creates a new one
    and the old one becomes expired."""
    user = create_user(settings)
    add_session(settings, user.id, minutes=250)
    old = add_recommendation(settings, user.id, created_ago=timedelta(minutes=10))
    assert trigger(client, user) == COOLDOWN
    assert trigger(client, user, "real") == COOLDOWN
    body = trigger(client, user, "force")
    assert body["skipped"] is False and body["rule"] == "very_long_session"
    rows = {r.id: r.user_action for r in recommendation_rows(settings, user.id)}
    assert rows == {old: "expired", body["recommendation_id"]: None}


def test_pending_older_than_cooldown_does_not_block(client: TestClient[Any], settings: Settings) -> None:
    """Checklist #108.

    §7.2 gate 1: a pending recommendation blocks only for INSIGHT_COOLDOWN_MINUTES (45) after creation."""
    user = create_user(settings)
    add_session(settings, user.id, minutes=250)
    old = add_recommendation(settings, user.id, created_ago=timedelta(minutes=46))
    body = trigger(client, user)
    assert body["skipped"] is False
    assert {r.id: r.user_action for r in recommendation_rows(settings, user.id)} == {
        old: "expired",
        body["recommendation_id"]: None,
    }


def test_force_expires_nothing_up_front(client: TestClient[Any], settings: Settings) -> None:
    """§7.2 / §8 item 11: force with no rule firing leaves the pending recommendation pending."""
    user = create_user(settings)
    add_session(settings, user.id, minutes=5)
    old = add_recommendation(settings, user.id, created_ago=timedelta(minutes=1))
    assert trigger(client, user, "force") == {"skipped": True, "reason": "no_rule_fired"}
    assert [(r.id, r.user_action) for r in recommendation_rows(settings, user.id)] == [(old, None)]


@pytest.mark.parametrize("action", ["accepted", "dismissed", "expired"])
def test_acted_recommendations_never_block(client: TestClient[Any], settings: Settings, action: str) -> None:
    """Checklist #109.

    The latest recommendation accepted, dismissed or expired 1 min after creation → not blocked."""
    user = create_user(settings)
    add_session(settings, user.id, minutes=250)
    add_recommendation(
        settings,
        user.id,
        created_ago=timedelta(minutes=3),
        user_action=action,
        acted_ago=timedelta(minutes=2),
    )
    body = trigger(client, user)
    assert body["skipped"] is False and type(body["recommendation_id"]) is int


@pytest.mark.parametrize(
    ("created_ago", "snoozed_ago", "blocked"),
    [
        (timedelta(minutes=25), timedelta(minutes=20), True),
        (timedelta(minutes=40), timedelta(minutes=35), False),
        (timedelta(hours=2), timedelta(minutes=10), True),
    ],
)
def test_snooze_window_runs_from_acted_at(
    client: TestClient[Any], settings: Settings, created_ago: timedelta, snoozed_ago: timedelta, blocked: bool
) -> None:
    """Checklist #110.

    Snoozed 20 min ago → cooldown; 35 min ago → not blocked; created 2 h ago, snoozed 10 min ago
    → cooldown."""
    user = create_user(settings)
    add_session(settings, user.id, minutes=250)
    add_recommendation(
        settings, user.id, created_ago=created_ago, user_action="snoozed", acted_ago=snoozed_ago
    )
    body = trigger(client, user)
    assert (body == COOLDOWN) is blocked
    if not blocked:
        assert body["skipped"] is False


@pytest.mark.parametrize(
    ("outcome", "called_ago", "blocked"),
    [
        ("normal", timedelta(minutes=10), True),
        ("failed", timedelta(minutes=44), True),
        ("normal", timedelta(minutes=46), False),
        ("recommendation", timedelta(minutes=1), False),
    ],
)
def test_evaluation_gate(
    client: TestClient[Any], settings: Settings, outcome: str, called_ago: timedelta, blocked: bool
) -> None:
    """§7.2 gate 2 / §8 item 10: a normal or failed generator call starts a cooldown; force bypasses it."""
    user = create_user(settings)
    add_session(settings, user.id, minutes=250)
    add_evaluation(settings, user.id, called_ago=called_ago, outcome=outcome)
    body = trigger(client, user)
    assert (body == COOLDOWN) is blocked
    if blocked:
        forced = trigger(client, user, "force")
        assert forced["skipped"] is False and pending_count(settings, user.id) == 1


def test_gate_uses_the_latest_recommendation(client: TestClient[Any], settings: Settings) -> None:
    """Gate 1 looks only at the latest recommendation: an old snoozed one under a newer dismissed one
    does not block."""
    user = create_user(settings)
    add_session(settings, user.id, minutes=250)
    add_recommendation(
        settings,
        user.id,
        created_ago=timedelta(minutes=30),
        user_action="snoozed",
        acted_ago=timedelta(minutes=5),
    )
    add_recommendation(
        settings,
        user.id,
        created_ago=timedelta(minutes=20),
        user_action="dismissed",
        acted_ago=timedelta(minutes=19),
    )
    # The snoozed row is older (by created_at) than the dismissed row, so it is not the latest.
    assert trigger(client, user)["skipped"] is False


def test_concurrent_real_triggers_call_the_generator_once(
    client: TestClient[Any], settings: Settings
) -> None:
    """§7.1 per-user lock: concurrent real triggers run one at a time; one creates, the rest: cooldown."""
    import threading

    user = create_user(settings)
    add_session(settings, user.id, minutes=250)
    results: list[dict[str, Any]] = []
    barrier = threading.Barrier(6)

    def fire() -> None:
        barrier.wait()
        results.append(trigger(client, user))

    threads = [threading.Thread(target=fire) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["skipped"] for r in results) == [False] + [True] * 5
    assert all(r == COOLDOWN for r in results if r["skipped"])
    assert evaluations(settings, user.id) == ["recommendation"]
    assert pending_count(settings, user.id) == 1


def test_evaluate_user_direct_call_matches_http(client: TestClient[Any], settings: Settings) -> None:
    """The trigger is a thin wrapper: the pipeline function gives the same outcome on the app context."""
    user = create_user(settings)
    add_session(settings, user.id, minutes=250)
    insights = services_of(client).insights
    assert insights.generator.name == "template"
    result = evaluate_user(insights, user.id, "real")
    assert result.body()["rule"] == "very_long_session"
    assert trigger(client, user) == COOLDOWN
