"""The built-in pages through the real app (Litestar's test client, real database): the pairing page of
checklist #131, where sign-in may lead (``next``), cross-site request forgery, HTML errors outside
``/api/v1`` (JSON inside, unchanged), the shared login limits, and the forms' error states."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from devflow.accounts.credentials import issue_jwt
from devflow.config import Settings
from tests.insights.support import add_recommendation
from tests.support.accounts import create_user

PASSWORD = "pw-12345678"
HTML = "text/html; charset=utf-8"
CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')


def csrf_token(client: TestClient[Any], path: str = "/login") -> str:
    """The form token a GET of ``path`` renders (and whose cookie it sets)."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = CSRF_FIELD.search(page.text)
    assert match is not None, "the page has no CSRF field"
    return match.group(1)


def register(client: TestClient[Any], email: str | None = None) -> str:
    """A password account through the API; the client keeps its session cookie."""
    email = email or f"web-{uuid.uuid4().hex[:8]}@example.com"
    response = client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return email


def sign_in(client: TestClient[Any], email: str, password: str = PASSWORD, next_target: str = "") -> Any:
    """The sign-in form, posted as a browser would (no redirect followed)."""
    form = {"_csrf_token": csrf_token(client), "email": email, "password": password, "next": next_target}
    return client.post("/login", data=form, follow_redirects=False)


def test_checklist_131_pairing_page_on_a_standalone_install(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    """#131: FRONTEND_URL unset, PORT=3000 → verification_uri is the service's own page, which is
    200 HTML: logged out it leads to a sign-in that returns to it, logged in it offers to approve."""
    client = make_client(PORT="3000")
    email = register(client)
    client.post("/api/v1/auth/logout")
    client.cookies.clear()
    created = client.post("/api/v1/auth/pairings").json()
    assert created["verification_uri"] == "http://localhost:3000/extension/pair"
    code = created["user_code"]

    page = client.get(f"/extension/pair?code={code.lower()}", follow_redirects=False)
    assert page.status_code == 200 and page.headers["content-type"] == HTML
    assert code in page.text and 'action="/login"' in page.text
    assert f'name="next" value="/extension/pair?code={code}"' in page.text

    signed_in = sign_in(client, email, next_target=f"/extension/pair?code={code}")
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == f"/extension/pair?code={code}"
    assert "session=" in signed_in.headers["set-cookie"]

    page = client.get(signed_in.headers["location"])
    assert page.status_code == 200 and page.headers["content-type"] == HTML
    assert "Connect this editor?" in page.text and "VS Code extension" in page.text
    assert 'name="decision" value="approve"' in page.text and f'name="code" value="{code}"' in page.text


def test_the_extension_flow_with_approval_on_the_page(client: TestClient[Any]) -> None:
    """Approve on the page → the extension's next exchange collects the token; again → already used."""
    register(client)
    created = client.post("/api/v1/auth/pairings").json()
    form = {"_csrf_token": csrf_token(client), "code": created["user_code"].lower(), "decision": "approve"}
    approved = client.post("/extension/pair", data=form)
    assert approved.status_code == 200 and "Editor connected" in approved.text
    exchanged = client.post(f"/api/v1/auth/pairings/{created['pairing_id']}/exchange").json()
    assert exchanged["status"] == "approved" and exchanged["token"].startswith("dvf_")
    again = client.post("/extension/pair", data=form)
    assert again.status_code == 409 and "Code already used" in again.text
    assert "Code already used" in client.get(f"/extension/pair?code={created['user_code']}").text


def test_deny_ends_the_pairing_as_expired(client: TestClient[Any]) -> None:
    """Deny: the exchange answers 410 expired, the code can no longer be approved, the page says so."""
    register(client)
    created = client.post("/api/v1/auth/pairings").json()
    form = {"_csrf_token": csrf_token(client), "code": created["user_code"], "decision": "deny"}
    denied = client.post("/extension/pair", data=form)
    assert denied.status_code == 200 and "Request denied" in denied.text
    exchange = client.post(f"/api/v1/auth/pairings/{created['pairing_id']}/exchange")
    assert exchange.status_code == 410 and exchange.json() == {"status": "expired"}
    approve = client.post(f"/api/v1/auth/pairings/{created['user_code']}/approve")
    assert approve.status_code in {404, 410}  # expired, and the exchange above cleaned the row up
    assert "Unknown code" in client.get(f"/extension/pair?code={created['user_code']}").text
    second = client.post("/api/v1/auth/pairings").json()
    client.post("/extension/pair", data={**form, "code": second["user_code"]})
    assert "Code expired" in client.get(f"/extension/pair?code={second['user_code']}").text
    with_nothing = client.post("/extension/pair", data={**form, "code": second["user_code"], "decision": "x"})
    assert with_nothing.status_code == 400 and with_nothing.headers["content-type"] == HTML


def test_unknown_and_malformed_codes_are_said_plainly(client: TestClient[Any]) -> None:
    register(client)
    unknown = client.get("/extension/pair?code=BCDF-GHJK")
    assert unknown.status_code == 200 and "Unknown code" in unknown.text
    hostile = client.get("/extension/pair", params={"code": "<script>alert(1)</script>"})
    assert "Unknown code" in hostile.text and "<script>alert" not in hostile.text
    assert "&lt;SCRIPT&gt;" in hostile.text  # upper-cased like a code, and escaped
    empty = client.get("/extension/pair")
    assert empty.status_code == 200 and 'name="code"' in empty.text and "Enter the code" in empty.text


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/extension/pair?code=BCDF-GHJK", "/extension/pair?code=BCDF-GHJK"),
        ("/settings#tokens", "/settings#tokens"),
        ("/%2F%2Fevil.example", "/%2F%2Fevil.example"),  # a path on this site, not a host
        ("//evil.example/x", "/dashboard"),
        ("https://evil.example/", "/dashboard"),
        ("/\\evil.example", "/dashboard"),
        ("\\\\evil.example", "/dashboard"),
        ("/\t/evil.example", "/dashboard"),
        ("/\n/evil.example", "/dashboard"),
        ("javascript:alert(1)", "/dashboard"),
        ("/caf\u00e9", "/dashboard"),
        ("", "/dashboard"),
    ],
)
def test_sign_in_returns_only_to_a_path_on_this_site(
    module_client: TestClient[Any], target: str, location: str
) -> None:
    client = module_client  # one app for the table of targets; each case is a new account
    client.cookies.clear()
    email = register(client)
    client.cookies.clear()
    response = sign_in(client, email, next_target=target)
    assert response.status_code == 303
    assert response.headers["location"] == location


