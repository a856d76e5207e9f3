"""Contract 1.1: client input that must never cause a 500, and what the newest clients read
(checklist #4, #121-#125, #127-#129, #133; #126 is in tests/telemetry, #130 in tests/test_config)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jwt
import pytest
from litestar.testing import TestClient

from devflow.config import Settings
from devflow.insights.pipeline import DEMO_CODE_CONTEXT
from tests.insights.support import add_recommendation, add_session
from tests.metrics.events import send
from tests.support.accounts import create_user
from tests.telemetry.payloads import vector_events

JSON = {"Content-Type": "application/json"}
ALLOWED = "http://localhost:5173"
FOREIGN = "https://evil.example"


def _json_routes(user: Any) -> list[tuple[str, dict[str, str]]]:
    """Every route that parses a JSON body, with the credential it needs."""
    return [
        ("/api/v1/auth/login", {}),
        ("/api/v1/auth/register", {}),
        ("/api/v1/auth/tokens", user.jwt_headers),
        ("/api/v1/recommendations/trigger", user.jwt_headers),
        ("/api/v1/recommendations/1/action", user.token_headers),
        ("/api/v1/telemetry", user.token_headers),
    ]


def test_head_is_served_wherever_get_is_121(client: TestClient[Any], settings: Settings) -> None:
    """#121: HEAD → the GET's status and headers, no body; uptime probes and metrics with a JWT."""
    user = create_user(settings)
    get = client.get("/api/v1/health")
    head = client.head("/api/v1/health")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == get.headers["content-length"]
    url = "/api/v1/metrics/churn?from=2026-05-01&to=2026-05-07"
    head = client.head(url, headers=user.jwt_headers)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(client.get(url, headers=user.jwt_headers).content)
    assert client.head(url).status_code == 401  # the same checks as the GET
    refused = client.head("/api/v1/telemetry")  # no GET there: no HEAD either
    assert refused.status_code == 405 and "POST" in refused.headers["allow"]
    wrong = client.post("/api/v1/health")
    assert wrong.status_code == 405 and {"GET", "HEAD"} <= {
        m.strip() for m in wrong.headers["allow"].split(",")
    }


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"email":"a@b.co","password":"x\xffy"}', id="invalid-utf8-in-a-string"),
        pytest.param(b'{"email\xc3":"a@b.co"}', id="truncated-utf8-in-a-key"),
        pytest.param(b'{"pad":"\xed\xa0\x80","email":"a@b.co"}', id="utf8-encoded-surrogate"),
        pytest.param(b"[" * 65 + b"]" * 65, id="nested-65"),
        pytest.param(b'{"a":' + b"[" * 64 + b"]" * 64 + b"}", id="object-and-64-arrays"),
        pytest.param(b"[" * 65, id="65-open-brackets"),
        pytest.param(b"[" * 2000 + b"]" * 2000, id="nested-2000"),
        pytest.param(b'{"a":' * 2000 + b"1" + b"}" * 2000, id="objects-2000"),
    ],
)
def test_invalid_utf8_and_deep_nesting_are_invalid_json_on_every_route(
    module_client: TestClient[Any], module_settings: Settings, body: bytes
) -> None:
    """#122/#123: never a 500, always ``400 {"error":"Invalid JSON"}`` (one app for the table of
    bodies, a new user for each)."""
    client = module_client
    user = create_user(module_settings)
    for path, credential in _json_routes(user):
        response = client.post(path, content=body, headers={**JSON, **credential})
        assert response.status_code == 400, (path, response.text)
        assert response.json() == {"error": "Invalid JSON"}, path


def test_invalid_utf8_inside_one_telemetry_event_is_invalid_json(
    client: TestClient[Any], settings: Settings
) -> None:
    """Checklist #122."""
    user = create_user(settings)
    event = vector_events("file_save")[0]
    good = b'{"events":[' + _encode(event) + b"," + _encode(event).replace(b'"acme', b'"\xffacme', 1) + b"]}"
    response = client.post("/api/v1/telemetry", content=good, headers={**JSON, **user.token_headers})
    assert response.status_code == 400 and response.json() == {"error": "Invalid JSON"}


