"""OAuth Google and GitHub (contract §3.3): checklist items 37–47.

The provider is a real HTTP server on 127.0.0.1 (``fake_provider.py``): the service's token
request must carry the PKCE verifier matching the challenge it put in the authorize URL, or the
fake refuses the code. The browser's visit to the authorize page is the only step skipped: the
test reads ``state`` and ``code_challenge`` from the service's 302 and grants a code itself.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
from litestar.testing import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from devflow.accounts.models import OAuthState, User
from tests.accounts.fake_provider import FakeProvider

SECRET = "test-secret-which-is-long-enough-for-hs256"
GOOGLE_PROFILE = {"sub": "109876543210987654321", "email": "dev@example.com", "name": "Dev Person"}
GITHUB_PROFILE = {"id": 4242, "login": "octodev", "email": "dev@example.com"}
INVALID_STATE = {"error": "Invalid or expired state"}


def _start(client: TestClient[Any], provider: str, **query: str) -> dict[str, str]:
    response = client.get(f"/api/v1/auth/{provider}", params=query, follow_redirects=False)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    return {"location": location, **params}


def _callback(client: TestClient[Any], provider: str, **query: str) -> Any:
    return client.get(f"/api/v1/auth/{provider}/callback", params=query, follow_redirects=False)


def _login(
    client: TestClient[Any],
    fake: FakeProvider,
    provider: str,
    profile: dict[str, Any],
    emails: list[dict[str, Any]] | None = None,
    **query: str,
) -> Any:
    started = _start(client, provider, **query)
    code = f"code-{uuid.uuid4().hex[:8]}"
    fake.grant(code, started["code_challenge"], profile, emails)
    return _callback(client, provider, code=code, state=started["state"])


def _jwt_claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, SECRET, algorithms=["HS256"]))


def _session_cookie(response: Any) -> str:
    (cookie,) = response.headers.get_list("set-cookie")
    value = str(cookie).split(";", 1)[0]
    assert value.startswith("session=")
    return value.removeprefix("session=")


def test_google_start_redirects_to_authorize_url(
    make_client: Callable[..., TestClient[Any]], fake_provider: FakeProvider, db: sessionmaker[Session]
) -> None:
    """#37 GET /auth/google → 302 to Google's authorize URL with client_id, the callback
    redirect_uri, response_type=code, the scope, state, code_challenge and S256; the state is a
    22-char base64url value stored with a 43-char verifier whose S256 is the challenge."""
    client = make_client(**fake_provider.env())
    started = _start(client, "google", display="popup")
    assert started["location"].startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    assert started["client_id"] == "google-client"
    assert started["redirect_uri"] == "http://api.example.test/api/v1/auth/google/callback"
    assert started["response_type"] == "code"
    assert started["scope"] == "openid email profile"
    assert started["code_challenge_method"] == "S256"
    assert len(started["state"]) == 22
    with db() as session:
        row = session.get(OAuthState, started["state"])
    assert row is not None and row.provider == "google" and row.client_type == "web"
    assert len(row.code_verifier) == 43
    from devflow.accounts.oauth import pkce_challenge

    assert pkce_challenge(row.code_verifier) == started["code_challenge"]


def test_github_start_uses_github_scope(
    make_client: Callable[..., TestClient[Any]], fake_provider: FakeProvider
) -> None:
    """#38 GET /auth/github → 302 to GitHub's authorize URL with scope ``read:user user:email``."""
    client = make_client(**fake_provider.env())
    started = _start(client, "github", client_type="vscode")
    assert started["location"].startswith("https://github.com/login/oauth/authorize?")
    assert started["scope"] == "read:user user:email"
    assert started["client_id"] == "github-client"


def test_unsupported_provider_and_static_routes(client: TestClient[Any]) -> None:
    """#39 GET /auth/facebook → 400 Unsupported provider (start and callback); GET /auth/register → 405."""
    assert client.get("/api/v1/auth/facebook").json() == {"error": "Unsupported provider"}
    assert client.get("/api/v1/auth/facebook").status_code == 400
    response = _callback(client, "facebook", code="x", state="y")
    assert response.status_code == 400 and response.json() == {"error": "Unsupported provider"}
    assert client.get("/api/v1/auth/register").status_code == 405