def test_a_signed_in_visitor_of_the_sign_in_page_goes_on(client: TestClient[Any]) -> None:
    register(client)
    assert (
        client.get("/login?next=//evil.example", follow_redirects=False).headers["location"] == "/dashboard"
    )
    assert client.get("/register?next=/settings", follow_redirects=False).headers["location"] == "/settings"
    assert client.get("/", follow_redirects=False).headers["location"] == "/dashboard"


def test_forms_need_the_csrf_token_and_the_api_does_not(client: TestClient[Any]) -> None:
    email = register(client)
    client.cookies.clear()
    no_token = client.post("/login", data={"email": email, "password": PASSWORD}, follow_redirects=False)
    assert no_token.status_code == 403 and no_token.headers["content-type"] == HTML
    assert "session=" not in no_token.headers.get("set-cookie", "")
    token = csrf_token(client)
    client.cookies.delete("csrftoken")
    cookieless = client.post("/login", data={"_csrf_token": token, "email": email, "password": PASSWORD})
    assert cookieless.status_code == 403
    forged = {"_csrf_token": token[:-4] + "0000", "email": email, "password": PASSWORD}
    client.get("/login")
    assert client.post("/login", data=forged).status_code == 403
    # The JSON API (dashboard SPA, extension) sends no CSRF token and gets no CSRF cookie.
    api = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert api.status_code == 200
    assert "csrftoken" not in api.headers.get("set-cookie", "")
    assert "set-cookie" not in client.get("/api/v1/health").headers


def test_cross_site_cookie_writes_are_refused_as_a_page(client: TestClient[Any]) -> None:
    """The edge gate's §1.6 check answers an HTML page outside the API and the contract's JSON inside."""
    register(client)
    token = csrf_token(client, "/settings")
    foreign = {"Origin": "https://evil.example"}
    page = client.post("/settings/tokens", data={"_csrf_token": token, "name": "x"}, headers=foreign)
    assert page.status_code == 403 and page.headers["content-type"] == HTML and "Not allowed" in page.text
    api = client.post("/api/v1/auth/tokens", json={"name": "x"}, headers=foreign)
    assert api.status_code == 403 and api.json() == {"error": "Forbidden"}
    assert api.headers["content-type"] == "application/json"
    same_site = client.post(
        "/settings/tokens",
        data={"_csrf_token": token, "name": "ok"},
        headers={"Origin": "http://testserver.local"},
    )
    assert same_site.status_code == 201 and "Token “ok” created" in same_site.text


