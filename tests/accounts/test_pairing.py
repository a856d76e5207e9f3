"""Device pairing through the real app (contract §3.5, §5): checklist items 57–73.

Time is made to pass honestly by ageing rows in the database (``expires_at``,
``last_exchange_at``) rather than by patching clocks; one test really waits 1 s.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from devflow.accounts.models import ApiToken, PairingCode, RateLimitHit
from devflow.accounts.pairing import (
    USER_CODE_ALPHABET,
    ExchangeStatus,
    PairingCodesExhausted,
    cleanup_pairings,
    create_pairing,
    exchange_pairing,
    new_user_code,
)
from devflow.config import Settings
from devflow.kernel.clock import ManualClock
from tests.support.accounts import TestUser, create_user

CODE_RE = re.compile(r"^[BCDFGHJKMNPQRSTVWXZ23456789]{4}-[BCDFGHJKMNPQRSTVWXZ23456789]{4}$")
EXPIRED = {"status": "expired"}


def _create(client: TestClient[Any], **kwargs: Any) -> dict[str, Any]:
    response = client.post("/api/v1/auth/pairings", **kwargs)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _exchange(client: TestClient[Any], pairing_id: str) -> Any:
    return client.post(f"/api/v1/auth/pairings/{pairing_id}/exchange")


def _approve(client: TestClient[Any], code: str, user: TestUser) -> Any:
    # The dashboard authenticates with its session cookie, never a header.
    return client.post(f"/api/v1/auth/pairings/{code}/approve", cookies={"session": user.jwt})


def _age(db: sessionmaker[Session], pairing_id: str, **values: Any) -> None:
    with db.begin() as session:
        session.execute(update(PairingCode).where(PairingCode.id == uuid.UUID(pairing_id)).values(**values))


def _expire(db: sessionmaker[Session], pairing_id: str) -> None:
    _age(db, pairing_id, expires_at=datetime.now(UTC) - timedelta(seconds=1))


def _let_a_second_pass(db: sessionmaker[Session], pairing_id: str) -> None:
    _age(db, pairing_id, last_exchange_at=datetime.now(UTC) - timedelta(seconds=2))


def test_create_pairing(make_client: Callable[..., TestClient[Any]]) -> None:
    """#57 no body → 201 with UUID id, pattern code, 600 s, verification_uri; #58 an empty
    form-encoded body → 201; #59 trailing slashes of FRONTEND_URL are all removed."""
    client = make_client()
    body = _create(client)
    assert set(body) == {"pairing_id", "user_code", "verification_uri", "expires_in"}
    assert str(uuid.UUID(body["pairing_id"])) == body["pairing_id"]
    assert uuid.UUID(body["pairing_id"]).version == 4
    assert CODE_RE.match(body["user_code"])
    assert body["expires_in"] == 600
    assert body["verification_uri"] == "http://localhost:3000/extension/pair"
    _create(client, content=b"", headers={"Content-Type": "application/x-www-form-urlencoded"})
    _create(client, content=b"{", headers={"Content-Type": "application/json"})  # bodiless: never parsed
    other = make_client(FRONTEND_URL="https://app.example.com//")
    assert _create(other)["verification_uri"] == "https://app.example.com/extension/pair"
    empty = make_client(FRONTEND_URL="")
    assert _create(empty)["verification_uri"] == "http://localhost:3000/extension/pair"


def test_user_codes_use_the_alphabet_uniformly() -> None:
    """§5.2 codes are 8 symbols of the 27-symbol alphabet; over many draws every symbol shows up."""
    seen: set[str] = set()
    for _ in range(400):
        code = new_user_code()
        assert CODE_RE.match(code)
        seen.update(code.replace("-", ""))
    assert seen == set(USER_CODE_ALPHABET)