def test_64_levels_are_still_json(client: TestClient[Any], settings: Settings) -> None:
    """The limit is exactly 64: body, events and event are 3 levels, so 61 arrays more are accepted
    (an unknown key, kept) and 62 are not."""
    user = create_user(settings)
    event = vector_events("file_save")[0]
    for arrays, status in ((61, 202), (62, 400)):
        deep = _encode(event)[:-1] + b',"extra":' + b"[" * arrays + b"]" * arrays + b"}"
        body = b'{"events":[' + deep + b"]}"
        response = client.post("/api/v1/telemetry", content=body, headers={**JSON, **user.token_headers})
        assert response.status_code == status, arrays


def _encode(value: Any) -> bytes:
    import json

    return json.dumps(value, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    "timestamp",
    ["0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00", "9999-12-31T23:59:59.9999Z"],
)
def test_timestamps_beyond_years_1_to_9999_are_invalid_per_event(
    client: TestClient[Any], settings: Settings, timestamp: str
) -> None:
    """#124: the batch is 202 and only the middle event is rejected; resending gives the same."""
    user = create_user(settings)
    events = vector_events("file_save")[:1] * 3
    events = [dict(e) for e in events]
    events[1]["timestamp"] = timestamp
    for _ in range(2):
        body = send(client, user, events)
        assert body["accepted_count"] == 2
        assert body["rejected"] == [{"index": 1, "reason": "invalid_timestamp"}]


def test_year_1_itself_is_a_valid_instant(client: TestClient[Any], settings: Settings) -> None:
    """Checklist #124.

    The lower bound is inclusive: 0001-01-01T00:30:00-01:00 is 01:30 UTC on day one, accepted."""
    user = create_user(settings)
    event = dict(vector_events("file_save")[0])
    event["timestamp"] = "0001-01-01T00:30:00-01:00"
    body = send(client, user, [event])
    assert body["accepted_count"] == 1 and body["rejected"] == []


def test_unpaired_surrogate_escape_is_decoded_as_replacement_character(
    client: TestClient[Any], settings: Settings
) -> None:
    """#125: ``"src/\\ud800x.ts"`` → accepted, stored with U+FFFD; a proper pair stays an emoji."""
    user = create_user(settings)
    event = vector_events("file_save")[0]
    lone = _encode({**event, "file": {**event["file"], "path": "PLACEHOLDER"}}).replace(
        b"PLACEHOLDER", b"src/\\ud800x.ts"
    )
    pair = _encode({**event, "file": {**event["file"], "path": "PLACEHOLDER"}}).replace(
        b"PLACEHOLDER", b"src/\\ud83d\\ude00.ts"
    )
    body = b'{"events":[' + lone + b"," + pair + b"]}"
    response = client.post("/api/v1/telemetry", content=body, headers={**JSON, **user.token_headers})
    assert response.status_code == 202, response.text
    assert response.json()["accepted_count"] == 2
    assert sorted(_stored_paths(client)) == sorted(["src/\U0001f600.ts", "src/\ufffdx.ts"])


def _stored_paths(client: TestClient[Any]) -> list[str]:
    from tests.telemetry.test_ingest import lake_sql

    return [row[0] for row in lake_sql(client, "SELECT file_path FROM events_all ORDER BY file_path")]


def _jwt(settings: Settings, claims: dict[str, Any]) -> dict[str, str]:
    token = jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


