"""Bad input on account routes always gets a clear 4xx JSON error, never a 500 (contract §1.3, and
the issue's "never a 500"). NUL characters matter on PostgreSQL, whose text columns reject them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.testing import TestClient

from devflow.config import Settings
from tests.accounts.fake_provider import FakeProvider
from tests.accounts.test_oauth import _callback, _login, _start
from tests.support.accounts import create_user


def _is_clear_4xx(response: Any) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body.get("error") or body.get("status"), str)


def test_odd_bodies_and_paths_are_4xx_1_3(client: TestClient[Any], settings: Settings) -> None:
    """Wrongly typed values, NULs in stored strings, non-JSON content types, odd path parameters."""
    user = create_user(settings)
    valid = {"email": "odd@example.com", "password": "correct-horse"}
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/api/v1/auth/register", {"json": {**valid, "username": "ab\u0000cd"}}),
        ("POST", "/api/v1/auth/register", {"json": {**valid, "username": None}}),
        ("POST", "/api/v1/auth/register", {"json": {"email": 5, "password": ["x"]}}),
        (
            "POST",
            "/api/v1/auth/register",
            {"content": b"null", "headers": {"Content-Type": "application/json"}},
        ),
        (
            "POST",
            "/api/v1/auth/register",
            {"content": b'{"email":"a@b.co"}', "headers": {"Content-Type": "text/plain"}},
        ),
        (
            "POST",
            "/api/v1/auth/register",
            {"content": b"\xff\xfe", "headers": {"Content-Type": "application/json"}},
        ),
        (
            "POST",
            "/api/v1/auth/register",
            {"content": b'{"email":"\\ud800"}', "headers": {"Content-Type": "application/json"}},
        ),
        ("POST", "/api/v1/auth/login", {"json": {"email": "odd@example.com\u0000", "password": "x"}}),
        ("POST", "/api/v1/auth/login", {"json": {"email": "odd@example.com", "password": None}}),
        ("POST", "/api/v1/auth/tokens", {"json": {"name": "a\u0000b"}, "headers": user.jwt_headers}),
        ("DELETE", "/api/v1/auth/tokens/%00", {"headers": user.jwt_headers}),
        ("DELETE", "/api/v1/auth/tokens/" + "9" * 400, {"headers": user.jwt_headers}),
        ("POST", "/api/v1/auth/pairings/%00%00%00%00-%00%00%00%00/approve", {"headers": user.jwt_headers}),
        ("POST", "/api/v1/auth/pairings/" + "B" * 300 + "/approve", {"headers": user.jwt_headers}),
        ("POST", "/api/v1/auth/pairings/%F0%9F%98%80/exchange", {}),
        ("POST", "/api/v1/auth/pairings/" + "a" * 500 + "/exchange", {}),
        ("GET", "/api/v1/auth/google/callback?state=%00&code=x", {}),
        ("GET", "/api/v1/auth/github/callback?state=" + "s" * 2000 + "&code=x", {}),
        ("GET", "/api/v1/auth/%00", {}),
    ]
    for method, path, kwargs in requests:
        _is_clear_4xx(client.request(method, path, **kwargs))


def test_odd_provider_profiles_never_500(
    make_client: Callable[..., TestClient[Any]], fake_provider: FakeProvider
) -> None:
    """Contract §3.3.

    A profile with NULs in the name is stored without them; an unusable account id is a 502."""
    client = make_client(**fake_provider.env())
    response = _login(
        client, fake_provider, "google", {"sub": "nul-name-1", "name": "Nul\u0000Name", "email": "a\u0000"}
    )
    assert response.status_code == 302
    me = client.get("/api/v1/auth/me").json()
    assert me["username"] == "NulName" and me["email"] == "a"
    for profile in ({"sub": "bad\u0000sub"}, {"sub": "x" * 400}, {"sub": 12}, {"name": "no sub"}):
        assert _login(client, fake_provider, "google", profile).status_code == 502
    for profile in ({"id": True}, {"id": 1.5}, {"login": "no-id"}):
        assert _login(client, fake_provider, "github", profile).status_code == 502
    started = _start(client, "google")
    assert _callback(client, "google", state=started["state"], code="x", error="").json() == {
        "error": "Provider error",
        "code": "",
    }
