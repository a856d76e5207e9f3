"""API tokens (contract §3.4, §5.1): checklist items 48–56, and #15 for their timestamps."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

from litestar.testing import TestClient
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session, sessionmaker

from devflow.accounts.models import ApiToken, User
from devflow.config import Settings
from tests.support.accounts import create_user

TOKEN_RE = re.compile(r"^dvf_[A-Za-z0-9_-]{43}$")
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
JWT_ONLY = {"error": "API tokens cannot manage other tokens"}


def _issue(client: TestClient[Any], headers: dict[str, str], name: str = "Work laptop") -> dict[str, Any]:
    response = client.post("/api/v1/auth/tokens", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_issue_token_format(client: TestClient[Any], settings: Settings, db: sessionmaker[Session]) -> None:
    """Checklist #48, #49, #15.

    #48 201 with id/name/token/token_prefix/created_at, ``dvf_`` + 43 chars, prefix = token[4:10].
    #49 the stored hash is sha256_hex(token[4:]) and the plaintext is stored nowhere."""
    user = create_user(settings)
    body = _issue(client, user.jwt_headers)
    assert set(body) == {"id", "name", "token", "token_prefix", "created_at"}
    assert body["name"] == "Work laptop"
    assert TOKEN_RE.match(body["token"])
    assert body["token_prefix"] == body["token"][4:10]
    assert TIMESTAMP_RE.match(body["created_at"])
    with db() as session:
        row = session.get(ApiToken, uuid.UUID(body["id"]))
        assert row is not None
        assert row.token_hash == hashlib.sha256(body["token"][4:].encode()).hexdigest()
        # No column of any table holds the plaintext (pairing rows aside, none exist here).
        for table in ("api_tokens", "users", "pairing_codes"):
            rows = session.execute(text(f"SELECT * FROM {table}")).all()  # noqa: S608 - fixed names
            assert all(body["token"][4:] not in str(value) for r in rows for value in r)
    # The new token works, and whitespace-only names are accepted.
    assert (
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['token']}"}).status_code == 200
    )
    assert _issue(client, user.jwt_headers, name="   ")["name"] == "   "


def test_issue_token_schema_errors(client: TestClient[Any], settings: Settings) -> None:
    """#50 ``{}``, ``{"name":""}``, a 65-character name (and a non-string) → 400 schema error."""
    user = create_user(settings)
    for body in ({}, {"name": ""}, {"name": "x" * 65}, {"name": 5}):
        response = client.post("/api/v1/auth/tokens", json=body, headers=user.jwt_headers)
        assert response.status_code == 400, body
        payload = response.json()
        assert payload["error"] == "Validation failed"
        assert payload["message"] == "Request body does not match required schema"
        assert payload["details"][0]["instancePath"] in ("", "/name")
    assert _issue(client, user.jwt_headers, name="x" * 64)["name"] == "x" * 64


def test_token_callers_cannot_manage_tokens(client: TestClient[Any], settings: Settings) -> None:
    """#51 a token with a valid body → 403, with an invalid body → 400 (schema before 403);
    #52 GET /auth/tokens with a token → 403; no credential → 401 before anything else."""
    user = create_user(settings)
    response = client.post("/api/v1/auth/tokens", json={"name": "x"}, headers=user.token_headers)
    assert response.status_code == 403 and response.json() == JWT_ONLY
    response = client.post("/api/v1/auth/tokens", json={}, headers=user.token_headers)
    assert response.status_code == 400 and response.json()["error"] == "Validation failed"
    response = client.get("/api/v1/auth/tokens", headers=user.token_headers)
    assert response.status_code == 403 and response.json() == JWT_ONLY
    response = client.delete(f"/api/v1/auth/tokens/{uuid.uuid4()}", headers=user.token_headers)
    assert response.status_code == 403 and response.json() == JWT_ONLY
    response = client.post("/api/v1/auth/tokens", content=b"{", headers={"Content-Type": "application/json"})
    assert response.status_code == 401


