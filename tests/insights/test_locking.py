"""The per-user lock (contract §3.8 trigger step 3, §7.1): a trigger waits for an in-flight evaluation
of the same user — across replicas on PostgreSQL (advisory lock), across the worker processes of one
server on SQLite (a striped flock next to the database file)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from litestar.testing import TestClient
from sqlalchemy import text

from devflow.config import Settings
from devflow.db.locks import hold_striped_file_lock, lock_stripe
from devflow.insights.pipeline import user_lock_key
from devflow.services import Services
from tests.insights.support import add_session, evaluations, recommendation_rows
from tests.support.accounts import create_user
from tests.support.lake import services_of


@contextmanager
def evaluation_in_flight(services: Services, user_id: Any) -> Iterator[None]:
    """Hold the user's lock the way another evaluation would.

    PostgreSQL: the advisory transaction lock on a separate connection, as another replica holds it.
    SQLite: only the user's file lock (its own descriptor), as another worker process holds it —
    this process's own per-user lock stays free.
    """
    if services.engine.dialect.name == "postgresql":
        with services.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": user_lock_key(user_id)})
            yield
            conn.rollback()
    else:
        with hold_striped_file_lock(
            services.engine, services.settings.data_dir, "insights-user", user_id.bytes
        ):
            yield


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
    """The lock is per user: another user's evaluation proceeds while one is held."""
    busy = create_user(settings)
    free = create_user(settings)
    while lock_stripe(free.id.bytes) == lock_stripe(busy.id.bytes):  # SQLite: users of one stripe wait
        free = create_user(settings)
    add_session(settings, free.id, minutes=250)
    with evaluation_in_flight(services_of(client), busy.id):
        resp = client.post("/api/v1/recommendations/trigger", json={}, headers=free.jwt_headers)
    assert resp.json()["skipped"] is False
