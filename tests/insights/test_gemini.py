"""The Gemini generator with the REAL google-genai client against a fake Gemini server on 127.0.0.1
(contract §7.4; checklist items 111, 112, 113), driven through POST /recommendations/trigger."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from devflow.config import Settings
from tests.insights.support import (
    FakeGemini,
    Reply,
    add_session,
    evaluations,
    model_output,
    recommendation_rows,
    workflow_states,
)
from tests.support.accounts import TestUser, create_user

TRIGGER = "/api/v1/recommendations/trigger"
API_KEY = "AIzaFAKE-test-key-never-logged-0123456789"
LLM_FAILED = {"skipped": True, "reason": "llm_failed"}


@pytest.fixture()
def gemini() -> Iterator[FakeGemini]:
    fake = FakeGemini().start()
    yield fake
    fake.stop()


@pytest.fixture()
def gemini_client(make_client: Callable[..., TestClient[Any]], gemini: FakeGemini) -> TestClient[Any]:
    return make_client(GOOGLE_API_KEY=API_KEY, GEMINI_BASE_URL=gemini.base_url, GEMINI_TIMEOUT_SECONDS="1")


def trigger(client: TestClient[Any], user: TestUser, mode: str = "real") -> dict[str, Any]:
    resp = client.post(TRIGGER, json={"mode": mode}, headers=user.token_headers)
    assert resp.status_code == 200
    body: dict[str, Any] = resp.json()
    return body


def test_valid_reply_creates_a_gemini_recommendation(
    gemini_client: TestClient[Any], gemini: FakeGemini, settings: Settings
) -> None:
    """A schema-valid reply whose evidence matches the input → a recommendation with generator "gemini";
    the request carries the model, temperature 0.4, JSON MIME type, the response schema and the prompt."""
    user = create_user(settings)
    add_session(settings, user.id, minutes=250)
    gemini.answer_json(model_output())
    body = trigger(gemini_client, user)
    assert body == {
        "skipped": False,
        "rule": "very_long_session",
        "state_type": "stuck_loop",
        "recommendation_id": body["recommendation_id"],
    }
    assert type(body["recommendation_id"]) is int
    [rec] = recommendation_rows(settings, user.id)
    assert rec.code_context == {
        "reasoning": "The session is 250 minutes long.",
        "triggered_rule": "very_long_session",
        "evidence": [{"metric": "duration_minutes", "value": 250}],
        "generator": "gemini",
    }
    assert rec.recommendation_text == model_output()["recommendation_text"]

    [call] = gemini.calls
    assert call["path"].endswith("/models/gemini-2.5-flash:generateContent")
    assert call["headers"].get("x-goog-api-key") == API_KEY
    config = call["body"]["generationConfig"]
    assert config["temperature"] == 0.4
    assert config["responseMimeType"] == "application/json"
    schema = config["responseJsonSchema"]
    assert schema["required"] == list(model_output())
    assert schema["properties"]["evidence"]["maxItems"] == 6
    [content] = call["body"]["contents"]
    assert content["role"] == "user"
    prompt = content["parts"][0]["text"]
    instructions, _, data = prompt.partition("\n\nInput:\n")
    assert "workflow-wellness coach" in instructions
    sent = json.loads(data)
    assert sent["triggered_rule"] == "very_long_session"
    assert sent["session"]["duration_minutes"] == 250
    assert sent["today"] == {
        "lines_added": 0,
        "lines_deleted": 0,
        "churn_ratio": None,
        "switch_count": 0,
        "rapid_switch_count": 0,
    }
    assert sent["top_file"] is None and sent["top_files"] == []


def test_normal_verdict_starts_the_evaluation_cooldown(
    gemini_client: TestClient[Any], gemini: FakeGemini, settings: Settings
) -> None:
    """Checklist #111.

    The model says normal → recommendation_id null; a second real trigger → cooldown, and the model
    was called exactly once."""
    user = create_user(settings)
    add_session(settings, user.id, minutes=250)
    gemini.answer_json(
        model_output(
            state_type="normal",
            recommendation_type="execute",
            confidence_score=0.2,
            recommendation_text="Keep going: 250 minutes in and nothing worrying.",
            evidence=[{"metric": "duration_minutes", "value": "250"}],
        )
    )
    first = trigger(gemini_client, user)
    assert first == {
        "skipped": False,
        "rule": "very_long_session",
        "state_type": "normal",
        "recommendation_id": None,
    }
    second = trigger(gemini_client, user)
    assert second == {"skipped": True, "reason": "cooldown"}
    assert len(gemini.calls) == 1
    assert recommendation_rows(settings, user.id) == []
    assert [s for s, _ in workflow_states(settings, user.id)] == ["normal"]
    assert evaluations(settings, user.id) == ["normal"]


def test_invented_number_is_downgraded(
    gemini_client: TestClient[Any], gemini: FakeGemini, settings: Settings
) -> None:
    """Checklist #113.

    Evidence citing a number that is not in the input → downgraded to normal (confidence ≤ 0.3),
    no recommendation, and the evaluation gate starts."""
    user = create_user(settings)
    add_session(settings, user.id, minutes=250)
    gemini.answer_json(model_output(confidence_score=0.9, evidence=[{"metric": "lines_added", "value": 999}]))
    body = trigger(gemini_client, user)
    assert body == {
        "skipped": False,
        "rule": "very_long_session",
        "state_type": "normal",
        "recommendation_id": None,
    }
    assert recommendation_rows(settings, user.id) == []
    [(state, confidence)] = workflow_states(settings, user.id)
    assert state == "normal" and float(confidence) <= 0.3
    assert evaluations(settings, user.id) == ["normal"]
    assert trigger(gemini_client, user) == {"skipped": True, "reason": "cooldown"}
    assert len(gemini.calls) == 1


@pytest.mark.parametrize(
    "reply",
    [
        Reply(text="this is not JSON"),
        Reply(text=""),
        Reply(text=json.dumps(model_output(mood="grumpy"))),
        Reply(text=json.dumps(model_output(evidence=[{"metric": "duration_minutes", "value": 250}] * 7))),
        Reply(text=json.dumps(model_output(recommendation_text="a" * 241))),
        Reply(status=429),
        Reply(status=500),
        Reply(text=json.dumps(model_output()), delay=3.0),  # beyond GEMINI_TIMEOUT_SECONDS=1
    ],
    ids=["non-json", "empty", "extra-key", "7-evidence", "241-chars", "http-429", "http-500", "timeout"],
)
def test_failures_give_llm_failed(
    gemini_client: TestClient[Any],
    gemini: FakeGemini,
    settings: Settings,
    reply: Reply,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Checklist #112: non-JSON, an extra key, 7 evidence items, a 241-char text, a 429/500 and a timeout →
    llm_failed; no recommendation; the failed call starts the evaluation cooldown; the key is never logged."""
    user = create_user(settings)
    add_session(settings, user.id, minutes=250)
    gemini.reply = reply
    with caplog.at_level(logging.DEBUG):
        assert trigger(gemini_client, user) == LLM_FAILED
    assert len(gemini.calls) == 1  # one attempt, no retries
    assert recommendation_rows(settings, user.id) == []
    assert workflow_states(settings, user.id) == []
    assert evaluations(settings, user.id) == ["failed"]
    assert any("gemini" in r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    assert all(API_KEY not in r.getMessage() and API_KEY not in str(r.args) for r in caplog.records)
    assert API_KEY not in caplog.text
    assert trigger(gemini_client, user) == {"skipped": True, "reason": "cooldown"}


def test_failure_keeps_the_pending_recommendation(
    gemini_client: TestClient[Any], gemini: FakeGemini, settings: Settings
) -> None:
    """§7.2 step 6: on llm_failed nothing else is persisted — a force run does not expire the pending one."""
    user = create_user(settings)
    add_session(settings, user.id, minutes=250)
    gemini.answer_json(model_output())
    created = trigger(gemini_client, user)["recommendation_id"]
    gemini.reply = Reply(status=500)
    assert trigger(gemini_client, user, "force") == LLM_FAILED
    assert [(r.id, r.user_action) for r in recommendation_rows(settings, user.id)] == [(created, None)]


def test_demo_never_calls_the_model(
    gemini_client: TestClient[Any], gemini: FakeGemini, settings: Settings
) -> None:
    """§7.2 demo: no Gemini call is made."""
    user = create_user(settings)
    add_session(settings, user.id, minutes=250)
    resp = gemini_client.post(TRIGGER, json={"mode": "demo"}, headers=user.jwt_headers)
    assert resp.status_code == 200 and resp.json()["mode"] == "demo"
    assert gemini.calls == []