def test_full_flow(
    make_client: Callable[..., TestClient[Any]], settings: Settings, db: sessionmaker[Session]
) -> None:
    """#60 exchange while pending → pending; #61 a second exchange within 1 s → 429, after 1 s → 200;
    #63 approve → {"ok":true} and the token is listed as ``VSCode (paired <UTC date>)``;
    #64 the first exchange after approval delivers the token (which works), the next says consumed
    and the stored plaintext is null. The test moves the app's clock instead of sleeping."""
    clock = ManualClock()
    client = make_client(clock=clock)
    user = create_user(settings)
    pairing = _create(client)
    pid = pairing["pairing_id"]
    response = _exchange(client, pid)
    assert response.status_code == 200 and response.json() == {"status": "pending"}
    response = _exchange(client, pid)
    assert response.status_code == 429 and response.json() == {"error": "Too many requests"}
    assert response.headers["retry-after"] == "1"
    clock.advance(timedelta(seconds=1.05))
    assert _exchange(client, pid).json() == {"status": "pending"}

    response = _approve(client, pairing["user_code"], user)
    assert response.status_code == 200 and response.json() == {"ok": True}
    listed = client.get("/api/v1/auth/tokens", headers=user.jwt_headers).json()["tokens"]
    assert listed[0]["name"] == f"VSCode (paired {datetime.now(UTC).date().isoformat()})"

    _let_a_second_pass(db, pid)
    response = _exchange(client, pid)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "approved" and re.match(r"^dvf_[A-Za-z0-9_-]{43}$", body["token"])
    assert set(body) == {"status", "token"}
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.json()["id"] == str(user.id)
    pending = client.get(
        "/api/v1/recommendations/pending", headers={"Authorization": f"Bearer {body['token']}"}
    )
    assert pending.status_code == 200 and pending.json() == {"recommendation": None}

    _let_a_second_pass(db, pid)
    assert _exchange(client, pid).json() == {"status": "consumed"}
    with db() as session:
        row = session.get(PairingCode, uuid.UUID(pid))
        assert row is not None and row.status == "consumed" and row.token_plaintext is None


def test_exchange_limiter_is_shared_by_replicas(make_client: Callable[..., TestClient[Any]]) -> None:
    """#62 an exchange on replica A then on replica B within 1 s → 429 (the limiter is the row)."""
    replica_a, replica_b = make_client(), make_client()
    pid = _create(replica_a)["pairing_id"]
    assert _exchange(replica_a, pid).status_code == 200
    assert _exchange(replica_b, pid).status_code == 429


def test_concurrent_exchanges_deliver_once(
    client: TestClient[Any], settings: Settings, db: sessionmaker[Session]
) -> None:
    """#65 (service level, limiter off) ten threads exchange one approved pairing at once: exactly
    one gets the token, the others see consumed."""
    user = create_user(settings)
    pairing = _create(client)
    assert _approve(client, pairing["user_code"], user).status_code == 200
    barrier = threading.Barrier(10)
    results: list[Any] = []

    def worker() -> None:
        barrier.wait()
        results.append(exchange_pairing(db, pairing["pairing_id"], datetime.now(UTC), min_interval=None))

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    delivered = [r for r in results if r.status is ExchangeStatus.APPROVED]
    assert len(results) == 10 and len(delivered) == 1 and delivered[0].token
    assert all(r.status is ExchangeStatus.CONSUMED for r in results if r is not delivered[0])


def test_exchange_of_unknown_or_expired(client: TestClient[Any], db: sessionmaker[Session]) -> None:
    """#66 exchange with ``not-a-uuid``, an unknown UUID, or an expired row → 410 {"status":"expired"};
    the expired row is deleted. Upper-case UUIDs are accepted (the pattern is case-insensitive).
    #9 the 410 carries the CORS headers."""
    for pid in ("not-a-uuid", str(uuid.uuid4()), str(uuid.uuid4()).upper()):
        response = client.post(
            f"/api/v1/auth/pairings/{pid}/exchange", headers={"Origin": "http://localhost:5173"}
        )
        assert response.status_code == 410 and response.json() == EXPIRED
        # #9: a 410 carries both CORS headers for an allowed origin.
        assert response.headers["access-control-allow-origin"] == "http://localhost:5173"
        assert response.headers["access-control-allow-credentials"] == "true"
    pid = _create(client)["pairing_id"]
    assert _exchange(client, pid.upper()).json() == {"status": "pending"}
    _expire(db, pid)
    response = _exchange(client, pid)
    assert response.status_code == 410 and response.json() == EXPIRED
    with db() as session:
        assert session.get(PairingCode, uuid.UUID(pid)) is None


def test_approve_errors(client: TestClient[Any], settings: Settings) -> None:
    """#67 approve without credentials → 401; with a token → 403; ``kq7t-m3hd``, ``ABCD-1234`` or an
    unknown valid code → 404 (and #9: these errors carry CORS headers)."""
    user = create_user(settings)
    code = _create(client)["user_code"]
    origin = {"Origin": "http://localhost:5173"}
    response = client.post(f"/api/v1/auth/pairings/{code}/approve", headers=origin)
    assert response.status_code == 401 and response.json() == {"error": "Unauthorized"}
    assert response.headers["access-control-allow-origin"] == "http://localhost:5173"
    response = client.post(f"/api/v1/auth/pairings/{code}/approve", headers=user.token_headers)
    assert response.status_code == 403 and response.json() == {"error": "API tokens cannot approve pairings"}
    for bad in (code.lower(), "ABCD-1234", "BBBB-BBBB" if code != "BBBB-BBBB" else "CCCC-CCCC"):
        response = client.post(
            f"/api/v1/auth/pairings/{bad}/approve", cookies={"session": user.jwt}, headers=origin
        )
        assert response.status_code == 404, bad
        assert response.json() == {"error": "Pairing not found or expired"}
        assert response.headers["access-control-allow-credentials"] == "true"


