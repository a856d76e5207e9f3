"""End-to-end account flows against the real server process (``devflow serve`` on 127.0.0.1).

The device-pairing flow exactly as the extension and dashboard drive it, the concurrency cases
(#22, #65) over real sockets, the loopback-peer rule of §1.8 (a real 127.0.0.1 peer), and an OAuth
login that spans a restart (#44).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from devflow.accounts.models import PairingCode
from devflow.config import Settings
from devflow.db.engine import make_session_factory
from tests.accounts.fake_provider import FakeProvider
from tests.conftest import BASE_ENV
from tests.support.accounts import engine_on
from tests.support.server import ServerProcess

pytestmark = pytest.mark.slow


def _server(database_url: str, tmp_path: Path, workers: int = 2, **env: str) -> ServerProcess:
    """The default two workers where requests race across processes; one where that is not the point."""
    return ServerProcess(
        {**BASE_ENV, "DATABASE_URL": database_url, "DEVFLOW_DATA_DIR": str(tmp_path / "data"), **env},
        log_path=tmp_path / "server.log",
        extra_args=["--workers", str(workers)],
    )


@pytest.fixture(scope="module")
def server(module_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the flows that use distinct accounts (e2e@, race@, twin<n>@): its start costs
    more than a flow."""
    with _server(module_settings.database_url, tmp_path_factory.mktemp("flows")) as proc:
        yield proc


@pytest.fixture()
def db(module_settings: Settings) -> Iterator[sessionmaker[Session]]:
    """The shared server's database."""
    with engine_on(module_settings.database_url) as engine:
        yield make_session_factory(engine)