def test_unconfigured_provider_is_503(
    make_client: Callable[..., TestClient[Any]], fake_provider: FakeProvider
) -> None:
    """#40 GOOGLE_CLIENT_ID unset → 503 Provider not configured; so is a vscode login without
    VSCODE_DEEPLINK, and a missing OAUTH_CALLBACK_BASE_URL."""
    env = fake_provider.env()
    for overrides in (
        {"GOOGLE_CLIENT_ID": ""},
        {"GOOGLE_CLIENT_SECRET": ""},
        {"OAUTH_CALLBACK_BASE_URL": ""},
    ):
        client = make_client(**{**env, **overrides})
        response = client.get("/api/v1/auth/google", follow_redirects=False)
        assert response.status_code == 503 and response.json() == {"error": "Provider not configured"}
    client = make_client(**{**env, "VSCODE_DEEPLINK": ""})
    response = client.get("/api/v1/auth/github", params={"client_type": "vscode"}, follow_redirects=False)
    assert response.status_code == 503 and response.json() == {"error": "Provider not configured"}
    assert client.get("/api/v1/auth/github", follow_redirects=False).status_code == 302  # web still works


def test_provider_error_keeps_state(
    make_client: Callable[..., TestClient[Any]], fake_provider: FakeProvider
) -> None:
    """#41 callback ``?error=access_denied&state=S`` → 400 Provider error with the code; S is
    still accepted once afterwards."""
    client = make_client(**fake_provider.env())
    started = _start(client, "google")
    response = _callback(client, "google", error="access_denied", state=started["state"])
    assert response.status_code == 400
    assert response.json() == {"error": "Provider error", "code": "access_denied"}
    fake_provider.grant("c1", started["code_challenge"], GOOGLE_PROFILE)
    assert _callback(client, "google", code="c1", state=started["state"]).status_code == 302


def test_invalid_states(
    make_client: Callable[..., TestClient[Any]], fake_provider: FakeProvider, db: sessionmaker[Session]
) -> None:
    """#42 unknown state, a replayed state, a state older than 5 minutes, no state → 400 Invalid
    or expired state; a consumed state is never accepted again even with a good code."""
    client = make_client(**fake_provider.env())
    assert _callback(client, "google", code="x", state="unknown-state").json() == INVALID_STATE
    assert _callback(client, "google", code="x").json() == INVALID_STATE

    started = _start(client, "google")
    fake_provider.grant("c1", started["code_challenge"], GOOGLE_PROFILE)
    assert _callback(client, "google", code="c1", state=started["state"]).status_code == 302
    fake_provider.grant("c2", started["code_challenge"], GOOGLE_PROFILE)
    response = _callback(client, "google", code="c2", state=started["state"])
    assert response.status_code == 400 and response.json() == INVALID_STATE

    old = _start(client, "google")
    with db.begin() as session:
        session.execute(
            update(OAuthState)
            .where(OAuthState.state == old["state"])
            .values(created_at=datetime.now(UTC) - timedelta(minutes=5, seconds=1))
        )
    fake_provider.grant("c3", old["code_challenge"], GOOGLE_PROFILE)
    response = _callback(client, "google", code="c3", state=old["state"])
    assert response.status_code == 400 and response.json() == INVALID_STATE


def test_state_of_other_provider_is_consumed(
    make_client: Callable[..., TestClient[Any]], fake_provider: FakeProvider
) -> None:
    """#43 a Google state used on /auth/github/callback → 400, and it is then consumed for Google too."""
    client = make_client(**fake_provider.env())
    started = _start(client, "google")
    response = _callback(client, "github", code="x", state=started["state"])
    assert response.status_code == 400 and response.json() == INVALID_STATE
    fake_provider.grant("c1", started["code_challenge"], GOOGLE_PROFILE)
    response = _callback(client, "google", code="c1", state=started["state"])
    assert response.status_code == 400 and response.json() == INVALID_STATE


