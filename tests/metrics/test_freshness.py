"""Freshness with default settings (contract §6.5): the ETL of a real served process, on its default
60-second schedule, shows an acknowledged event in ``/metrics/churn`` within 65 s; and one manual
pass takes in 10,000 ingested events at once (checklist 132)."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from devflow.app import create_app
from devflow.config import Settings
from tests.conftest import BASE_ENV
from tests.metrics.events import file_save, send, text_change
from tests.support.accounts import create_user
from tests.support.server import ServerProcess

DEADLINE_SECONDS = 65.0


def _call(url: str, headers: dict[str, str], body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        headers={**headers, "Content-Type": "application/json"},
        method="POST" if data else "GET",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


@pytest.mark.slow(waits=True)  # for the scheduler's first tick
def test_an_acknowledged_event_shows_in_churn_within_65_s_with_the_default_schedule(
    make_settings: Callable[..., Settings], database_url: str, tmp_path: Path
) -> None:
    settings = make_settings()
    user = create_user(settings)
    env = {
        **BASE_ENV,
        "DATABASE_URL": database_url,
        "DEVFLOW_DATA_DIR": str(tmp_path / "data"),
        "METRICS_ETL_ENABLED": "true",  # the default; BASE_ENV turns it off for other tests
    }
    assert (
        "METRICS_ETL_INTERVAL_SECONDS" not in env
        and Settings.from_env(env).metrics_etl_interval_seconds == 60
    )
    today = dt.datetime.now(dt.UTC)
    sid = str(uuid.uuid4())
    stamp = today.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    events = [
        file_save(stamp, sid, "src/app.ts", 10),
        text_change(stamp, sid, "src/app.ts", 12, [(1, 1)], 30, 0),
    ]
    query = f"from={today.date()}&to={today.date()}"
    with ServerProcess(env, log_path=tmp_path / "server.log") as server:
        status, body = _call(f"{server.base_url}/api/v1/telemetry", user.token_headers, {"events": events})
        acknowledged = time.monotonic()
        assert status == 202 and body["accepted_count"] == 2
        seen = None
        while time.monotonic() - acknowledged < DEADLINE_SECONDS:
            _, churn = _call(f"{server.base_url}/api/v1/metrics/churn?{query}", user.jwt_headers)
            if churn["total_lines_added"] == 2:
                seen = time.monotonic() - acknowledged
                break
            time.sleep(0.5)
    assert seen is not None, "the event did not show in /metrics/churn within 65 s"
    print(f"freshness: event visible in /metrics/churn {seen:.1f} s after its 202")


def test_one_manual_pass_takes_in_ten_thousand_events(make_settings: Callable[..., Settings]) -> None:
    """Checklist 132: with the default batch size one pass takes every row, the next none."""
    settings = make_settings()
    user = create_user(settings)
    sid = str(uuid.uuid4())
    base = dt.datetime(2026, 5, 12, 9, 0, tzinfo=dt.UTC)
    app = create_app(make_settings(ADMIN_USER_IDS=str(user.id)))
    with TestClient(app=app, raise_server_exceptions=False) as client:
        for chunk in range(10):
            events = [
                file_save(
                    (base + dt.timedelta(seconds=chunk * 1000 + i)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    sid,
                    f"src/f{i % 7}.ts",
                    i + 1,
                )
                for i in range(1000)
            ]
            assert send(client, user, events)["accepted_count"] == 1000
        first = client.post("/api/v1/metrics/etl/run", headers=user.jwt_headers).json()
        second = client.post("/api/v1/metrics/etl/run", headers=user.jwt_headers).json()
    assert first["processed_count"] == 10_000
    assert second["processed_count"] == 0
