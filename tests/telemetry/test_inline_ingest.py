"""Ingest on SQLite, where a body of ordinary size is processed on the event loop and a large one in a
worker thread (``Telemetry.runs_inline``). CI runs the other tests on PostgreSQL, so this module
builds its own migrated SQLite database: both ways must answer and store exactly alike."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import delete

from devflow.accounts.models import User
from devflow.app import create_app
from devflow.config import Settings
from devflow.db.engine import make_engine, make_session_factory
from devflow.db.migrate import upgrade
from devflow.services import build_services
from devflow.telemetry import INLINE_BODY_LIMIT
from tests.conftest import BASE_ENV, PG_URL
from tests.support.accounts import create_user
from tests.telemetry.payloads import lake_sql, post, vector_events


@pytest.fixture()
def sqlite_settings(tmp_path: Path) -> Settings:
    data = tmp_path / "sqlite-data"
    data.mkdir()
    url = f"sqlite:///{data / 'devflow.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return Settings.from_env({**BASE_ENV, "DEVFLOW_DATA_DIR": str(data), "DATABASE_URL": url})


@pytest.fixture()
def sqlite_client(sqlite_settings: Settings) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(sqlite_settings), raise_server_exceptions=False) as client:
        yield client


def test_the_event_loop_takes_ordinary_bodies_on_sqlite_only(
    sqlite_settings: Settings, settings: Settings
) -> None:
    services = build_services(sqlite_settings)
    try:
        assert services.telemetry.runs_inline(0)
        assert services.telemetry.runs_inline(INLINE_BODY_LIMIT)
        assert not services.telemetry.runs_inline(INLINE_BODY_LIMIT + 1)
    finally:
        services.engine.dispose()
    other = build_services(settings)  # the suite's database: PostgreSQL in CI
    try:
        assert other.telemetry.runs_inline(1000) is not bool(PG_URL)
    finally:
        other.engine.dispose()


def _events(count: int, session: str) -> list[dict[str, Any]]:
    template = [e for name in ("file_save", "text_change", "editor_switch") for e in vector_events(name)]
    events = []
    for i in range(count):
        event = copy.deepcopy(template[i % len(template)])
        event["session_id"] = session
        event["timestamp"] = f"2026-05-14T10:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z"
        events.append(event)
    return events


def test_small_and_large_bodies_are_answered_and_stored_alike(
    sqlite_client: TestClient[Any], sqlite_settings: Settings
) -> None:
    user = create_user(sqlite_settings)
    small = {"events": [*_events(30, str(uuid.uuid4())), {"type": "nope"}]}
    large = {"events": [*_events(1500, str(uuid.uuid4())), {"type": "nope"}]}
    assert len(json.dumps(small)) <= INLINE_BODY_LIMIT < len(json.dumps(large))
    for body in (small, large):
        response = post(sqlite_client, user.token_headers, body)
        assert response.status_code == 202, response.text
        accepted = len(body["events"]) - 1
        assert response.json() == {
            "message": "Telemetry accepted",
            "accepted_count": accepted,
            "rejected_count": 1,
            "rejected": [{"index": accepted, "reason": "unknown_type"}],
        }
    stored = lake_sql(
        sqlite_client, "SELECT session_id, count(*), count(file_path) FROM events_all GROUP BY 1"
    )
    expected = {
        body["events"][0]["session_id"]: (
            len(body["events"]) - 1,
            sum(1 for e in body["events"][:-1] if e["type"] in ("file_save", "text_change")),
        )
        for body in (small, large)
    }
    assert {sid: (n, paths) for sid, n, paths in stored} == expected
    assert lake_sql(sqlite_client, "SELECT count(*) FROM quarantine") == [(2,)]


def test_errors_on_the_event_loop_are_the_contracts(
    sqlite_client: TestClient[Any], sqlite_settings: Settings
) -> None:
    user = create_user(sqlite_settings)
    bad_token = {"Authorization": "Bearer dvf_" + "x" * 40}
    response = post(sqlite_client, bad_token, {"events": _events(1, str(uuid.uuid4()))})
    assert (response.status_code, response.json()) == (401, {"error": "Unauthorized"})
    response = sqlite_client.post(
        "/api/v1/telemetry", content=b'{"events": [', headers={**user.token_headers, **_JSON}
    )
    assert (response.status_code, response.json()) == (400, {"error": "Invalid JSON"})
    engine = make_engine(sqlite_settings.database_url)
    with make_session_factory(engine).begin() as tx:
        tx.execute(delete(User).where(User.id == user.id))
    engine.dispose()
    response = post(sqlite_client, user.jwt_headers, {"events": _events(1, str(uuid.uuid4()))})
    assert (response.status_code, response.json()) == (404, {"error": "User not found"})


_JSON = {"Content-Type": "application/json"}
