"""The scheduler inside the app lifespan runs the ETL on its own (contract §6.5), and the CLI's
``devflow etl run|rebuild`` drive the same passes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient

from devflow.app import create_app
from devflow.cli import main
from devflow.config import Settings
from tests.metrics.events import churn, send, text_change
from tests.support.accounts import create_user


def test_scheduled_etl_makes_ingested_events_visible(
    make_settings: Callable[..., Settings], make_client: Callable[..., TestClient[Any]]
) -> None:
    user = create_user(make_settings())
    client = make_client(
        METRICS_ETL_ENABLED="true", METRICS_ETL_INTERVAL_SECONDS="0.3", DEVFLOW_LAKE_FLUSH_SECONDS="0.2"
    )
    sid = str(uuid.uuid4())
    send(
        client,
        user,
        [
            text_change("2026-05-14T09:00:00.000Z", sid, "src/a.ts", 100, [(1, 1)], 1, 0),
            text_change("2026-05-14T09:00:05.000Z", sid, "src/a.ts", 150, [(10, 10)], 2100, 0),
        ],
    )
    deadline = time.monotonic() + 20
    added = 0
    while time.monotonic() < deadline:
        added = churn(client, user, "from=2026-05-14&to=2026-05-14")["total_lines_added"]
        if added:
            break
        time.sleep(0.2)
    assert added == 50


def test_cli_etl_run_and_rebuild(
    make_settings: Callable[..., Settings],
    make_client: Callable[..., TestClient[Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings()
    user = create_user(settings)
    event = text_change("2026-05-14T09:00:00.000Z", str(uuid.uuid4()), "src/a.ts", 3, [(1, 2)], 0, 9)
    with TestClient(app=create_app(settings)) as client:  # leaving stops the app: the writer flushes
        send(client, user, [event])
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DEVFLOW_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("JWT_SECRET", settings.jwt_secret)
    assert main(["etl", "run"]) == 0
    first = capsys.readouterr().out
    assert "processed_count=1 " in first and first.count("processed_count=") == 1  # one pass
    assert main(["etl", "rebuild"]) == 0
    assert "full=True" in capsys.readouterr().out
    check = make_client()
    body = churn(check, user, "from=2026-05-14&to=2026-05-14")
    assert body["total_lines_deleted"] == 1
