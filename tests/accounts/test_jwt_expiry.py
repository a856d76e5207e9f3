"""A JWT is refused once its ``exp`` has passed, also after the process has verified it before (the
authenticator remembers verified tokens and then checks only their expiry)."""

from __future__ import annotations

import time
from typing import Any

from litestar.testing import TestClient

from devflow.accounts.credentials import JWT_TTL_SECONDS, issue_jwt
from devflow.config import Settings
from tests.support.accounts import create_user


def test_a_remembered_jwt_expires(client: TestClient[Any], settings: Settings) -> None:
    user = create_user(settings)
    expires_at = int(time.time()) + 2
    token = issue_jwt(settings.jwt_secret, user.id, "password", now=expires_at - JWT_TTL_SECONDS)
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(2):  # the second answer comes from the remembered verification
        response = client.get("/api/v1/me/settings", headers=headers)
        assert response.status_code == 200, response.text
    time.sleep(max(0.0, expires_at - time.time()) + 0.05)
    response = client.get("/api/v1/me/settings", headers=headers)
    assert response.status_code == 401, response.text
    # A token signed with another secret is refused, whatever was remembered for the valid one.
    forged = issue_jwt("another-secret-that-is-long-enough-for-hs256", user.id, "password")
    assert client.get("/api/v1/me/settings", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