def test_approve_expired_pending(
    client: TestClient[Any], settings: Settings, db: sessionmaker[Session]
) -> None:
    """#68 approve of an expired pending pairing → 410 Pairing expired (the row is deleted; then 404)."""
    user = create_user(settings)
    pairing = _create(client)
    _expire(db, pairing["pairing_id"])
    response = _approve(client, pairing["user_code"], user)
    assert response.status_code == 410 and response.json() == {"error": "Pairing expired"}
    assert _approve(client, pairing["user_code"], user).status_code == 404


def test_approve_twice(client: TestClient[Any], settings: Settings, db: sessionmaker[Session]) -> None:
    """#69 approving twice → the second gets 409 Pairing already used, and no second token is minted;
    once the used row has expired, approve says 410."""
    user = create_user(settings)
    pairing = _create(client)
    assert _approve(client, pairing["user_code"], user).status_code == 200
    response = _approve(client, pairing["user_code"], user)
    assert response.status_code == 409 and response.json() == {"error": "Pairing already used"}
    with db() as session:
        assert (
            session.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.user_id == user.id)) == 2
        )
    _expire(db, pairing["pairing_id"])
    response = _approve(client, pairing["user_code"], user)
    assert response.status_code == 410 and response.json() == {"error": "Pairing expired"}


def test_new_pending_row_wins_over_consumed_one(
    client: TestClient[Any], settings: Settings, db: sessionmaker[Session]
) -> None:
    """#70 a consumed row and a new pending row with the same code → approve succeeds on the pending one."""
    user = create_user(settings)
    old = _create(client)
    assert _approve(client, old["user_code"], user).status_code == 200
    assert _exchange(client, old["pairing_id"]).json()["status"] == "approved"
    new = _create(client)
    _age(db, new["pairing_id"], user_code=old["user_code"])  # the pending-only unique index allows it
    assert _approve(client, old["user_code"], user).json() == {"ok": True}
    with db() as session:
        row = session.get(PairingCode, uuid.UUID(new["pairing_id"]))
        assert row is not None and row.status == "approved"


def _install_token_insert_failure(engine: Engine) -> Callable[[], None]:
    """A database trigger that makes every INSERT into api_tokens fail; returns its remover."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "CREATE OR REPLACE FUNCTION devflow_test_fail_mint() RETURNS trigger AS $$ "
                    "BEGIN RAISE EXCEPTION 'forced token mint failure'; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER devflow_test_fail_mint BEFORE INSERT ON api_tokens "
                    "FOR EACH ROW EXECUTE FUNCTION devflow_test_fail_mint()"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER devflow_test_fail_mint BEFORE INSERT ON api_tokens "
                    "BEGIN SELECT RAISE(ABORT, 'forced token mint failure'); END"
                )
            )

    def remove() -> None:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "DROP TRIGGER IF EXISTS devflow_test_fail_mint"
                    + (" ON api_tokens" if engine.dialect.name == "postgresql" else "")
                )
            )
            if engine.dialect.name == "postgresql":
                conn.execute(text("DROP FUNCTION IF EXISTS devflow_test_fail_mint()"))

    return remove


def test_failed_token_mint_leaves_row_pending(
    client: TestClient[Any], settings: Settings, db: sessionmaker[Session], engine: Engine
) -> None:
    """#71 a forced token-mint failure during approve (a trigger rejects the api_tokens INSERT)
    → 500; the row stays pending, no token exists, and approval works once the fault is gone."""
    user = create_user(settings)
    pairing = _create(client)
    with db() as session:
        tokens_before = session.scalar(select(func.count()).select_from(ApiToken))
    remove = _install_token_insert_failure(engine)
    try:
        response = _approve(client, pairing["user_code"], user)
    finally:
        remove()
    assert response.status_code == 500 and response.json() == {"error": "Internal server error"}
    with db() as session:
        row = session.get(PairingCode, uuid.UUID(pairing["pairing_id"]))
        assert row is not None and row.status == "pending" and row.api_token_id is None
        assert row.token_plaintext is None
        assert session.scalar(select(func.count()).select_from(ApiToken)) == tokens_before
    assert _approve(client, pairing["user_code"], user).status_code == 200


def test_expired_undelivered_token_is_revoked(
    client: TestClient[Any], settings: Settings, db: sessionmaker[Session]
) -> None:
    """#72 an approved pairing that expires without an exchange → its token is revoked (401), by the
    cleanup pass and by an exchange that finds the row expired."""
    user = create_user(settings)
    by_cleanup, by_exchange = _create(client), _create(client)
    for pairing in (by_cleanup, by_exchange):
        assert _approve(client, pairing["user_code"], user).status_code == 200
    with db() as session:
        plaintexts = {
            p["pairing_id"]: session.scalars(
                select(PairingCode.token_plaintext).where(PairingCode.id == uuid.UUID(p["pairing_id"]))
            ).one()
            for p in (by_cleanup, by_exchange)
        }
    for pid, token in plaintexts.items():
        assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        _expire(db, pid)

    result = cleanup_pairings(db, datetime.now(UTC))
    assert result.revoked_tokens == 2 and result.deleted_pairings == 0
    token = plaintexts[by_cleanup["pairing_id"]]
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    with db() as session:
        row = session.get(PairingCode, uuid.UUID(by_cleanup["pairing_id"]))
        assert row is not None and row.token_plaintext is None  # plaintext dropped too

    response = _exchange(client, by_exchange["pairing_id"])
    assert response.status_code == 410 and response.json() == EXPIRED
    token = plaintexts[by_exchange["pairing_id"]]
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_exchange_revokes_undelivered_token_without_cleanup(
    client: TestClient[Any], settings: Settings, db: sessionmaker[Session]
) -> None:
    """#72 / §5.3 the exchange of an expired approved row revokes the token itself and deletes the row."""
    user = create_user(settings)
    pairing = _create(client)
    assert _approve(client, pairing["user_code"], user).status_code == 200
    with db() as session:
        token = session.scalars(
            select(PairingCode.token_plaintext).where(PairingCode.id == uuid.UUID(pairing["pairing_id"]))
        ).one()
    _expire(db, pairing["pairing_id"])
    assert _exchange(client, pairing["pairing_id"]).status_code == 410
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    with db() as session:
        assert session.get(PairingCode, uuid.UUID(pairing["pairing_id"])) is None


