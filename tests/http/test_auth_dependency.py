"""Contract §1.4 through a real authenticated route (``GET /auth/me``), and §1.2/§1.3 body errors.

Checklist 5, 6, 9, 32, 34 — the auth dependency, body limits and JSON errors are shared
infrastructure, so they are tested here once, with CORS headers checked on each error.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import jwt
import pytest
from litestar.testing import TestClient

from devflow.config import Settings
from tests.support.accounts import create_user

SECRET = "test-secret-which-is-long-enough-for-hs256"
ALLOWED = "http://localhost:5173"
OTHER = "http://evil.example"


def _claims(sub: str, exp_delta: int = 3600) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": sub, "provider": "password", "iat": now, "exp": now + exp_delta}


def _b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _me(client: TestClient[Any], origin: str = ALLOWED, **kwargs: Any) -> Any:
    return client.get("/api/v1/auth/me", headers={"Origin": origin, **kwargs.pop("headers", {})}, **kwargs)


def _assert_401(resp: Any, origin_allowed: bool = True) -> None:
    assert resp.status_code == 401
    assert resp.json() == {"error": "Unauthorized"}
    assert resp.headers["content-type"].startswith("application/json")
    if origin_allowed:
        assert resp.headers["access-control-allow-origin"] == ALLOWED
        assert resp.headers["access-control-allow-credentials"] == "true"
    else:
        assert "access-control-allow-origin" not in resp.headers


def test_valid_jwt_bearer_and_cookie_and_token(client: TestClient[Any], settings: Settings) -> None:
    """Checklist #30, #31."""
    user = create_user(settings)
    for kwargs in (
        {"headers": user.jwt_headers},
        {"headers": user.token_headers},
    ):
        resp = _me(client, **kwargs)
        assert resp.status_code == 200, resp.text
        assert resp.json()["id"] == str(user.id)
    client.cookies.set("session", user.jwt)
    try:
        resp = _me(client)
        assert resp.status_code == 200
        assert resp.json()["id"] == str(user.id)
    finally:
        client.cookies.clear()


@pytest.mark.parametrize("origin_allowed", [True, False])
def test_bad_jwts_are_401(client: TestClient[Any], settings: Settings, origin_allowed: bool) -> None:
    """Checklist #32."""
    user = create_user(settings)
    sub = str(user.id)
    bad = {
        "wrong secret": jwt.encode(_claims(sub), "another-secret-another-secret-xx", algorithm="HS256"),
        "expired": jwt.encode(_claims(sub, exp_delta=-1), SECRET, algorithm="HS256"),
        "hs512": jwt.encode(_claims(sub), SECRET + SECRET, algorithm="HS512"),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(sub))}.",
        "sub not uuid": jwt.encode({**_claims(sub), "sub": "42"}, SECRET, algorithm="HS256"),
        "no exp": jwt.encode({"sub": sub, "iat": int(time.time())}, SECRET, algorithm="HS256"),
        "garbage": "not-a-jwt",
        "unknown api token": "dvf_" + "A" * 43,
        "empty api token": "dvf_",
    }
    origin = ALLOWED if origin_allowed else OTHER
    for name, credential in bad.items():
        resp = _me(client, origin, headers={"Authorization": f"Bearer {credential}"})
        assert resp.status_code == 401, name
        _assert_401(resp, origin_allowed)
    _assert_401(_me(client, origin), origin_allowed)  # no credential at all


def test_bearer_wins_over_cookie_and_other_schemes_fall_back(
    client: TestClient[Any], settings: Settings
) -> None:
    """Checklist #34."""
    user = create_user(settings)
    client.cookies.set("session", user.jwt)
    try:
        resp = _me(client, headers={"Authorization": "Basic abc"})
        assert resp.status_code == 200
        assert resp.json()["id"] == str(user.id)
        _assert_401(_me(client, headers={"Authorization": "Bearer xyz"}))
        # "bearer" in lower case is not the Bearer scheme: the cookie is used.
        assert _me(client, headers={"Authorization": f"bearer {uuid.uuid4()}"}).status_code == 200
    finally:
        client.cookies.clear()


def test_revoked_token_is_401(client: TestClient[Any], settings: Settings) -> None:
    from sqlalchemy import update

    from devflow.accounts.models import ApiToken
    from devflow.db.base import utcnow
    from devflow.db.engine import make_engine

    user = create_user(settings)
    assert _me(client, headers=user.token_headers).status_code == 200
    engine = make_engine(settings.database_url)
    with engine.begin() as conn:
        conn.execute(update(ApiToken).where(ApiToken.user_id == user.id).values(revoked_at=utcnow()))
    engine.dispose()
    _assert_401(_me(client, headers=user.token_headers))


def test_invalid_json_is_400_with_cors(client: TestClient[Any]) -> None:
    """Checklist #5."""
    for origin, allowed in ((ALLOWED, True), (OTHER, False)):
        resp = client.post(
            "/api/v1/auth/login",
            content=b'{"email":',
            headers={"Content-Type": "application/json", "Origin": origin},
        )
        assert resp.status_code == 400
        assert resp.json() == {"error": "Invalid JSON"}
        assert ("access-control-allow-origin" in resp.headers) is allowed


def test_body_over_1_mib_is_413_with_cors(client: TestClient[Any]) -> None:
    """Checklist #6."""
    body = b'{"email":"a@b.co","password":"' + b"x" * (2 * 1024 * 1024) + b'"}'
    for origin, allowed in ((ALLOWED, True), (OTHER, False)):
        resp = client.post(
            "/api/v1/auth/login", content=body, headers={"Content-Type": "application/json", "Origin": origin}
        )
        assert resp.status_code == 413
        assert resp.json() == {"error": "Payload too large"}
        assert ("access-control-allow-origin" in resp.headers) is allowed
