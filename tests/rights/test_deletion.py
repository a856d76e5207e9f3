"""Account deletion (issue 16): DELETE /me and ``devflow users delete`` reach every lake row of the
user, leave everybody else's rows as they were, and finish after a SIGKILL at any step."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from devflow.accounts import issue_jwt
from devflow.config import Settings
from devflow.db.engine import make_engine
from devflow.lake.spool.writer import Append
from devflow.models import Base
from devflow.rights.deletion import FAULT_ENV, FAULT_POINTS
from devflow.telemetry.arrow import fingerprint, spool_events_columns, spool_table, typed_struct
from devflow.telemetry.schema import EVENTS_DIR
from tests.accounts.conftest import insert_password_user
from tests.conftest import BASE_ENV
from tests.rights.conftest import TwoUserLake, build_two_user_lake, lake_content, lake_rows
from tests.support.accounts import create_user
from tests.support.lake import services_of
from tests.support.server import ServerProcess
from tests.telemetry.payloads import all_vector_events


def _db_rows_of(settings: Settings, user_id: str) -> dict[str, int]:
    engine = make_engine(settings.database_url)
    found: dict[str, int] = {}
    try:
        with engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                if table.name == "account_deletions":
                    continue
                column = "id" if table.name == "users" else "user_id"
                if column not in table.c:
                    continue
                n = conn.execute(
                    text(f"SELECT count(*) FROM {table.name} WHERE {column} = :u"),  # noqa: S608 - metadata names
                    {"u": user_id if engine.dialect.name == "postgresql" else user_id.replace("-", "")},
                ).scalar_one()
                found[table.name] = int(n)
    finally:
        engine.dispose()
    return found


def _assert_erased(world: TwoUserLake, other_before: dict[str, list[tuple[object, ...]]]) -> None:
    victim = str(world.victim.id)
    rows = lake_rows(world.lake, victim)
    assert {"events", "quarantine", "metrics_daily"} <= set(rows)
    assert all(n == 0 for n in rows.values()), rows
    assert lake_content(world.lake, str(world.other.id)) == other_before
    assert all(n == 0 for n in _db_rows_of(world.settings, victim).values())


def test_delete_me_erases_the_lake_and_revokes_tokens(
    make_client: Callable[..., TestClient[Any]], settings: Settings
) -> None:
    world = build_two_user_lake(settings)
    before = lake_rows(world.lake, str(world.victim.id))
    assert before["events"] > 0 and before["quarantine"] == 2 and before["metrics_daily"] > 0
    other_before = lake_content(world.lake, str(world.other.id))
    client = make_client()
    victim = world.victim
    # API tokens may not delete an account; a schema-breaking body is 400.
    assert client.delete("/api/v1/me", headers=victim.token_headers).status_code == 403
    response = client.request("DELETE", "/api/v1/me", json={"password": 5}, headers=victim.jwt_headers)
    assert response.status_code == 400
    # create_user's account has no usable password: a wrong one is 401 and nothing happens.
    response = client.request(
        "DELETE", "/api/v1/me", json={"password": "nope-nope"}, headers=victim.jwt_headers
    )
    assert response.status_code == 401
    assert lake_rows(world.lake, str(victim.id)) == before
    assert client.get("/api/v1/auth/me", headers=victim.token_headers).status_code == 200
    engine = make_engine(settings.database_url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE users SET password_hash = :h WHERE email = :e"),
            {"h": bcrypt.hashpw(b"right password", bcrypt.gensalt(4)).decode(), "e": victim.email},
        )
    engine.dispose()
    response = client.request(
        "DELETE", "/api/v1/me", json={"password": "right password"}, headers=victim.jwt_headers
    )
    assert response.status_code == 204, response.text
    _assert_erased(world, other_before)
    assert client.get("/api/v1/auth/me", headers=victim.token_headers).status_code == 401


def test_password_account_deletes_itself_and_its_editor_gets_401(
    make_client: Callable[..., TestClient[Any]], settings: Settings
) -> None:
    world = build_two_user_lake(settings)
    other_before = lake_content(world.lake, str(world.other.id))
    client = make_client()
    services = services_of(client)
    user = insert_password_user(services.db, "leaver@example.com", "correct horse")
    jwt = issue_jwt(services.settings.jwt_secret, user.id, "password")
    token = client.post(
        "/api/v1/auth/tokens", json={"name": "editor"}, headers={"Authorization": f"Bearer {jwt}"}
    )
    editor = {"Authorization": f"Bearer {token.json()['token']}"}
    # The victim of the shared lake signs in with a password too: give it one through the same path.
    response = client.request(
        "DELETE", "/api/v1/me", json={"password": "correct horse"}, headers={"Authorization": f"Bearer {jwt}"}
    )
    assert response.status_code == 204, response.text
    assert client.get("/api/v1/auth/me", headers=editor).status_code == 401
    assert client.post("/api/v1/telemetry", json={"events": []}, headers=editor).status_code == 401
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {jwt}"}).status_code in (401, 404)
    assert lake_content(world.lake, str(world.other.id)) == other_before


def test_oauth_account_needs_a_fresh_sign_in(
    make_client: Callable[..., TestClient[Any]], settings: Settings
) -> None:
    client = make_client(DELETION_FRESH_SIGNIN_MINUTES="10")
    services = services_of(client)
    user = create_user(settings)
    engine = make_engine(settings.database_url)
    with engine.begin() as conn:  # an OAuth account: no password at all
        conn.execute(text("UPDATE users SET provider = 'github' WHERE email = :e"), {"e": user.email})
    engine.dispose()
    stale = issue_jwt(services.settings.jwt_secret, user.id, "github", now=time.time() - 3600)
    response = client.delete("/api/v1/me", headers={"Authorization": f"Bearer {stale}"})
    assert response.status_code == 403 and "Sign in again" in response.json()["error"]
    fresh = issue_jwt(services.settings.jwt_secret, user.id, "github")
    assert client.delete("/api/v1/me", headers={"Authorization": f"Bearer {fresh}"}).status_code == 204
    assert client.get("/api/v1/auth/me", headers=user.token_headers).status_code == 401
    # Idempotent: the same request again finds no user.
    assert client.delete("/api/v1/me", headers={"Authorization": f"Bearer {fresh}"}).status_code == 404


def _cli(world: TwoUserLake, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    full_env = {
        **os.environ,
        **BASE_ENV,
        "DATABASE_URL": world.settings.database_url,
        "DEVFLOW_LAKE_URL": str(world.lake),
        "DEVFLOW_DATA_DIR": str(world.settings.data_dir),
        "JWT_SECRET": world.settings.with_dev_secret().jwt_secret,
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "devflow", *args], env=full_env, capture_output=True, timeout=120, check=False
    )


def test_operator_command_deletes(settings: Settings) -> None:
    world = build_two_user_lake(settings)
    other_before = lake_content(world.lake, str(world.other.id))
    result = _cli(world, {}, "users", "delete", "--email", "VICTIM@example.com")
    assert result.returncode == 0, result.stderr.decode()
    _assert_erased(world, other_before)
    assert _cli(world, {}, "users", "delete", "--email", "victim@example.com").returncode == 1


@pytest.mark.slow
@pytest.mark.parametrize("point", FAULT_POINTS)
def test_sigkill_at_each_step_still_ends_erased(settings: Settings, point: str) -> None:
    """The deletion is killed (SIGKILL, a real process) at ``point``; the next ``devflow serve`` start
    finishes it: 0 rows of the user in the lake, the other user's rows unchanged."""
    world = build_two_user_lake(settings, events=3_000)
    other_before = lake_content(world.lake, str(world.other.id))
    killed = _cli(world, {FAULT_ENV: point}, "users", "delete", "--email", "victim@example.com")
    assert killed.returncode == -9, (killed.returncode, killed.stderr.decode()[-2000:])
    assert sum(lake_rows(world.lake, str(world.victim.id)).values()) > 0 or point in ("lake-file", "lake")
    env = {
        **BASE_ENV,
        "DATABASE_URL": world.settings.database_url,
        "DEVFLOW_LAKE_URL": str(world.lake),
        "DEVFLOW_DATA_DIR": str(world.settings.data_dir),
        "JWT_SECRET": world.settings.with_dev_secret().jwt_secret,
        "METRICS_ETL_ENABLED": "false",
        "INSIGHTS_ENABLED": "false",
    }
    with ServerProcess(env, extra_args=["--workers", "1"]):
        pass  # start-up resumes the journal before /health answers
    _assert_erased(world, other_before)  # the account's rows included


