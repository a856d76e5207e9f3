"""The per-user evaluation lease (contract §3.8 trigger step 3, §7.1): a trigger waits for an in-flight
evaluation of the same user — held by another thread, worker process or replica as a row of
``evaluation_leases`` — and an abandoned lease expires on its own."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from litestar.testing import TestClient
from sqlalchemy import delete, select

from devflow.config import Settings
from devflow.insights.models import EvaluationLease
from devflow.services import Services
from tests.insights.support import add_session, database, evaluations, now_utc, recommendation_rows
from tests.support.accounts import create_user
from tests.support.lake import services_of


@contextmanager
def evaluation_in_flight(services: Services, user_id: Any) -> Iterator[None]:
    """Hold the user's lease the way another process's evaluation would (a committed row)."""
    with database(services.settings) as db:
        expires_at = now_utc() + timedelta(minutes=5)
        db.add(EvaluationLease(user_id=user_id, holder="other-replica", expires_at=expires_at))
    try:
        yield
    finally:
        with database(services.settings) as db:
            db.execute(delete(EvaluationLease).where(EvaluationLease.user_id == user_id))


def test_trigger_waits_for_an_in_flight_evaluation(client: TestClient[Any], settings: Settings) -> None:
    user = create_user(settings)
    add_session(settings, user.id, minutes=250)
    services = services_of(client)
    results: list[dict[str, Any]] = []

    def fire() -> None:
        resp = client.post("/api/v1/recommendations/trigger", json={}, headers=user.jwt_headers)
        results.append(resp.json())

    with evaluation_in_flight(services, user.id):
        worker = threading.Thread(target=fire)
        worker.start()
        time.sleep(0.6)
        assert worker.is_alive() and results == []
        assert evaluations(settings, user.id) == []
    worker.join(30)
    assert results and results[0]["skipped"] is False and results[0]["rule"] == "very_long_session"
    assert len(recommendation_rows(settings, user.id)) == 1


def test_other_users_are_not_blocked(client: TestClient[Any], settings: Settings) -> None:
    """The lease is per user: another user's evaluation proceeds while one is held."""
    busy = create_user(settings)
    free = create_user(settings)
    add_session(settings, free.id, minutes=250)
    with evaluation_in_flight(services_of(client), busy.id):
        resp = client.post("/api/v1/recommendations/trigger", json={}, headers=free.jwt_headers)
    assert resp.json()["skipped"] is False


def test_an_abandoned_lease_expires(client: TestClient[Any], settings: Settings) -> None:
    """A holder that died (its lease past ``expires_at``) does not block the user."""
    user = create_user(settings)
    add_session(settings, user.id, minutes=250)
    with database(settings) as db:
        db.add(EvaluationLease(user_id=user.id, holder="dead", expires_at=now_utc() - timedelta(seconds=1)))
    resp = client.post("/api/v1/recommendations/trigger", json={}, headers=user.jwt_headers)
    assert resp.json()["skipped"] is False
    with database(settings) as db:  # released after the evaluation
        assert db.execute(select(EvaluationLease).where(EvaluationLease.user_id == user.id)).first() is None