def test_errors_are_pages_outside_the_api_and_json_inside(client: TestClient[Any]) -> None:
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and missing.headers["content-type"] == HTML
    assert "Page not found" in missing.text and "<!doctype html>" in missing.text
    assert client.get("/api/v1/no-such-route").json() == {"error": "Not found"}
    wrong_method = client.put("/login")
    assert wrong_method.status_code == 405 and wrong_method.headers["content-type"] == HTML
    assert "POST" in wrong_method.headers["allow"]
    api_method = client.put("/api/v1/auth/me")
    assert api_method.status_code == 405 and api_method.json() == {"error": "Method not allowed"}
    head = client.head("/")
    assert head.status_code == 200 and head.content == b""


def test_wrong_credentials_say_nothing_about_the_email(client: TestClient[Any]) -> None:
    email = register(client)
    client.cookies.clear()
    wrong_password = sign_in(client, email, "not-the-password")
    unknown_email = sign_in(client, "nobody-" + email, "not-the-password")
    assert wrong_password.status_code == unknown_email.status_code == 400

    def message(text: str) -> str:
        found = re.search(r'id="form-message">([^<]*)<', text)
        assert found is not None
        return found.group(1)

    assert message(wrong_password.text) == message(unknown_email.text)
    assert "session=" not in wrong_password.headers.get("set-cookie", "")
    bad_format = sign_in(client, "not-an-email", "x")
    assert bad_format.status_code == 400 and "Enter an email address" in bad_format.text


def test_page_and_api_logins_share_the_rate_limit(make_client: Callable[..., TestClient[Any]]) -> None:
    """The pages count attempts in the API's limiter (per IP and per email, AUTH_RATE_LIMIT_PER_MINUTE)."""
    client = make_client(AUTH_RATE_LIMIT_PER_MINUTE="2")
    email = "limited@example.com"
    assert sign_in(client, email, "wrong-password").status_code == 400
    assert sign_in(client, email, "wrong-password").status_code == 400
    api = client.post("/api/v1/auth/login", json={"email": email, "password": "wrong-password"})
    assert api.status_code == 429
    page = sign_in(client, email, "wrong-password")
    assert page.status_code == 429 and int(page.headers["retry-after"]) >= 1
    assert "Too many attempts" in page.text and page.headers["content-type"] == HTML


def test_sign_up_errors(client: TestClient[Any]) -> None:
    token = csrf_token(client, "/register")
    short = client.post(
        "/register", data={"_csrf_token": token, "email": "a@example.com", "password": "short"}
    )
    assert short.status_code == 400 and "at least 8 characters" in short.text
    assert 'value="a@example.com"' in short.text  # the email is kept
    email = register(client)
    client.cookies.clear()
    token = csrf_token(client, "/register")
    taken = client.post("/register", data={"_csrf_token": token, "email": email, "password": PASSWORD})
    assert taken.status_code == 400 and "could not create an account" in taken.text
    assert "already registered" not in taken.text.lower()
    created = client.post(
        "/register",
        data={"_csrf_token": token, "email": "NEW@example.com", "password": PASSWORD, "next": "/settings"},
        follow_redirects=False,
    )
    assert created.status_code == 303 and created.headers["location"] == "/settings"
    assert client.get("/settings").status_code == 200


def test_signed_out_pages_lead_to_sign_in_and_back(client: TestClient[Any]) -> None:
    dashboard = client.get("/dashboard?range=30d", follow_redirects=False)
    assert dashboard.status_code == 303
    assert dashboard.headers["location"] == "/login?next=%2Fdashboard%3Frange%3D30d"
    assert client.get("/dashboard", follow_redirects=False).headers["location"] == "/login"
    assert client.get("/settings", follow_redirects=False).headers["location"] == "/login?next=%2Fsettings"