def test_spooled_events_do_not_come_back(
    make_client: Callable[..., TestClient[Any]], settings: Settings
) -> None:
    """Events accepted (in the spool, not yet flushed) when the account is deleted never reach the
    lake; neither do those of a spool segment flushed after the deletion (the journal's tombstone)."""
    client = make_client(DEVFLOW_LAKE_FLUSH_SECONDS="10", DEVFLOW_LAKE_FLUSH_MAX_BYTES=str(1 << 30))
    services = services_of(client)
    leaver = insert_password_user(services.db, "spool@example.com", "correct horse")
    stayer = create_user(settings)
    jwt = {"Authorization": f"Bearer {issue_jwt(services.settings.jwt_secret, leaver.id, 'password')}"}
    token = client.post("/api/v1/auth/tokens", json={"name": "editor"}, headers=jwt).json()["token"]
    events = all_vector_events()
    # The stayer's own sessions (a session belongs to one user).
    theirs = [{**e, "session_id": str(uuid.uuid5(uuid.NAMESPACE_URL, e["session_id"]))} for e in events]
    for headers, batch in (({"Authorization": f"Bearer {token}"}, events), (stayer.token_headers, theirs)):
        response = client.post("/api/v1/telemetry", json={"events": batch}, headers=headers)
        assert response.status_code == 202 and response.json()["rejected_count"] == 0, response.text
    assert not (services.lake.exists("events"))  # still in the spool
    response = client.request("DELETE", "/api/v1/me", json={"password": "correct horse"}, headers=jwt)
    assert response.status_code == 204
    # Another process's spool segment with the leaver's rows, flushed after the deletion.
    assert services.writer is not None
    services.writer.write(*_appends_for(str(leaver.id)))
    services.writer.flush()
    lake = settings.lake_url
    assert lake_rows(Path(lake), str(leaver.id)).get("events", 0) == 0
    assert lake_rows(Path(lake), str(stayer.id))["events"] == len(events)


def _appends_for(user_id: str) -> list[Append]:
    events = all_vector_events()[:3]
    raws = [json.dumps(e).encode() for e in events]
    table = spool_table(
        spool_events_columns(
            user_id=user_id,
            received_at=dt.datetime.now(dt.UTC),
            batch_id="late",
            batch_indexes=list(range(len(events))),
            session_ids=[e["session_id"] for e in events],
            kinds=[e["type"] for e in events],
            timestamps_us=[
                int(dt.datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).timestamp() * 1e6)
                for e in events
            ],
            fingerprints=[fingerprint(e) for e in events],
            raws=raws,
        )
    )
    return [Append(EVENTS_DIR, table, memo=typed_struct(events))]