def test_missing_code_after_state_check(
    make_client: Callable[..., TestClient[Any]], fake_provider: FakeProvider
) -> None:
    """§3.3 step 4: a valid state without ``code`` → 400 Missing code (and the state is used up)."""
    client = make_client(**fake_provider.env())
    started = _start(client, "github")
    response = _callback(client, "github", state=started["state"], code="")
    assert response.status_code == 400 and response.json() == {"error": "Missing code"}
    assert _callback(client, "github", state=started["state"], code="x").json() == INVALID_STATE


def test_login_completes_on_another_replica(
    make_client: Callable[..., TestClient[Any]], fake_provider: FakeProvider
) -> None:
    """#44 start on replica A, finish on replica B (another app instance on the same database) → success."""
    replica_a = make_client(**fake_provider.env())
    replica_b = make_client(**fake_provider.env())
    started = _start(replica_a, "google")
    fake_provider.grant("c1", started["code_challenge"], GOOGLE_PROFILE)
    response = _callback(replica_b, "google", code="c1", state=started["state"])
    assert response.status_code == 302


def test_web_and_vscode_redirects(
    make_client: Callable[..., TestClient[Any]], fake_provider: FakeProvider
) -> None:
    """#45 web → Set-Cookie session (dev attributes) and 302 to WEB_APP_URL; vscode → 302 to
    ``<VSCODE_DEEPLINK>?token=<jwt>`` with no Set-Cookie. The JWT's provider is the route's."""
    client = make_client(**fake_provider.env())
    response = _login(client, fake_provider, "google", GOOGLE_PROFILE)
    assert response.status_code == 302
    assert response.headers["location"] == "http://app.example.test/dashboard"
    cookie = response.headers["set-cookie"]
    assert cookie.endswith("; HttpOnly; Path=/; Max-Age=604800; SameSite=Lax")
    claims = _jwt_claims(_session_cookie(response))
    assert claims["provider"] == "google"
    assert client.get("/api/v1/auth/me", cookies={"session": _session_cookie(response)}).json() == {
        "id": claims["sub"],
        "username": "Dev Person",
        "email": "dev@example.com",
        "provider": "google",
    }

    response = _login(client, fake_provider, "github", GITHUB_PROFILE, client_type="vscode")
    assert response.status_code == 302
    assert "set-cookie" not in response.headers
    location = response.headers["location"]
    assert location.startswith("vscode://devflow.devflow/auth?token=")
    token = unquote(location.split("?token=", 1)[1])
    assert _jwt_claims(token)["provider"] == "github"


def test_same_account_same_user_other_provider_other_user(
    make_client: Callable[..., TestClient[Any]], fake_provider: FakeProvider, db: sessionmaker[Session]
) -> None:
    """#46 a second login with the same provider account → the same user id; the same email through
    the other provider → a different user (no linking by email)."""
    client = make_client(**fake_provider.env())

    def user_id(provider: str, profile: dict[str, Any]) -> str:
        response = _login(client, fake_provider, provider, profile)
        assert response.status_code == 302, response.text
        return str(_jwt_claims(_session_cookie(response))["sub"])

    first = user_id("google", GOOGLE_PROFILE)
    assert user_id("google", {**GOOGLE_PROFILE, "name": "Renamed"}) == first
    other = user_id("github", GITHUB_PROFILE)
    assert other != first
    with db() as session:
        users = {u.provider: u for u in session.scalars(select(User))}
    assert users["google"].provider_user_id == GOOGLE_PROFILE["sub"]
    assert users["google"].username == "Dev Person"  # reused unchanged, not renamed
    assert users["github"].provider_user_id == "4242" and users["github"].username == "octodev"
    assert users["github"].password_hash is None