def test_cleanup_deletes_rows_an_hour_past_expiry(client: TestClient[Any], db: sessionmaker[Session]) -> None:
    """§5.2 cleanup deletes rows whose ``expires_at`` is more than 3600 s past, and keeps the others."""
    old, recent, live = _create(client), _create(client), _create(client)
    now = datetime.now(UTC)
    _age(db, old["pairing_id"], expires_at=now - timedelta(seconds=3601))
    _age(db, recent["pairing_id"], expires_at=now - timedelta(seconds=10))
    result = cleanup_pairings(db, now)
    assert result.deleted_pairings == 1
    with db() as session:
        left = set(session.scalars(select(PairingCode.id)))
    assert left == {uuid.UUID(recent["pairing_id"]), uuid.UUID(live["pairing_id"])}


def test_random_ids_create_no_limiter_state(client: TestClient[Any], db: sessionmaker[Session]) -> None:
    """#73 10,000 exchanges with random UUIDs → all 410, and no limiter state appears anywhere.

    300 of them go over HTTP; the other 9,700 call the exchange service the route calls (the HTTP
    layer adds nothing stateful, and 10,000 test-client requests would take half a minute).
    """
    live = _create(client)
    statuses = {_exchange(client, str(uuid.uuid4())).status_code for _ in range(300)}
    assert statuses == {410}
    now = datetime.now(UTC)
    outcomes = {exchange_pairing(db, str(uuid.uuid4()), now).status for _ in range(9_700)}
    assert outcomes == {ExchangeStatus.EXPIRED}
    with db() as session:
        assert session.scalar(select(func.count()).select_from(PairingCode)) == 1
        assert session.scalar(select(func.count()).select_from(RateLimitHit)) == 0
        row = session.get(PairingCode, uuid.UUID(live["pairing_id"]))
        assert row is not None and row.last_exchange_at is None


def test_pairing_code_collisions_retry_then_fail(db: sessionmaker[Session]) -> None:
    """§5.2 a code colliding with a pending row is drawn again; after 5 collisions create fails (the
    route's 500). The code source is injected so that collisions with a real pending row happen."""
    now = datetime.now(UTC)
    with db.begin() as session:
        session.add(PairingCode(id=uuid.uuid4(), user_code="BBBB-BBBB", status="pending", expires_at=now))
    codes = iter(["BBBB-BBBB"] * 4 + ["CCCC-CCCC"] + ["BBBB-BBBB"] * 5)
    assert create_pairing(db, now, draw_code=lambda: next(codes)).user_code == "CCCC-CCCC"
    with pytest.raises(PairingCodesExhausted):
        create_pairing(db, now, draw_code=lambda: next(codes))
    with pytest.raises(StopIteration):  # exactly 5 draws were made
        next(codes)
