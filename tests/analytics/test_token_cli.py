"""``devflow token --email``: call the API as a generated user (development only)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from litestar.testing import TestClient

from devflow.analytics.generate import write_synthetic
from devflow.analytics.synthetic import SyntheticSpec, plan_users
from devflow.cli import main
from devflow.config import Settings
from devflow.db.engine import make_engine, make_session_factory

SPEC = SyntheticSpec(users=3, days=1, seed=2, end_date=date(2026, 5, 13))


@pytest.fixture()
def generated(settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    engine = make_engine(settings.database_url)
    try:
        write_synthetic(
            settings, SPEC, db=make_session_factory(engine), now=datetime(2026, 5, 15, tzinfo=UTC)
        )
    finally:
        engine.dispose()
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DEVFLOW_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("JWT_SECRET", settings.jwt_secret)
    monkeypatch.setenv("LOG_LEVEL", "warning")
    return settings


def test_token_lets_you_call_the_api_as_a_generated_user(
    generated: Settings, make_client: Callable[..., TestClient[Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    user = plan_users(SPEC)[1]
    assert main(["token", "--email", user.email.upper()]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("dvf_")
    client = make_client()
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    assert me.json()["username"] == user.username
    assert client.get("/api/v1/auth/me", headers={"Authorization": "Bearer dvf_nope"}).status_code == 401


def test_token_refuses_unknown_users_and_production(
    generated: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "--email", "nobody@devflow.example"]) == 2
    assert "no user" in capsys.readouterr().err
    monkeypatch.setenv("DEVFLOW_ENV", "production")
    monkeypatch.setenv("PUBLIC_URL", "https://devflow.example")
    monkeypatch.setenv("JWT_SECRET", "x" * 40)
    assert main(["token", "--email", plan_users(SPEC)[0].email]) == 2
    captured = capsys.readouterr()
    assert "development only" in captured.err and "dvf_" not in captured.out