def test_provider_failures_are_502(
    make_client: Callable[..., TestClient[Any]], fake_provider: FakeProvider
) -> None:
    """#47 the token endpoint answering 500 → 502 Provider request failed; also a token answer without
    access_token, a refused code (wrong PKCE verifier), and an unreachable provider."""
    client = make_client(**fake_provider.env())
    fake_provider.token_status = 500
    response = _login(client, fake_provider, "google", GOOGLE_PROFILE)
    assert response.status_code == 502 and response.json() == {"error": "Provider request failed"}
    fake_provider.token_status = 200
    fake_provider.omit_access_token = True
    assert _login(client, fake_provider, "github", GITHUB_PROFILE).status_code == 502
    fake_provider.omit_access_token = False

    started = _start(client, "google")
    fake_provider.grant("c1", "not-the-challenge", GOOGLE_PROFILE)
    assert _callback(client, "google", code="c1", state=started["state"]).status_code == 502

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    dead = make_client(
        **{**fake_provider.env(), "OAUTH_GOOGLE_TOKEN_URL": f"http://127.0.0.1:{dead_port}/token"}
    )
    started = _start(dead, "google")
    response = _callback(dead, "google", code="c1", state=started["state"])
    assert response.status_code == 502 and response.json() == {"error": "Provider request failed"}


def test_provider_requests_are_well_formed(
    make_client: Callable[..., TestClient[Any]], fake_provider: FakeProvider
) -> None:
    """§3.3 step 5: the token request is form-encoded with client id/secret, code, redirect_uri,
    grant_type and code_verifier, Accept JSON; profile requests send Bearer, Accept and User-Agent."""
    client = make_client(**fake_provider.env())
    assert _login(client, fake_provider, "google", GOOGLE_PROFILE).status_code == 302
    (request,) = fake_provider.token_requests
    assert request["client_id"] == "google-client" and request["client_secret"] == "google-secret"
    assert request["grant_type"] == "authorization_code"
    assert request["redirect_uri"] == "http://api.example.test/api/v1/auth/google/callback"
    assert len(request["code_verifier"]) == 43 and request["_accept"] == "application/json"
    (profile,) = fake_provider.profile_requests
    assert profile["authorization"].startswith("Bearer at-")
    assert profile["accept"] == "application/json" and profile["user_agent"] == "devflow-backend"


def test_github_email_and_username_fallbacks(
    make_client: Callable[..., TestClient[Any]], fake_provider: FakeProvider, db: sessionmaker[Session]
) -> None:
    """§3.3 GitHub without a public email → the first primary+verified /user/emails entry, else the
    first verified one, else null; no login → ``github-<id>``. Google without name → local part."""
    client = make_client(**fake_provider.env())
    cases: list[tuple[str, dict[str, Any], list[dict[str, Any]] | None]] = [
        (
            "github",
            {"id": 1, "login": "one", "email": None},
            [
                {"email": "unverified@x.com", "primary": True, "verified": False},
                {"email": "verified@x.com", "primary": False, "verified": True},
                {"email": "primary@x.com", "primary": True, "verified": True},
            ],
        ),
        ("github", {"id": 2, "login": "two"}, [{"email": "v2@x.com", "primary": False, "verified": True}]),
        ("github", {"id": 3}, [{"email": "nope@x.com", "primary": True, "verified": False}]),
        ("google", {"sub": "abcdefghijkl", "email": "local.part@x.com"}, None),
        ("google", {"sub": "zyxwvutsrqpo"}, None),
    ]
    for provider, profile, emails in cases:
        assert _login(client, fake_provider, provider, profile, emails).status_code == 302
    with db() as session:
        found = {
            (u.provider, u.provider_user_id): (u.email, u.username) for u in session.scalars(select(User))
        }
    assert found == {
        ("github", "1"): ("primary@x.com", "one"),
        ("github", "2"): ("v2@x.com", "two"),
        ("github", "3"): (None, "github-3"),
        ("google", "abcdefghijkl"): ("local.part@x.com", "local.part"),
        ("google", "zyxwvutsrqpo"): (None, "google-zyxwvuts"),
    }
