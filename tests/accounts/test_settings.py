"""``GET/PATCH /api/v1/me/settings`` (issue 16): time zone and the user's own path-privacy mode."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from litestar.testing import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from devflow.accounts import user_time_zone
from devflow.accounts.models import User
from devflow.config import Settings
from tests.support.accounts import create_user


def test_settings_defaults_and_time_zone_round_trip(
    client: TestClient[Any], settings: Settings, db: sessionmaker[Session]
) -> None:
    user = create_user(settings)
    response = client.get("/api/v1/me/settings", headers=user.token_headers)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "time_zone": None,
        "path_privacy": None,
        "server_path_privacy": "keep",
        "effective_path_privacy": "keep",
    }
    response = client.patch(
        "/api/v1/me/settings", json={"time_zone": "Europe/Paris"}, headers=user.jwt_headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["time_zone"] == "Europe/Paris"
    assert user_time_zone(db, user.id) == "Europe/Paris"
    # An absent field stays; null clears.
    response = client.patch("/api/v1/me/settings", json={"path_privacy": "hash"}, headers=user.jwt_headers)
    assert response.json()["time_zone"] == "Europe/Paris"
    assert response.json()["effective_path_privacy"] == "hash"
    response = client.patch("/api/v1/me/settings", json={"time_zone": None}, headers=user.jwt_headers)
    assert response.json()["time_zone"] is None
    assert user_time_zone(db, user.id) is None


def test_settings_bad_input_is_400(client: TestClient[Any], settings: Settings) -> None:
    user = create_user(settings)
    for body in (
        {"time_zone": "Mars/Olympus"},
        {"time_zone": "../../etc/passwd"},
        {"time_zone": "/etc/localtime"},
        {"time_zone": ""},
        {"time_zone": 5},
        {"path_privacy": "shred"},
        {"colour": "blue"},
        [],
    ):
        response = client.patch("/api/v1/me/settings", json=body, headers=user.jwt_headers)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"] == "Validation failed"
    response = client.patch(
        "/api/v1/me/settings", content=b"{", headers={**user.jwt_headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["error"] == "Invalid JSON"
    assert client.get("/api/v1/me/settings").status_code == 401


def test_user_mode_may_only_be_stricter_than_the_servers(
    make_client: Callable[..., TestClient[Any]], settings: Settings
) -> None:
    """keep < redact-home < hash: with PATH_PRIVACY=redact-home, keep is refused, hash accepted."""
    user = create_user(settings)
    client = make_client(PATH_PRIVACY="redact-home")
    response = client.patch("/api/v1/me/settings", json={"path_privacy": "keep"}, headers=user.jwt_headers)
    assert response.status_code == 400
    assert "less strict" in response.json()["message"]
    body = client.get("/api/v1/me/settings", headers=user.jwt_headers).json()
    assert body["effective_path_privacy"] == "redact-home"
    response = client.patch("/api/v1/me/settings", json={"path_privacy": "hash"}, headers=user.jwt_headers)
    assert response.status_code == 200 and response.json()["effective_path_privacy"] == "hash"
    response = client.patch(
        "/api/v1/me/settings", json={"path_privacy": "redact-home"}, headers=user.jwt_headers
    )
    assert response.status_code == 200 and response.json()["path_privacy"] == "redact-home"


def test_stored_zone_read_waits_for_no_writer(settings: Settings, db: sessionmaker[Session]) -> None:
    """Every metrics read without ``tz`` reads the stored zone: on SQLite it must not queue on the
    write lock that every other transaction takes (``BEGIN IMMEDIATE``)."""
    user = create_user(settings)
    with db.begin() as writer:  # holds the database's write lock until the end of the block
        writer.execute(update(User).where(User.id == user.id).values(time_zone="Europe/Paris"))
        started = time.monotonic()
        assert user_time_zone(db, user.id) is None  # the committed value, not the writer's
        assert time.monotonic() - started < 5  # a write-locking read would wait 30 s, then fail
    assert user_time_zone(db, user.id) == "Europe/Paris"
