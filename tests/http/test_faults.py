"""Contract §1.3: unexpected faults → 500 JSON with CORS and no internals; dependency outage → 503."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import get
from litestar.di import NamedDependency
from litestar.testing import TestClient
from sqlalchemy import text

from devflow.accounts import Accounts
from devflow.app import create_app
from devflow.config import Settings
from devflow.db.engine import make_engine as create_engine_for_url
from tests.support.accounts import create_user

ALLOWED = "http://localhost:5173"


@get("/probe/boom", sync_to_thread=False)
def boom() -> None:
    raise RuntimeError("secret internal detail /etc/passwd")


@get("/probe/db", sync_to_thread=True)
def db_probe(accounts: NamedDependency[Accounts]) -> dict[str, int]:
    with accounts.db() as session:
        return {"one": int(session.execute(text("SELECT 1")).scalar_one())}


def _client(settings: Settings) -> TestClient[Any]:
    return TestClient(app=create_app(settings, [boom, db_probe]), raise_server_exceptions=False)


def test_unhandled_exception_is_json_500_with_cors(settings: Settings) -> None:
    """Checklist #10."""
    with _client(settings) as client:
        resp = client.get("/api/v1/probe/boom", headers={"Origin": ALLOWED})
    assert resp.status_code == 500
    assert resp.json() == {"error": "Internal server error"}
    assert "secret internal detail" not in resp.text
    assert resp.headers["access-control-allow-origin"] == ALLOWED
    assert resp.headers["access-control-allow-credentials"] == "true"
    with _client(settings) as client:
        resp = client.get("/api/v1/probe/boom", headers={"Origin": "http://evil.example"})
    assert resp.status_code == 500
    assert resp.json() == {"error": "Internal server error"}
    assert "access-control-allow-origin" not in resp.headers
    assert resp.headers["vary"] == "Origin"


def test_database_reachable_through_context(settings: Settings) -> None:
    with _client(settings) as client:
        resp = client.get("/api/v1/probe/db")
    assert resp.status_code == 200
    assert resp.json() == {"one": 1}


def test_unreachable_database_is_503_with_retry_after(make_settings: Callable[..., Settings]) -> None:
    # Port 1 on loopback refuses connections: the dependency is down, not the client's fault.
    settings = make_settings(
        DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:1/nothing?connect_timeout=2"
    )
    with _client(settings) as client:
        resp = client.get("/api/v1/probe/db", headers={"Origin": ALLOWED})
    assert resp.status_code == 503
    assert resp.json() == {"error": "Service unavailable"}
    assert int(resp.headers["retry-after"]) > 0
    assert resp.headers["access-control-allow-origin"] == ALLOWED


def test_driver_errors_of_the_token_lookup_are_mapped_like_any_database_error(settings: Settings) -> None:
    """The API-token lookup runs on a raw driver connection; its errors still go through the
    database error mapping: on SQLite the driver reports a broken schema as an OperationalError
    (→ 503 with Retry-After), on PostgreSQL as a ProgrammingError (→ the generic 500). Neither leaks
    the SQL or the token."""
    user = create_user(settings)
    engine = create_engine_for_url(settings.database_url)
    with _client(settings) as client:
        assert client.get("/api/v1/auth/me", headers=user.token_headers).status_code == 200
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE api_tokens RENAME TO api_tokens_moved"))
        try:
            resp = client.get("/api/v1/auth/me", headers=user.token_headers)
        finally:
            with engine.begin() as conn:
                conn.execute(text("ALTER TABLE api_tokens_moved RENAME TO api_tokens"))
            engine.dispose()
        if settings.database_url.startswith("sqlite"):
            assert resp.status_code == 503
            assert resp.json() == {"error": "Service unavailable"}
            assert resp.headers["retry-after"] == "5"
        else:
            assert resp.status_code == 500
            assert resp.json() == {"error": "Internal server error"}
        assert "api_tokens" not in resp.text and user.token not in resp.text
        assert client.get("/api/v1/auth/me", headers=user.token_headers).status_code == 200