def test_only_a_session_jwt_of_a_living_user_signs_pages_in(
    client: TestClient[Any], settings: Settings
) -> None:
    user = create_user(settings)
    client.cookies.set("session", user.token)  # an API token is not a page session
    assert client.get("/dashboard", follow_redirects=False).status_code == 303
    client.cookies.set("session", user.jwt)
    assert client.get("/dashboard", follow_redirects=False).status_code == 200
    client.cookies.set("session", issue_jwt(settings.jwt_secret, uuid.uuid4(), "password"))  # no such user
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_dashboard_range_problems(client: TestClient[Any]) -> None:
    register(client)
    reversed_range = client.get("/dashboard?range=custom&from=2026-05-10&to=2026-05-01")
    assert reversed_range.status_code == 400 and "must not be after the end date" in reversed_range.text
    too_long = client.get("/dashboard?range=custom&from=2024-01-01&to=2026-01-01")
    assert too_long.status_code == 400 and "at most 366 days" in too_long.text
    missing = client.get("/dashboard?range=custom&from=2026-05-10")
    assert missing.status_code == 400 and "Choose a start and an end date" in missing.text
    fine = client.get("/dashboard?range=custom&from=2026-05-01&to=2026-05-03")
    assert fine.status_code == 200 and fine.text.count('<tr><th scope="row">2026-05-0') == 3
    unknown_preset = client.get("/dashboard?range=forever")
    assert unknown_preset.status_code == 200 and 'aria-current="true">7 days' in unknown_preset.text


def test_recommendation_answers_are_checked(client: TestClient[Any], settings: Settings) -> None:
    register(client)
    me = client.get("/api/v1/auth/me").json()
    mine = add_recommendation(settings, uuid.UUID(me["id"]), created_ago=timedelta(minutes=1))
    other = add_recommendation(settings, create_user(settings).id, created_ago=timedelta(minutes=1))
    token = csrf_token(client, "/dashboard")
    for bad_id in ("abc", "0", "99999999999999999999", "-1"):
        response = client.post(
            f"/dashboard/recommendations/{bad_id}", data={"_csrf_token": token, "action": "accepted"}
        )
        assert response.status_code == 404 and response.headers["content-type"] == HTML, bad_id
    foreign = client.post(
        f"/dashboard/recommendations/{other}", data={"_csrf_token": token, "action": "accepted"}
    )
    assert foreign.status_code == 403 and foreign.headers["content-type"] == HTML
    invalid = client.post(
        f"/dashboard/recommendations/{mine}", data={"_csrf_token": token, "action": "maybe"}
    )
    assert invalid.status_code == 400
    answered = client.post(
        f"/dashboard/recommendations/{mine}",
        data={"_csrf_token": token, "action": "snoozed", "range": "30d"},
        follow_redirects=False,
    )
    assert answered.status_code == 303
    assert answered.headers["location"] == f"/dashboard?range=30d#recommendation-{mine}"
    twice = client.post(
        f"/dashboard/recommendations/{mine}",
        data={"_csrf_token": token, "action": "accepted"},
        follow_redirects=False,
    )
    assert twice.status_code == 303  # already answered: back to the page, which shows the first answer
    listed = client.get("/api/v1/recommendations").json()["recommendations"]
    assert [r["user_action"] for r in listed if r["id"] == mine] == ["snoozed"]


def test_token_form_problems(client: TestClient[Any]) -> None:
    register(client)
    token = csrf_token(client, "/settings")
    blank = client.post("/settings/tokens", data={"_csrf_token": token, "name": "   "})
    assert blank.status_code == 400 and "1 to 64 characters" in blank.text
    missing = client.post(f"/settings/tokens/{uuid.uuid4()}/revoke", data={"_csrf_token": token})
    assert missing.status_code == 404 and missing.headers["content-type"] == HTML
    garbage = client.post("/settings/tokens/not-a-uuid/revoke", data={"_csrf_token": token})
    assert garbage.status_code == 404


def test_pages_forbid_framing_and_caching(client: TestClient[Any]) -> None:
    register(client)
    page = client.get("/extension/pair?code=BCDF-GHJK")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    stylesheet = re.search(r'href="(/static/style\.css\?v=[0-9a-f]+)"', page.text)
    assert stylesheet is not None
    css = client.get(stylesheet.group(1))
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "max-age=31536000" in css.headers["cache-control"]
    assert "prefers-color-scheme: dark" in css.text


def test_sign_in_offers_the_configured_oauth_providers(make_client: Callable[..., TestClient[Any]]) -> None:
    plain = make_client()
    assert "/api/v1/auth/" not in plain.get("/login").text
    with_github = make_client(
        GITHUB_CLIENT_ID="id", GITHUB_CLIENT_SECRET="secret", OAUTH_CALLBACK_BASE_URL="http://localhost:3000"
    )
    for path in ("/login", "/register"):
        page = with_github.get(path).text
        assert 'href="/api/v1/auth/github"' in page and "/api/v1/auth/google" not in page
