"""Login/register rate limits (contract §1.8): checklist items 28 and 29, the client-IP rules,
the sliding window and its bounded storage.

Litestar's test client connects from the peer ``testclient`` (not an IP address, so neither
loopback nor private): the per-IP limit applies to it as to a public client. The loopback case
(per-IP limit skipped without TRUST_PROXY) runs against the real server in
``test_server_flows.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Request
from litestar.testing import TestClient
from sqlalchemy.orm import Session, sessionmaker

from devflow.accounts.ratelimit import AuthRateLimiter, limiter_key
from devflow.config import Settings, warn_if_proxy_unconfigured
from devflow.http.clients import client_ip, is_loopback_or_private
from tests.accounts.conftest import insert_password_user

TOO_MANY = {"error": "Too many requests"}


def _login(client: TestClient[Any], email: str, forwarded_for: str | None = None) -> Any:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post(
        "/api/v1/auth/login", json={"email": email, "password": "wrong-horse"}, headers=headers
    )


def test_eleventh_attempt_from_one_ip_is_refused(
    make_client: Callable[..., TestClient[Any]], db: sessionmaker[Session]
) -> None:
    """#28 with AUTH_RATE_LIMIT_PER_MINUTE=10 the 11th login attempt from one IP within 60 s → 429,
    whatever the emails and outcomes; register shares the bucket; 429 carries Retry-After."""
    client = make_client(AUTH_RATE_LIMIT_PER_MINUTE="10")
    for index in range(10):
        insert_password_user(db, f"ip{index}@example.com", "correct-horse")
    outcomes = [_login(client, f"ip{index}@example.com").status_code for index in range(10)]
    assert outcomes == [401] * 10
    response = _login(client, "ip0@example.com")
    assert response.status_code == 429 and response.json() == TOO_MANY
    assert 1 <= int(response.headers["retry-after"]) <= 60
    # The per-IP check comes first (before the body is even read) and covers register too.
    response = client.post(
        "/api/v1/auth/register", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 429


def test_per_ip_limit_with_trusted_proxy(
    make_client: Callable[..., TestClient[Any]], db: sessionmaker[Session]
) -> None:
    """#28 behind one trusted proxy: the client is the rightmost X-Forwarded-For entry; entries the
    client adds itself (further left) do not give it a fresh bucket."""
    client = make_client(AUTH_RATE_LIMIT_PER_MINUTE="10", TRUST_PROXY="1")
    for index in range(11):
        insert_password_user(db, f"proxy{index}@example.com", "correct-horse")
    for index in range(10):
        forged = f"198.51.100.{index}, 203.0.113.7"
        assert _login(client, f"proxy{index}@example.com", forged).status_code == 401
    assert _login(client, "proxy10@example.com", "203.0.113.7").status_code == 429
    assert _login(client, "proxy10@example.com", "203.0.113.8").status_code == 401


def test_per_email_and_per_ip_limits(
    make_client: Callable[..., TestClient[Any]], db: sessionmaker[Session]
) -> None:
    """#29 with TRUST_PROXY=1: 11 attempts for one email from 11 addresses → the 11th gets 429
    (per-email, normalised); from one address with 11 emails → the 11th gets 429 (per-IP)."""
    client = make_client(AUTH_RATE_LIMIT_PER_MINUTE="10", TRUST_PROXY="1")
    insert_password_user(db, "target@example.com", "correct-horse")
    for index in range(10):
        email = "target@example.com" if index % 2 else "TARGET@Example.com"
        assert _login(client, email, f"192.0.2.{index}").status_code == 401
    response = _login(client, "target@example.com", "192.0.2.200")
    assert response.status_code == 429 and response.json() == TOO_MANY
    # Per-email applies to register too (after the schema check).
    response = client.post(
        "/api/v1/auth/register",
        json={"email": "target@example.com", "password": "correct-horse"},
        headers={"X-Forwarded-For": "192.0.2.201"},
    )
    assert response.status_code == 429

    for index in range(11):
        insert_password_user(db, f"spray{index}@example.com", "correct-horse")
    outcomes = [
        _login(client, f"spray{index}@example.com", "203.0.113.50").status_code for index in range(11)
    ]
    assert outcomes == [401] * 10 + [429]


def test_limit_zero_disables_both_limits(
    make_client: Callable[..., TestClient[Any]], db: sessionmaker[Session]
) -> None:
    """§1.8 AUTH_RATE_LIMIT_PER_MINUTE=0 disables login/register limiting entirely."""
    client = make_client(AUTH_RATE_LIMIT_PER_MINUTE="0")
    insert_password_user(db, "free@example.com", "correct-horse")
    assert {_login(client, "free@example.com").status_code for _ in range(15)} == {401}


def test_sliding_window_and_bounded_storage_1_8(db: sessionmaker[Session]) -> None:
    """§1.8 a sliding 60 s window: slots free up one by one as attempts age out; refused attempts
    are not stored, and rows that left the window are deleted (storage stays bounded)."""
    limiter = AuthRateLimiter(db, limit=3)
    key = limiter_key("email", "a@example.com")
    start = datetime.now(UTC)
    for offset in (0, 10, 20):
        assert limiter.attempt(key, start + timedelta(seconds=offset)) is None
    retry_after = limiter.attempt(key, start + timedelta(seconds=30))
    assert retry_after == 30  # the attempt at t=0 leaves the window at t=60
    for second in range(31, 60):
        assert limiter.attempt(key, start + timedelta(seconds=second)) is not None
    assert limiter.live_rows() == 3
    assert limiter.attempt(key, start + timedelta(seconds=60)) is None  # t=0 has left the window
    assert limiter.attempt(key, start + timedelta(seconds=61)) is not None
    assert limiter.live_rows() == 3
    # Keys that are never seen again are purged by the periodic table-wide sweep.
    other = AuthRateLimiter(db, limit=3)
    assert other.attempt(limiter_key("ip", "192.0.2.1"), start + timedelta(seconds=200)) is None
    assert other.live_rows() == 1


def test_limiter_keys_hold_nothing_personal_1_8() -> None:
    """Limiter keys are digests: no email or IP in clear, fixed length within the column."""
    key = limiter_key("email", "someone@example.com")
    assert "someone" not in key and len(key) <= 128
    assert key == limiter_key("email", "someone@example.com") != limiter_key("ip", "someone@example.com")


def _request(peer: str | None, forwarded: list[str] | None = None) -> Request[Any, Any, Any]:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded or []]
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": headers,
        "client": (peer, 1234) if peer else None,
        "query_string": b"",
    }
    return Request(scope)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("peer", "forwarded", "trust", "expected"),
    [
        ("203.0.113.9", None, None, "203.0.113.9"),
        ("203.0.113.9", ["1.2.3.4"], None, "203.0.113.9"),  # XFF ignored without TRUST_PROXY
        ("127.0.0.1", None, None, None),  # loopback peer: per-IP limit skipped
        ("10.1.2.3", None, None, None),
        ("172.20.0.5", None, None, None),
        ("192.168.1.1", None, None, None),
        ("::1", None, None, None),
        ("fd00::1", None, None, None),
        ("::ffff:192.168.0.1", None, None, None),
        ("172.32.0.1", None, None, "172.32.0.1"),  # just outside 172.16/12
        ("127.0.0.1", ["9.9.9.9, 5.5.5.5"], 1, "5.5.5.5"),
        ("127.0.0.1", ["9.9.9.9, 5.5.5.5"], 2, "9.9.9.9"),
        ("127.0.0.1", ["9.9.9.9", "5.5.5.5, 6.6.6.6"], 2, "5.5.5.5"),  # several headers form one list
        ("127.0.0.1", ["5.5.5.5"], 3, "5.5.5.5"),  # fewer entries than proxies: the leftmost
        ("127.0.0.1", None, 1, "127.0.0.1"),  # no header: the peer
    ],
)
def test_client_ip_rules_1_8(
    peer: str, forwarded: list[str] | None, trust: int | None, expected: str | None
) -> None:
    """§1.8 client IP: the peer; with TRUST_PROXY=n the n-th X-Forwarded-For entry from the right;
    without TRUST_PROXY a loopback or private (RFC 1918 / 4193) peer skips the per-IP limit."""
    assert client_ip(_request(peer, forwarded), trust) == expected


def test_private_ranges_1_8() -> None:
    assert is_loopback_or_private("127.8.9.10") and is_loopback_or_private("fc12::7")
    assert not is_loopback_or_private("8.8.8.8") and not is_loopback_or_private("testclient")
    assert not is_loopback_or_private("100.64.0.1")  # carrier-grade NAT is not RFC 1918


def test_startup_warning_only_without_trust_proxy_1_8(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    """§1.8 one warning at start-up when TRUST_PROXY is unset (and limiting is on); none otherwise."""
    with caplog.at_level(logging.WARNING, logger="devflow.config"):
        warn_if_proxy_unconfigured(make_settings(AUTH_RATE_LIMIT_PER_MINUTE="10"))
        warn_if_proxy_unconfigured(make_settings(AUTH_RATE_LIMIT_PER_MINUTE="10", TRUST_PROXY="true"))
        warn_if_proxy_unconfigured(make_settings(AUTH_RATE_LIMIT_PER_MINUTE="0"))
    messages = [r.getMessage() for r in caplog.records if r.name == "devflow.config"]
    assert len(messages) == 1 and "TRUST_PROXY is unset" in messages[0]
