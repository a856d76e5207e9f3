"""Session claims under concurrency (contract §3.6 "Sessions"): one owner per id, spans only widen."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from devflow.config import Settings
from devflow.db.engine import make_engine, make_session_factory
from devflow.telemetry.models import Session as TelemetrySession
from devflow.telemetry.sessions import SessionCache, claim_sessions
from tests.support.accounts import create_user

T0 = 1_778_749_928_829_000  # 2026-05-14T09:12:08.829Z in µs


def test_two_users_racing_for_a_new_session_one_wins(settings: Settings) -> None:
    """Two users claim the same new session ids at the same time: for each id exactly one claim
    succeeds and the other sees session_ownership_conflict; the row belongs to the winner."""
    alice, bob = create_user(settings), create_user(settings)
    engine = make_engine(settings.database_url)
    db = make_session_factory(engine)
    ids = [str(uuid.uuid4()) for _ in range(20)]
    outcome: dict[uuid.UUID, list[set[str]]] = {alice.id: [], bob.id: []}
    barrier = threading.Barrier(2)

    def claim(user_id: uuid.UUID) -> None:
        cache = SessionCache()  # like two server processes: no shared memory
        for sid in ids:
            barrier.wait()
            outcome[user_id].append(
                claim_sessions(db, user_id, {sid: (T0, T0)}, check_user_exists=False, cache=cache)
            )

    threads = [threading.Thread(target=claim, args=(u,)) for u in (alice.id, bob.id)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with db() as session:
        owners = {
            sid: owner
            for sid, owner in session.execute(select(TelemetrySession.id, TelemetrySession.user_id))
        }
    engine.dispose()
    for i, sid in enumerate(ids):
        lost = [user for user in (alice.id, bob.id) if sid in outcome[user][i]]
        assert len(lost) == 1, sid
        winner = bob.id if lost == [alice.id] else alice.id
        assert owners[uuid.UUID(sid)] == winner


def test_concurrent_widening_keeps_the_widest_span(settings: Settings) -> None:
    """Many concurrent batches of one session (group-committed widening): start_time ends at the
    earliest and last_event_at at the latest event of all of them."""
    user = create_user(settings)
    engine = make_engine(settings.database_url)
    db = make_session_factory(engine)
    cache = SessionCache()
    sid = str(uuid.uuid4())
    claim_sessions(db, user.id, {sid: (T0, T0)}, check_user_exists=False, cache=cache)

    def widen(k: int) -> None:
        for j in range(10):
            offset = (k * 10 + j) * 1_000_000
            claim_sessions(
                db, user.id, {sid: (T0 - offset, T0 + offset)}, check_user_exists=False, cache=cache
            )

    threads = [threading.Thread(target=widen, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with db() as session:
        row = session.get(TelemetrySession, uuid.UUID(sid))
    engine.dispose()
    assert row is not None
    widest = 79 * 1_000_000
    assert row.start_time == datetime.fromtimestamp((T0 - widest) / 1e6, UTC)
    assert row.last_event_at == datetime.fromtimestamp((T0 + widest) / 1e6, UTC)
