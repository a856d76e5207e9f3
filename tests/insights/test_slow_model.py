"""A slow model holds no pooled connection (issue 15): while 20 evaluations wait on a Gemini that
answers after 5 s, ingest and metric reads of other users go through on a pool of 3 connections."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import TestClient

from devflow.config import Settings
from tests.insights.support import FakeGemini, Reply, add_session, model_output, recommendation_rows
from tests.metrics.events import churn, file_save, send
from tests.support.accounts import create_user

EVALUATIONS = 20
MODEL_DELAY_SECONDS = 5.0


@pytest.fixture()
def slow_gemini() -> Iterator[FakeGemini]:
    fake = FakeGemini().start()
    fake.answer_json(model_output())
    fake.reply = Reply(text=fake.reply.text, delay=MODEL_DELAY_SECONDS)
    yield fake
    fake.stop()


def wait_until(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached within the generous deadline"
        time.sleep(0.05)


@pytest.mark.slow(waits=True)  # on the slow model
def test_ingest_and_reads_go_on_while_evaluations_wait_on_the_model(
    make_client: Callable[..., TestClient[Any]], slow_gemini: FakeGemini, settings: Settings
) -> None:
    client = make_client(
        GOOGLE_API_KEY="AIzaFAKE-slow-model-0123456789",
        GEMINI_BASE_URL=slow_gemini.base_url,
        GEMINI_TIMEOUT_SECONDS="60",
        DATABASE_POOL_SIZE="3",
    )
    evaluated = [create_user(settings) for _ in range(EVALUATIONS)]
    for user in evaluated:
        add_session(settings, user.id, minutes=250)
    writer = create_user(settings)
    results: list[dict[str, Any]] = []
    done = threading.Lock()

    def trigger(user: Any) -> None:
        resp = client.post("/api/v1/recommendations/trigger", json={}, headers=user.token_headers)
        with done:
            results.append({"status": resp.status_code, **resp.json()})

    threads = [threading.Thread(target=trigger, args=(user,)) for user in evaluated]
    for thread in threads:
        thread.start()
    wait_until(lambda: slow_gemini.in_flight >= 1, 60)

    # With the model busy and 20 evaluations queued, other users' requests still find connections.
    session_id = "0190b7a0-0000-7000-8000-000000000001"
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    for i in range(5):
        accepted = send(client, writer, [file_save(f"{day}T00:00:0{i}.000Z", session_id, "src/a.ts", 10 + i)])
        assert accepted["accepted_count"] == 1
        churn(client, writer, f"from={day}&to={day}")
        assert client.get("/api/v1/recommendations/pending", headers=writer.token_headers).status_code == 200
    with done:
        assert len(results) < EVALUATIONS  # the evaluations were still waiting on the model

    for thread in threads:
        thread.join(180)
    assert sorted(result["status"] for result in results) == [200] * EVALUATIONS
    assert all(result["skipped"] is False and result["state_type"] == "stuck_loop" for result in results)
    assert all(len(recommendation_rows(settings, user.id)) == 1 for user in evaluated)
    assert 1 <= slow_gemini.max_in_flight <= 4  # contract §7.1: at most 4 model calls per process