def test_list_tokens_newest_first_own_only(client: TestClient[Any], settings: Settings) -> None:
    """#52 200 {"tokens": [...]}: newest first, revoked included, exactly six keys, only the caller's."""
    user = create_user(settings)
    other = create_user(settings)
    first = _issue(client, user.jwt_headers, "first")
    second = _issue(client, user.jwt_headers, "second")
    _issue(client, other.jwt_headers, "not mine")
    assert client.delete(f"/api/v1/auth/tokens/{first['id']}", headers=user.jwt_headers).status_code == 204
    response = client.get("/api/v1/auth/tokens", headers=user.jwt_headers)
    assert response.status_code == 200
    tokens = response.json()["tokens"]
    assert [t["name"] for t in tokens] == ["second", "first", "test token"]
    for item in tokens:
        assert set(item) == {"id", "name", "token_prefix", "last_used_at", "created_at", "revoked_at"}
        assert TIMESTAMP_RE.match(item["created_at"])
        for key in ("last_used_at", "revoked_at"):
            assert item[key] is None or TIMESTAMP_RE.match(item[key])
    assert tokens[0]["id"] == second["id"] and tokens[0]["revoked_at"] is None
    assert tokens[1]["revoked_at"] is not None


def test_token_use_sets_last_used_at_53(
    client: TestClient[Any], settings: Settings, db: sessionmaker[Session]
) -> None:
    """#53 a request authenticated by a token → that token's ``last_used_at`` becomes non-null."""
    user = create_user(settings)
    with db() as session:
        assert session.scalars(select(ApiToken.last_used_at).where(ApiToken.user_id == user.id)).one() is None
    assert client.get("/api/v1/auth/me", headers=user.token_headers).status_code == 200
    with db() as session:
        assert (
            session.scalars(select(ApiToken.last_used_at).where(ApiToken.user_id == user.id)).one()
            is not None
        )
    listed = client.get("/api/v1/auth/tokens", headers=user.jwt_headers).json()["tokens"]
    assert TIMESTAMP_RE.match(listed[0]["last_used_at"])


def test_revoke_token(client: TestClient[Any], settings: Settings) -> None:
    """#54 DELETE own id → 204 and the token then gets 401; #55 another user's id, an already
    revoked id, or ``not-a-uuid`` → 404 Token not found, and the other user's token still works."""
    user = create_user(settings)
    other = create_user(settings)
    mine = _issue(client, user.jwt_headers)
    theirs = _issue(client, other.jwt_headers)
    response = client.delete(f"/api/v1/auth/tokens/{mine['id']}", headers=user.jwt_headers)
    assert response.status_code == 204 and response.content == b""
    assert (
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {mine['token']}"}).status_code == 401
    )
    revoked = client.post(
        "/api/v1/telemetry", json={"events": []}, headers={"Authorization": f"Bearer {mine['token']}"}
    )
    assert revoked.status_code == 401 and revoked.json() == {"error": "Unauthorized"}
    for token_id in (theirs["id"], mine["id"], "not-a-uuid", str(uuid.uuid4())):
        response = client.delete(f"/api/v1/auth/tokens/{token_id}", headers=user.jwt_headers)
        assert response.status_code == 404, token_id
        assert response.json() == {"error": "Token not found"}
    assert (
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {theirs['token']}"}).status_code
        == 200
    )


def test_empty_or_unknown_dvf_token_is_401(client: TestClient[Any]) -> None:
    """#56 ``Bearer dvf_`` (empty secret) or an unknown ``dvf_…`` → 401."""
    for credential in ("dvf_", "dvf_" + "A" * 43, "dvf_x"):
        response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {credential}"})
        assert response.status_code == 401 and response.json() == {"error": "Unauthorized"}


def test_token_for_deleted_user_is_404(
    client: TestClient[Any], settings: Settings, db: sessionmaker[Session]
) -> None:
    """A JWT of a deleted user cannot mint tokens: 404 User not found, never a 500."""
    user = create_user(settings)
    with db.begin() as session:
        session.execute(delete(User).where(User.id == user.id))
    response = client.post("/api/v1/auth/tokens", json={"name": "x"}, headers=user.jwt_headers)
    assert response.status_code == 404 and response.json() == {"error": "User not found"}