def test_jwt_claims_of_the_wrong_type_are_401(client: TestClient[Any], settings: Settings) -> None:
    """#127: a correctly signed JWT whose exp is a string or whose sub is a number → 401, never 500."""
    user = create_user(settings)
    good = {
        "sub": str(user.id),
        "provider": "password",
        "iat": int(time.time()),
        "exp": int(time.time()) + 60,
    }
    assert client.get("/api/v1/auth/me", headers=_jwt(settings, good)).status_code == 200
    for bad in (
        {**good, "exp": "1796369999"},
        {**good, "exp": str(good["exp"])},
        {**good, "sub": 5},
        {**good, "sub": [str(user.id)]},
        {**good, "exp": True},
        {**good, "iat": "yesterday"},
        {**good, "provider": 7},
    ):
        for path in ("/api/v1/auth/me", "/api/v1/metrics/churn?from=2026-05-01&to=2026-05-01"):
            response = client.get(path, headers=_jwt(settings, bad))
            assert response.status_code == 401, (bad, path)
            assert response.json() == {"error": "Unauthorized"}


def test_database_outage_with_an_api_token_is_503(make_client: Callable[..., TestClient[Any]]) -> None:
    """#128: the token lookup cannot reach the database → 503 with Retry-After, never 500 or 401."""
    client = make_client(DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:1/nothing?connect_timeout=2")
    token = {"Authorization": "Bearer dvf_" + "A" * 43}
    event = vector_events("file_save")[0]
    for method, path, body in (
        ("POST", "/api/v1/telemetry", {"events": [event]}),
        ("GET", "/api/v1/recommendations/pending", None),
        ("GET", "/api/v1/auth/me", None),
    ):
        response = client.request(method, path, json=body, headers={**token, "Origin": ALLOWED})
        assert response.status_code == 503, (path, response.text)
        assert response.json() == {"error": "Service unavailable"}
        assert int(response.headers["retry-after"]) > 0
        assert response.headers["access-control-allow-origin"] == ALLOWED


def test_items_carry_the_evidence_of_their_code_context(client: TestClient[Any], settings: Settings) -> None:
    """#129: ``evidence`` is code_context.evidence when it is an array of {metric, value}, else []."""
    user = create_user(settings)
    cited = [{"metric": "lines_deleted", "value": 50}, {"metric": "top_file", "value": "src/a.ts"}]
    for context, expected in (
        ({"evidence": cited}, cited),
        (
            {"evidence": [{"metric": "churn_ratio", "value": None}]},
            [{"metric": "churn_ratio", "value": None}],
        ),
        ({"evidence": "lines_deleted=50"}, []),
        ({"evidence": [{"metric": 5, "value": 1}]}, []),
        ({"evidence": [{"metric": "x", "value": {"nested": 1}}]}, []),
        ({"evidence": [7]}, []),
        ({}, []),
    ):
        add_recommendation(
            settings, user.id, created_ago=timedelta(minutes=1), code_context={"reasoning": "r", **context}
        )
        pending = client.get("/api/v1/recommendations/pending", headers=user.token_headers).json()
        assert pending["recommendation"]["evidence"] == expected, context
        rec_id = pending["recommendation"]["id"]
        acted = client.post(
            f"/api/v1/recommendations/{rec_id}/action", json={"action": "dismissed"}, headers=user.jwt_headers
        )
        assert acted.status_code == 200


def test_demo_recommendation_carries_its_four_pairs(client: TestClient[Any], settings: Settings) -> None:
    """Checklist #129."""
    user = create_user(settings)
    add_session(settings, user.id, minutes=30)
    assert (
        client.post(
            "/api/v1/recommendations/trigger", json={"mode": "demo"}, headers=user.jwt_headers
        ).json()["skipped"]
        is False
    )
    item = client.get("/api/v1/recommendations/pending", headers=user.token_headers).json()["recommendation"]
    assert item["evidence"] == DEMO_CODE_CONTEXT["evidence"]
    assert len(item["evidence"]) == 4


def _approve(client: TestClient[Any], code: str, headers: dict[str, str]) -> Any:
    return client.post(f"/api/v1/auth/pairings/{code}/approve", headers=headers)


def _cookie(user: Any) -> dict[str, str]:
    return {"Cookie": f"session={user.jwt}"}


def test_cookie_authenticated_writes_from_a_foreign_origin_are_refused(
    make_client: Callable[..., TestClient[Any]], settings: Settings
) -> None:
    """#133: the pairing stays pending for a foreign Origin; allowed, absent and Bearer pass."""
    client = make_client(CORS_ALLOWED_ORIGINS="https://dash.example.com")
    user = create_user(settings)

    def new_pairing() -> tuple[str, str]:
        created = client.post("/api/v1/auth/pairings").json()
        return created["user_code"], created["pairing_id"]

    code, pairing_id = new_pairing()
    for origin in (FOREIGN, "null", "https://dash.example.com.evil.example", "http://dash.example.com"):
        refused = _approve(client, code, {**_cookie(user), "Origin": origin})
        assert refused.status_code == 403, origin
        assert refused.json() == {"error": "Forbidden"}
    assert client.post(f"/api/v1/auth/pairings/{pairing_id}/exchange").json() == {"status": "pending"}

    assert _approve(client, code, {**_cookie(user), "Origin": "https://dash.example.com"}).status_code == 200
    code, _ = new_pairing()
    assert _approve(client, code, _cookie(user)).status_code == 200  # no Origin: not a browser page
    code, _ = new_pairing()
    bearer = {**user.jwt_headers, "Origin": FOREIGN}
    assert _approve(client, code, bearer).status_code == 200  # a Bearer credential cannot be forged
    code, _ = new_pairing()
    # Same origin: the built-in pages post to the Host they were served from.
    assert _approve(client, code, {**_cookie(user), "Origin": "http://testserver.local"}).status_code == 200


def test_logout_from_a_foreign_origin_keeps_the_cookie(
    make_client: Callable[..., TestClient[Any]], settings: Settings
) -> None:
    """Checklist #133."""
    client = make_client(CORS_ALLOWED_ORIGINS="https://dash.example.com")
    user = create_user(settings)
    refused = client.post("/api/v1/auth/logout", headers={**_cookie(user), "Origin": FOREIGN})
    assert refused.status_code == 403 and "set-cookie" not in refused.headers
    allowed = client.post(
        "/api/v1/auth/logout", headers={**_cookie(user), "Origin": "https://dash.example.com"}
    )
    assert allowed.status_code == 204 and "Max-Age=0" in allowed.headers["set-cookie"]


def test_credential_free_routes_and_public_url_are_unaffected(
    make_client: Callable[..., TestClient[Any]], settings: Settings
) -> None:
    """Checklist #133.

    Login and register carry no credential; PUBLIC_URL's origin counts as the service's own."""
    client = make_client(
        CORS_ALLOWED_ORIGINS="https://dash.example.com", PUBLIC_URL="https://devflow.example"
    )
    user = create_user(settings)
    email = f"csrf-{uuid.uuid4().hex[:8]}@example.com"
    registered = client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": "correct-horse"},
        headers={**_cookie(user), "Origin": FOREIGN},
    )
    assert registered.status_code == 201
    code = client.post("/api/v1/auth/pairings").json()["user_code"]
    own = {**_cookie(user), "Origin": "https://devflow.example"}
    assert _approve(client, code, own).status_code == 200
    # Safe methods are never refused (a cross-site GET cannot change anything).
    assert client.get("/api/v1/auth/me", headers={**_cookie(user), "Origin": FOREIGN}).status_code == 200


def test_trailing_slash_telemetry_is_the_same_route(client: TestClient[Any], settings: Settings) -> None:
    """#4 (corrected in 1.1): ``POST /telemetry/`` → 202 like ``/telemetry``; ``//telemetry`` → 404."""
    user = create_user(settings)
    event = vector_events("file_save")[0]
    resp = client.post("/api/v1/telemetry/", json={"events": [event]}, headers=user.token_headers)
    assert resp.status_code == 202 and resp.json()["accepted_count"] == 1
    resp = client.post("/api/v1//telemetry", json={"events": [event]}, headers=user.token_headers)
    assert resp.status_code == 404 and resp.json() == {"error": "Not found"}
