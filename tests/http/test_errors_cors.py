"""Contract §1.1, §1.3, §1.6: error shapes and CORS on every response (checklist 1–4, 8–14)."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

ALLOWED = "http://localhost:5173"
OTHER = "http://evil.example"


def assert_cors(resp: Any, allowed: bool) -> None:
    assert "Origin" in resp.headers.get("vary", "")
    if allowed:
        assert resp.headers["access-control-allow-origin"] == ALLOWED
        assert resp.headers["access-control-allow-credentials"] == "true"
    else:
        assert "access-control-allow-origin" not in resp.headers
        assert "access-control-allow-credentials" not in resp.headers


def test_health(client: TestClient[Any]) -> None:
    """Checklist #1."""
    resp = client.get("/api/v1/health")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}


def test_unknown_path_is_json_404(client: TestClient[Any]) -> None:
    """Checklist #2."""
    for origin, allowed in ((ALLOWED, True), (OTHER, False)):
        resp = client.get("/api/v1/nope", headers={"Origin": origin})
        assert resp.status_code == 404
        assert resp.headers["content-type"].startswith("application/json")
        assert resp.json() == {"error": "Not found"}
        assert_cors(resp, allowed)


def test_method_not_allowed_has_allow_header(client: TestClient[Any]) -> None:
    """Checklist #3."""
    for origin, allowed in ((ALLOWED, True), (OTHER, False)):
        resp = client.post("/api/v1/health", headers={"Origin": origin})
        assert resp.status_code == 405
        assert resp.json() == {"error": "Method not allowed"}
        assert "GET" in resp.headers["allow"]
        assert_cors(resp, allowed)


def test_trailing_slash_is_same_route_and_double_slash_is_404(client: TestClient[Any]) -> None:
    resp = client.get("/api/v1/health/", follow_redirects=False)
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}
    resp = client.get("/api/v1/health//", follow_redirects=False)
    assert resp.status_code == 404
    assert resp.json() == {"error": "Not found"}


def test_preflight_allowed_origin(client: TestClient[Any]) -> None:
    """Checklist #13."""
    resp = client.options(
        "/api/v1/auth/login",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert resp.status_code == 204
    assert resp.content == b""
    assert_cors(resp, True)
    assert "POST" in resp.headers["access-control-allow-methods"]
    assert "content-type" in resp.headers["access-control-allow-headers"].lower()


def test_preflight_without_requested_headers_defaults(client: TestClient[Any]) -> None:
    resp = client.options("/api/v1/whatever/path", headers={"Origin": ALLOWED})
    assert resp.status_code == 204
    assert resp.headers["access-control-allow-headers"] == "Content-Type, Authorization"


def test_preflight_disallowed_origin_is_bare_204(client: TestClient[Any]) -> None:
    """Checklist #14."""
    resp = client.options("/api/v1/auth/login", headers={"Origin": OTHER})
    assert resp.status_code == 204
    assert_cors(resp, False)
    assert "access-control-allow-methods" not in resp.headers


def test_no_origin_processed_normally(client: TestClient[Any]) -> None:
    """Checklist #12."""
    resp = client.get("/api/v1/health")
    assert resp.status_code == 200
    assert "access-control-allow-origin" not in resp.headers
    assert resp.headers["vary"] == "Origin"