def _concurrently(count: int, action: Any) -> list[Any]:
    """Run ``action(i)`` in ``count`` threads released at the same instant; results in index order."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        results[index] = action(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _age(db: sessionmaker[Session], pairing_id: str, **values: Any) -> None:
    with db.begin() as session:
        session.execute(update(PairingCode).where(PairingCode.id == uuid.UUID(pairing_id)).values(**values))


def test_device_pairing_end_to_end(server: ServerProcess, db: sessionmaker[Session]) -> None:
    """Issue "Done when": create → exchange pending → approve with a session cookie → exchange
    returns the token once → the token authenticates GET /auth/me → next exchange says consumed;
    a second exchange within 1 s gets 429; an expired pairing answers 410 (#57, #60, #61, #63, #64,
    #66, #68). The dashboard's cookie comes from a real registration."""
    api = server.base_url + "/api/v1"
    with httpx.Client(timeout=10) as dashboard, httpx.Client(timeout=10) as extension:
        registered = dashboard.post(
            f"{api}/auth/register", json={"email": "e2e@example.com", "password": "pw-123456"}
        )
        assert registered.status_code == 201
        assert dashboard.cookies.get("session") == registered.json()["token"]

        created = extension.post(
            f"{api}/auth/pairings", headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert created.status_code == 201
        pairing = created.json()
        exchange_url = f"{api}/auth/pairings/{pairing['pairing_id']}/exchange"
        # Contract 1.1 (#131): with FRONTEND_URL unset the link is the service's own page.
        assert pairing["verification_uri"] == f"http://localhost:{server.port}/extension/pair"

        assert extension.post(exchange_url).json() == {"status": "pending"}
        too_soon = extension.post(exchange_url)
        assert too_soon.status_code == 429 and too_soon.json() == {"error": "Too many requests"}

        approved = dashboard.post(f"{api}/auth/pairings/{pairing['user_code']}/approve")  # cookie only
        assert approved.status_code == 200 and approved.json() == {"ok": True}

        time.sleep(1.05)  # the limiter window of the previous allowed exchange passes
        delivered = extension.post(exchange_url)
        assert delivered.status_code == 200
        token = delivered.json()["token"]
        assert delivered.json() == {"status": "approved", "token": token}
        assert extension.post(exchange_url).status_code == 429  # within 1 s of the delivering exchange

        me = extension.get(f"{api}/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["email"] == "e2e@example.com"

        time.sleep(1.05)  # the limiter window of the previous allowed exchange passes
        assert extension.post(exchange_url).json() == {"status": "consumed"}

        # Expiry: a new pairing whose TTL has run out (aged in the database) answers 410 and is gone.
        late = extension.post(f"{api}/auth/pairings").json()
        _age(db, late["pairing_id"], expires_at=datetime.now(UTC) - timedelta(seconds=1))
        expired = dashboard.post(f"{api}/auth/pairings/{late['user_code']}/approve")
        assert expired.status_code == 410 and expired.json() == {"error": "Pairing expired"}
        gone = extension.post(f"{api}/auth/pairings/{late['pairing_id']}/exchange")
        assert gone.status_code == 410 and gone.json() == {"status": "expired"}


def test_concurrent_exchanges_deliver_token_once(server: ServerProcess, db: sessionmaker[Session]) -> None:
    """#65 ten simultaneous exchanges of an approved pairing over HTTP → exactly one response carries
    the token; the others get 429 or consumed. Repeated with the limiter window open each round."""
    api = server.base_url + "/api/v1"
    with httpx.Client(timeout=10) as dashboard:
        assert (
            dashboard.post(
                f"{api}/auth/register", json={"email": "race@example.com", "password": "pw-123456"}
            ).status_code
            == 201
        )
        for _ in range(3):
            pairing = dashboard.post(f"{api}/auth/pairings").json()
            assert dashboard.post(f"{api}/auth/pairings/{pairing['user_code']}/approve").status_code == 200
            url = f"{api}/auth/pairings/{pairing['pairing_id']}/exchange"

            def exchange(_: int, url: str = url) -> tuple[int, Any]:
                with httpx.Client(timeout=10) as extension:
                    response = extension.post(url)
                    return response.status_code, response.json()

            results = _concurrently(10, exchange)
            tokens = [body["token"] for status, body in results if status == 200 and "token" in body]
            assert len(tokens) == 1, results
            others = [(s, b) for s, b in results if not (s == 200 and "token" in b)]
            assert all(s == 429 or b == {"status": "consumed"} for s, b in others), results
            assert (
                dashboard.get(f"{api}/auth/me", headers={"Authorization": f"Bearer {tokens[0]}"}).status_code
                == 200
            )


def test_concurrent_registrations_of_one_email(server: ServerProcess) -> None:
    """#22 two simultaneous registrations of one new email → one 201 and one 409, never a 500
    (three rounds, each over two real connections)."""
    api = server.base_url + "/api/v1"
    for round_index in range(3):
        email = f"twin{round_index}@example.com"

        def register(index: int, email: str = email) -> tuple[int, Any]:
            with httpx.Client(timeout=10) as browser:
                response = browser.post(
                    f"{api}/auth/register", json={"email": email, "password": f"password-{index}"}
                )
                return response.status_code, response.json()

        results = _concurrently(2, register)
        assert sorted(status for status, _ in results) == [201, 409], results
        assert {"error": "Email already registered"} in [body for _, body in results]


def test_loopback_peer_skips_per_ip_limit_only_1_8(database_url: str, tmp_path: Path) -> None:
    """§1.8 without TRUST_PROXY a loopback peer skips the per-IP limit (it is probably a proxy), the
    per-email limit still applies, and one warning is logged at start-up."""
    with _server(database_url, tmp_path, AUTH_RATE_LIMIT_PER_MINUTE="2", LOG_LEVEL="warning") as server:
        api = server.base_url + "/api/v1"
        with httpx.Client(timeout=10) as client:
            for index in range(4):  # four emails from one loopback address: no per-IP 429
                response = client.post(
                    f"{api}/auth/login", json={"email": f"who{index}@example.com", "password": "pw-123456"}
                )
                assert response.status_code == 401
            statuses = [
                client.post(
                    f"{api}/auth/login", json={"email": "same@example.com", "password": "x"}
                ).status_code
                for _ in range(3)
            ]
            assert statuses == [401, 401, 429]
    log = (tmp_path / "server.log").read_text()
    assert log.count("TRUST_PROXY is unset") == 1


def test_oauth_login_survives_a_restart(
    database_url: str, tmp_path: Path, fake_provider: FakeProvider
) -> None:
    """#44 start the OAuth login on one server process, restart the service, complete the callback
    (against the fake provider) on the new process → success: the state lives in the database."""
    env = fake_provider.env()
    with _server(database_url, tmp_path, workers=1, **env) as first:
        started = httpx.get(f"{first.base_url}/api/v1/auth/google", follow_redirects=False, timeout=10)
    assert started.status_code == 302
    params = {k: v[0] for k, v in parse_qs(urlsplit(started.headers["location"]).query).items()}
    fake_provider.grant("restart-code", params["code_challenge"], {"sub": "restart-sub", "name": "Restarted"})
    with _server(database_url, tmp_path, workers=1, **env) as second:
        response = httpx.get(
            f"{second.base_url}/api/v1/auth/google/callback",
            params={"code": "restart-code", "state": params["state"]},
            follow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 302, response.text
        assert response.headers["location"] == env["WEB_APP_URL"]
        session = response.cookies.get("session")
        assert session
        me = httpx.get(f"{second.base_url}/api/v1/auth/me", cookies={"session": session}, timeout=10)
        assert me.status_code == 200 and me.json()["provider"] == "google"
