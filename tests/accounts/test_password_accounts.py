"""Password accounts: register, login, me, logout (contract §3.2, §1.4, §1.5).

Checklist items 16–27 and 30–36, plus the auth-route parts of 6, 9, 11, 13 and 14.
Registrations cost a real bcrypt (cost 12, ~0.3 s), so tests that only need an account with a
password insert one directly (``insert_password_user``, cost 4).
"""

from __future__ import annotations

import base64
import json
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import bcrypt
import jwt
import pytest
from litestar.testing import TestClient
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from devflow.accounts.models import User
from devflow.config import Settings
from tests.accounts.conftest import insert_password_user
from tests.support.accounts import create_user

SECRET = "test-secret-which-is-long-enough-for-hs256"
ORIGIN = "http://localhost:5173"
SCHEMA_MESSAGE = "Request body does not match required schema"


def _cookie(response: Any) -> str:
    cookies = response.headers.get_list("set-cookie")
    assert len(cookies) == 1, cookies
    return str(cookies[0])


def _attributes(cookie: str) -> tuple[str, list[str]]:
    first, *rest = [part.strip() for part in cookie.split(";")]
    return first, rest


def _assert_schema_error(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "Validation failed"
    assert body["message"] == SCHEMA_MESSAGE
    assert isinstance(body["details"], list) and body["details"]
    for item in body["details"]:
        assert isinstance(item["instancePath"], str) and isinstance(item["message"], str)
    return list(body["details"])


def test_register_returns_user_jwt_and_dev_cookie(client: TestClient[Any]) -> None:
    """#16 register → 201, provider password, username from the local part, exact dev cookie.
    #35 the issued JWT: HS256, claims sub/provider/iat/exp, exp − iat = 604800."""
    response = client.post(
        "/api/v1/auth/register", json={"email": "user@example.com", "password": "correct-horse"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"user", "token"}
    assert set(body["user"]) == {"id", "username", "email", "provider"}
    assert body["user"]["provider"] == "password"
    assert body["user"]["username"] == "user"
    assert body["user"]["email"] == "user@example.com"
    assert str(uuid.UUID(body["user"]["id"])) == body["user"]["id"]

    first, attributes = _attributes(_cookie(response))
    assert first == f"session={body['token']}"
    assert attributes == ["HttpOnly", "Path=/", "Max-Age=604800", "SameSite=Lax"]

    header = jwt.get_unverified_header(body["token"])
    assert header == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(body["token"], SECRET, algorithms=["HS256"])
    assert set(claims) == {"sub", "provider", "iat", "exp"}
    assert claims["sub"] == body["user"]["id"] and claims["provider"] == "password"
    assert claims["exp"] - claims["iat"] == 604800


def test_production_cookie_is_secure_samesite_none(make_client: Callable[..., TestClient[Any]]) -> None:
    """#17 with DEVFLOW_ENV=production, then NODE_ENV=production: ``Secure`` and ``SameSite=None``."""
    for index, env in enumerate(({"DEVFLOW_ENV": "production"}, {"NODE_ENV": "production"})):
        client = make_client(FRONTEND_URL="https://app.example.com", **env)
        response = client.post(
            "/api/v1/auth/register", json={"email": f"prod{index}@example.com", "password": "correct-horse"}
        )
        assert response.status_code == 201, response.text
        _, attributes = _attributes(_cookie(response))
        assert attributes == ["HttpOnly", "Path=/", "Max-Age=604800", "SameSite=None", "Secure"]


def test_duplicate_email_conflicts_case_insensitively(
    client: TestClient[Any], db: sessionmaker[Session]
) -> None:
    """#18 register ``User@Example.com`` after ``user@example.com`` → 409; also with CORS (#9)."""
    insert_password_user(db, "user@example.com", "correct-horse")
    response = client.post(
        "/api/v1/auth/register",
        json={"email": "User@Example.com", "password": "another-pass"},
        headers={"Origin": ORIGIN},
    )
    assert response.status_code == 409
    assert response.json() == {"error": "Email already registered"}
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"


def test_register_schema_errors(client: TestClient[Any]) -> None:
    """#19 leading space in the email, #20 short password, ``a@b``, no email, 2- or 51-char username."""
    details = _assert_schema_error(
        client.post("/api/v1/auth/register", json={"email": " user@example.com", "password": "correct-horse"})
    )
    assert details[0]["instancePath"] == "/email"
    bad_bodies: list[Any] = [
        {"email": "user@example.com", "password": "7chars!"},
        {"email": "a@b", "password": "correct-horse"},
        {"password": "correct-horse"},
        {"email": "user@example.com", "password": "correct-horse", "username": "ab"},
        {"email": "user@example.com", "password": "correct-horse", "username": "x" * 51},
        {"email": "user@example.com", "password": 12345678},
        {"email": "x" * 310 + "@example.com", "password": "correct-horse"},  # longer than the column
        [],
        "user@example.com",
    ]
    for body in bad_bodies:
        _assert_schema_error(client.post("/api/v1/auth/register", json=body))
    # No body at all is an object with no fields (§1.2), and so a schema error too.
    details = _assert_schema_error(client.post("/api/v1/auth/register"))
    assert {d["message"] for d in details} == {
        "must have required property 'email'",
        "must have required property 'password'",
    }
    # Invalid JSON comes before the schema.
    response = client.post(
        "/api/v1/auth/register", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and response.json() == {"error": "Invalid JSON"}


def test_taken_username_is_replaced(client: TestClient[Any], db: sessionmaker[Session]) -> None:
    """#21 register ``user@other.com`` while ``user`` is taken → 201 with another username;
    a supplied username that is free is used as-is."""
    insert_password_user(db, "user@example.com", "correct-horse", username="user")
    response = client.post(
        "/api/v1/auth/register", json={"email": "user@other.com", "password": "correct-horse"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["user"]["username"] == "password-user@oth"  # <provider>-<first 8 of id>


def test_username_candidates_fall_through_in_order(db: sessionmaker[Session]) -> None:
    """#21 (service level) the third candidate is candidate 2 + ``-`` + 6 hex chars, then the last resort."""
    from devflow.accounts.service import create_password_user

    insert_password_user(db, "a@one.com", "x" * 8, username="alice")
    insert_password_user(db, "b@one.com", "x" * 8, username="password-zed@exam")
    user = create_password_user(db, "zed@example.com", "hash", "alice")
    assert user is not None
    prefix, suffix = user.username.rsplit("-", 1)
    assert prefix == "password-zed@exam" and len(suffix) == 6 and int(suffix, 16) >= 0
    long = create_password_user(db, "q@example.com", "hash", "L" * 50)
    assert long is not None and long.username == "L" * 50


def test_long_password_registers_and_logs_in(client: TestClient[Any]) -> None:
    """#23 a 100-character password (only its first 72 bytes count) → 201, then login → 200."""
    password = "é" * 30 + "p" * 70  # 100 characters, 130 UTF-8 bytes: the cut falls inside 'p's
    response = client.post("/api/v1/auth/register", json={"email": "long@example.com", "password": password})
    assert response.status_code == 201, response.text
    response = client.post("/api/v1/auth/login", json={"email": "long@example.com", "password": password})
    assert response.status_code == 200, response.text


def test_login_with_mixed_case_email(client: TestClient[Any], db: sessionmaker[Session]) -> None:
    """#24 correct password with a mixed-case email → 200 ``{user, token}`` plus the cookie.
    #11 a disallowed Origin still gets the 200 and the cookie, without CORS headers."""
    user = insert_password_user(db, "mixed@example.com", "correct-horse")
    response = client.post(
        "/api/v1/auth/login",
        json={"email": "MiXeD@Example.COM", "password": "correct-horse"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"] == {
        "id": str(user.id),
        "username": user.username,
        "email": "mixed@example.com",
        "provider": "password",
    }
    assert _cookie(response).startswith(f"session={body['token']};")
    assert "access-control-allow-origin" not in response.headers


def test_login_failures(client: TestClient[Any], db: sessionmaker[Session]) -> None:
    """#25 wrong password → 401 Invalid credentials; unknown email → the same; #27 no password → 400."""
    insert_password_user(db, "known@example.com", "correct-horse")
    for body in (
        {"email": "known@example.com", "password": "wrong-horse"},
        {"email": "nobody@example.com", "password": "correct-horse"},
    ):
        response = client.post("/api/v1/auth/login", json=body)
        assert response.status_code == 401
        assert response.json() == {"error": "Invalid credentials"}
        assert "set-cookie" not in response.headers
    _assert_schema_error(client.post("/api/v1/auth/login", json={"email": "known@example.com"}))
    _assert_schema_error(client.post("/api/v1/auth/login", json={"email": "a@b", "password": "x"}))


def test_unknown_email_takes_as_long_as_wrong_password(make_client: Callable[..., TestClient[Any]]) -> None:
    """#26 over 7 attempts each, the median latency of an unknown email is at least half that of a
    wrong password: both run one bcrypt at the configured cost (10 here: a skipped check would still
    be a thousand times faster)."""
    client = make_client(PASSWORD_BCRYPT_COST="10")
    assert (
        client.post(
            "/api/v1/auth/register", json={"email": "timed@example.com", "password": "correct-horse"}
        ).status_code
        == 201
    )

    def timed_login(email: str) -> float:
        start = time.perf_counter()
        response = client.post("/api/v1/auth/login", json={"email": email, "password": "wrong-horse"})
        elapsed = time.perf_counter() - start
        assert response.status_code == 401 and response.json() == {"error": "Invalid credentials"}
        return elapsed

    # Interleaved, so a change in machine load affects both series alike. A skipped hash would be
    # orders of magnitude faster, so a few samples tell it apart.
    samples = [(timed_login("timed@example.com"), timed_login("nobody@example.com")) for _ in range(7)]
    wrong_password = statistics.median(s[0] for s in samples)
    unknown_email = statistics.median(s[1] for s in samples)
    assert unknown_email >= wrong_password / 2, (unknown_email, wrong_password)


def test_dummy_hash_is_a_cost_12_bcrypt_hash() -> None:
    """#26 the fixed dummy hash really costs what a real account's check costs."""
    from devflow.accounts.passwords import DUMMY_HASH, hash_password

    assert DUMMY_HASH.startswith(b"$2b$12$")
    assert hash_password("x" * 8).startswith("$2b$12$")
    assert bcrypt.checkpw(b"anything", DUMMY_HASH) is False


@pytest.mark.parametrize("cost", ["4", "7"])
def test_new_hashes_and_the_unknown_email_check_use_the_configured_cost(
    make_client: Callable[..., TestClient[Any]], db: sessionmaker[Session], cost: str
) -> None:
    """PASSWORD_BCRYPT_COST sets the cost of a registration's hash and of the dummy hash an unknown
    email is checked against; an account hashed at another cost still signs in."""
    from devflow.accounts.passwords import dummy_hash, hash_password

    with db.begin() as session:
        session.add(
            User(
                id=uuid.uuid4(),
                username="older",
                email="older@example.com",
                provider="password",
                provider_user_id="older@example.com",
                password_hash=hash_password("older-password", 5),
            )
        )
    client = make_client(PASSWORD_BCRYPT_COST=cost)
    body = {"email": "costly@example.com", "password": "pw-123456"}
    assert client.post("/api/v1/auth/register", json=body).status_code == 201
    with db() as session:
        stored = session.scalars(select(User.password_hash).where(User.email == "costly@example.com")).one()
    assert stored is not None and stored.startswith(f"$2b${int(cost):02d}$")
    assert dummy_hash(int(cost)).startswith(f"$2b${int(cost):02d}$".encode())
    assert client.post("/api/v1/auth/login", json=body).status_code == 200
    older = {"email": "older@example.com", "password": "older-password"}
    assert client.post("/api/v1/auth/login", json=older).status_code == 200
    assert client.post("/api/v1/auth/login", json={**older, "email": "nobody@example.com"}).status_code == 401


def test_me_with_each_credential(client: TestClient[Any], settings: Settings) -> None:
    """#30 Bearer JWT → exactly id/username/email/provider; #31 cookie only → 200; Bearer dvf_ → 200."""
    user = create_user(settings)
    for kwargs in ({"headers": user.jwt_headers}, {"headers": user.token_headers}):
        response = client.get("/api/v1/auth/me", **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 200
        assert response.json() == {
            "id": str(user.id),
            "username": f"u-{user.id.hex[:12]}",
            "email": user.email,
            "provider": "password",
        }
    client.cookies.set("session", user.jwt)
    response = client.get("/api/v1/auth/me")
    assert response.status_code == 200 and response.json()["id"] == str(user.id)


def _forged(claims: dict[str, Any], alg: str = "HS256", key: str = SECRET) -> str:
    return jwt.encode(claims, key, algorithm=alg)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_me_rejects_bad_credentials(client: TestClient[Any], settings: Settings) -> None:
    """#32 no credential, bad signature, expired, ``alg: none`` and HS512 JWTs → 401 (with CORS, #9)."""
    user = create_user(settings)
    now = int(time.time())
    claims = {"sub": str(user.id), "provider": "password", "iat": now, "exp": now + 3600}
    bad = [
        _forged(claims, key="another-secret-which-is-long-enough-xx"),
        _forged({**claims, "iat": now - 7200, "exp": now - 1}),
        f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        _forged(claims, alg="HS512"),
        _forged({**claims, "sub": "not-a-uuid"}),
    ]
    response = client.get("/api/v1/auth/me", headers={"Origin": ORIGIN})
    assert response.status_code == 401 and response.json() == {"error": "Unauthorized"}
    assert response.headers["access-control-allow-origin"] == ORIGIN
    for token in bad:
        response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
        assert response.json() == {"error": "Unauthorized"}


def test_jwt_with_future_iat_is_accepted_1_4(client: TestClient[Any], settings: Settings) -> None:
    """§1.4 validity is alg + signature + exp + sub: a replica whose clock lags the issuer's must
    still accept a just-issued token (iat a few seconds ahead)."""
    user = create_user(settings)
    now = int(time.time())
    token = _forged({"sub": str(user.id), "provider": "password", "iat": now + 5, "exp": now + 3600})
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_me_for_deleted_user(client: TestClient[Any], settings: Settings, db: sessionmaker[Session]) -> None:
    """#33 a valid JWT of a deleted user → 404 User not found."""
    user = create_user(settings)
    with db.begin() as session:
        session.execute(delete(User).where(User.id == user.id))
    response = client.get("/api/v1/auth/me", headers=user.jwt_headers)
    assert response.status_code == 404
    assert response.json() == {"error": "User not found"}


def test_credential_precedence(client: TestClient[Any], settings: Settings) -> None:
    """#34 ``Basic abc`` plus a valid cookie → 200 (cookie used); an invalid Bearer plus a valid
    cookie → 401 (the Bearer credential wins, valid or not)."""
    user = create_user(settings)
    client.cookies.set("session", user.jwt)
    assert client.get("/api/v1/auth/me", headers={"Authorization": "Basic abc"}).status_code == 200
    assert client.get("/api/v1/auth/me", headers={"Authorization": "Bearer xyz"}).status_code == 401
    assert client.get("/api/v1/auth/me", headers={"Authorization": "bearer " + user.jwt}).status_code == 200


def test_logout_clears_cookie_without_parsing_body(client: TestClient[Any]) -> None:
    """#36 logout without credentials, ``Content-Type: application/json`` and body ``{`` → 204,
    empty body, ``Set-Cookie: session=`` with Max-Age=0, Path=/ and HttpOnly."""
    response = client.post("/api/v1/auth/logout", content=b"{", headers={"Content-Type": "application/json"})
    assert response.status_code == 204
    assert response.content == b""
    first, attributes = _attributes(_cookie(response))
    assert first == "session="
    assert attributes == ["HttpOnly", "Path=/", "Max-Age=0", "SameSite=Lax"]


def test_auth_route_preflight_and_body_limit(client: TestClient[Any]) -> None:
    """#13 OPTIONS /auth/login from an allowed origin → 204 with the CORS grant; #14 from a
    disallowed origin → bare 204; #6 a 2 MiB login body → 413."""
    response = client.options(
        "/api/v1/auth/login",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "content-type" in response.headers["access-control-allow-headers"].lower()
    response = client.options("/api/v1/auth/login", headers={"Origin": "https://evil.example"})
    assert response.status_code == 204 and "access-control-allow-origin" not in response.headers

    body = json.dumps({"email": "user@example.com", "password": "x" * (2 * 1024 * 1024)})
    response = client.post("/api/v1/auth/login", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json() == {"error": "Payload too large"}


def test_get_on_post_only_auth_routes_is_405(client: TestClient[Any]) -> None:
    """Checklist #39.

    §1.1 static segments win: GET /auth/register, /login, /logout, /pairings → 405 with Allow."""
    for path in ("register", "login", "logout", "pairings"):
        response = client.get(f"/api/v1/auth/{path}")
        assert response.status_code == 405, path
        assert response.json() == {"error": "Method not allowed"}
        assert "POST" in response.headers["allow"]


def test_registered_password_is_hashed_with_bcrypt_cost_12(
    make_client: Callable[..., TestClient[Any]], db: sessionmaker[Session]
) -> None:
    """§3.2 step 6: by default, the stored hash is bcrypt cost 12 of the password (never the plaintext)."""
    client = make_client(PASSWORD_BCRYPT_COST="")  # unset: the production default
    response = client.post(
        "/api/v1/auth/register",
        json={"email": "Hash@Example.com", "password": "correct-horse", "username": "hash-user"},
    )
    assert response.status_code == 201
    assert response.json()["user"]["username"] == "hash-user"
    with db() as session:
        user = session.scalars(select(User).where(User.provider_user_id == "hash@example.com")).one()
    assert user.password_hash is not None and user.password_hash.startswith("$2b$12$")
    assert bcrypt.checkpw(b"correct-horse", user.password_hash.encode())
