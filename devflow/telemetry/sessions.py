"""Session rows for a telemetry batch (contract §3.6): claim new ones, enforce ownership, widen spans.

Everything happens in ONE transaction, committed before the events go to the lake writer. New
session ids are inserted with "insert, ignore on conflict" and then read back: when two users race
for the same new id, exactly one insert wins and the other request sees a foreign owner
(``session_ownership_conflict``). Spans only ever widen, with conditional UPDATEs
(``WHERE start_time > :new``), so concurrent batches of one session cannot narrow each other.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Engine, Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from devflow.accounts import User
from devflow.kernel.clock import epoch_us, from_epoch_us
from devflow.telemetry.models import Session as TelemetrySession


class SessionCache:
    """Per-app memory of session owners and of a span known to be committed for each session.

    Owners never change and spans only widen, so a batch whose sessions are all known, owned by
    the caller and inside the remembered span needs no database work at all (the hot path of an
    extension resending, or of many small batches). Bounded: cleared when full.
    """

    def __init__(self, max_entries: int = 200_000) -> None:
        self._known: dict[str, tuple[uuid.UUID, int, int]] = {}
        self._max = max_entries
        self.widener = SpanWidener()

    def get(self, session_id: str) -> tuple[uuid.UUID, int, int] | None:
        """(owner, earliest µs, latest µs) known to be committed, or None."""
        return self._known.get(session_id)

    def remember(self, session_id: str, owner: uuid.UUID, earliest: int, latest: int) -> None:
        """Record a committed state (never narrower than what the database holds)."""
        if len(self._known) >= self._max:
            self._known.clear()
        self._known[session_id] = (owner, earliest, latest)


_table = cast(Table, TelemetrySession.__table__)
_WIDEN_START = (
    update(_table)
    .where(_table.c.id == bindparam("b_id"), _table.c.start_time > bindparam("b_start"))
    .values(start_time=bindparam("b_start"))
)
_WIDEN_LAST = (
    update(_table)
    .where(_table.c.id == bindparam("b_id"), _table.c.last_event_at < bindparam("b_last"))
    .values(last_event_at=bindparam("b_last"))
)


def _engine_of(db: sessionmaker[Session]) -> Engine:
    engine: Engine = db.kw["bind"]
    return engine


class SpanWidener:
    """Group commit of span widenings of sessions already known to belong to their caller.

    Concurrent requests queue their conditional UPDATEs; whoever finds no transaction in flight
    runs everything queued so far in ONE transaction (two executemany statements), the others wait
    for the commit that covers their rows. Each request still returns only after its widening is
    committed, as §3.6 requires, but N concurrent requests cost one transaction instead of N.
    """

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._pending: list[dict[str, Any]] = []
        self._generation = 1  # the generation the pending rows will be committed in
        self._done = 0
        self._running = False
        self._failures: dict[int, BaseException] = {}

    def widen(self, db: sessionmaker[Session], rows: list[dict[str, Any]]) -> None:
        """Commit ``rows`` (``b_id``, ``b_start``, ``b_last``); returns once they are committed."""
        cv = self._cv
        with cv:
            self._pending.extend(rows)
            mine = self._generation
            while self._done < mine:
                if self._running:
                    cv.wait()
                    continue
                batch, generation = self._pending, self._generation
                self._pending, self._generation, self._running = [], generation + 1, True
                cv.release()
                failure: BaseException | None = None
                try:
                    # A Core connection, not an ORM session: this runs once per group, on the hot path.
                    with _engine_of(db).begin() as conn:
                        conn.execute(_WIDEN_START, batch)
                        conn.execute(_WIDEN_LAST, batch)
                except BaseException as exc:
                    failure = exc
                finally:
                    cv.acquire()
                    self._running = False
                    self._done = generation
                    if failure is not None:
                        self._failures[generation] = failure
                        while len(self._failures) > 64:
                            self._failures.pop(min(self._failures))
                    cv.notify_all()
            failed = self._failures.get(mine)
        if failed is not None:
            raise failed


class UserGone(Exception):
    """A JWT names a user whose row no longer exists (→ 404 User not found)."""


def session_spans(session_ids: list[str], timestamps_us: list[int]) -> dict[str, tuple[int, int]]:
    """(earliest, latest) event time in µs per session id."""
    spans: dict[str, tuple[int, int]] = {}
    for sid, ts in zip(session_ids, timestamps_us, strict=True):
        span = spans.get(sid)
        if span is None:
            spans[sid] = (ts, ts)
        elif ts < span[0]:
            spans[sid] = (ts, span[1])
        elif ts > span[1]:
            spans[sid] = (span[0], ts)
    return spans


def claim_sessions(
    db: sessionmaker[Session],
    user_id: uuid.UUID,
    spans: Mapping[str, tuple[int, int]],
    *,
    check_user_exists: bool,
    cache: SessionCache | None = None,
) -> set[str]:
    """Upsert the caller's sessions in one transaction; return the session ids owned by someone else.

    ``check_user_exists`` (JWT callers) raises :class:`UserGone` when the user row is missing.
    With a ``cache``, sessions it proves owned-and-covered (or foreign) skip the database.
    """
    conflicts: set[str] = set()
    if cache is not None:
        todo: dict[str, tuple[int, int]] = {}
        for sid, (earliest, latest) in spans.items():
            known = cache.get(sid)
            if known is None:
                todo[sid] = (earliest, latest)
            elif known[0] != user_id:
                conflicts.add(sid)
            elif earliest < known[1] or latest > known[2]:
                todo[sid] = (earliest, latest)
        if not todo and not check_user_exists:
            return conflicts
        spans = todo
        known_owned = all(cache.get(sid) is not None for sid in todo)  # only widening left to do
        if known_owned and not check_user_exists:
            rows = []
            for sid, (earliest, latest) in todo.items():
                _, known_start, known_last = cache.get(sid) or (user_id, earliest, latest)
                rows.append(
                    {
                        "b_id": uuid.UUID(sid),
                        "b_start": from_epoch_us(min(earliest, known_start)),
                        "b_last": from_epoch_us(max(latest, known_last)),
                    }
                )
            cache.widener.widen(db, rows)
            for sid, (earliest, latest) in todo.items():
                _, known_start, known_last = cache.get(sid) or (user_id, earliest, latest)
                cache.remember(sid, user_id, min(earliest, known_start), max(latest, known_last))
            return conflicts
    committed: dict[str, tuple[uuid.UUID, int, int]] = {}
    conflicts |= _claim_in_transaction(db, user_id, spans, check_user_exists, committed)
    if cache is not None:
        for sid, (owner, earliest, latest) in committed.items():
            cache.remember(sid, owner, earliest, latest)
    return conflicts


def _claim_in_transaction(
    db: sessionmaker[Session],
    user_id: uuid.UUID,
    spans: Mapping[str, tuple[int, int]],
    check_user_exists: bool,
    committed: dict[str, tuple[uuid.UUID, int, int]],
) -> set[str]:
    with db.begin() as tx:
        if check_user_exists and tx.scalar(select(User.id).where(User.id == user_id)) is None:
            raise UserGone()
        if not spans:
            return set()
        ids = {uuid.UUID(sid): sid for sid in spans}
        columns = (TelemetrySession.id, TelemetrySession.user_id, TelemetrySession.start_time,
                   TelemetrySession.last_event_at)  # fmt: skip
        rows = {row[0]: row for row in tx.execute(select(*columns).where(TelemetrySession.id.in_(ids)))}
        new = [sid for sid in ids if sid not in rows]
        if new:
            now = datetime.now(UTC)
            values = [
                {
                    "id": sid,
                    "user_id": user_id,
                    "start_time": from_epoch_us(spans[ids[sid]][0]),
                    "last_event_at": from_epoch_us(spans[ids[sid]][1]),
                    "created_at": now,
                }
                for sid in new
            ]
            dialect = tx.get_bind().dialect.name
            insert = pg_insert if dialect == "postgresql" else sqlite_insert
            tx.execute(insert(TelemetrySession).values(values).on_conflict_do_nothing(index_elements=["id"]))
            # Read back: a concurrent request may have claimed some of these ids first.
            for row in tx.execute(select(*columns).where(TelemetrySession.id.in_(new))):
                rows[row[0]] = row
        conflicts: set[str] = set()
        for sid, text in ids.items():
            _, owner, start_time, last_event_at = rows[sid]
            if owner != user_id:
                conflicts.add(text)
                committed[text] = (owner, 0, 0)
                continue
            earliest, latest = from_epoch_us(spans[text][0]), from_epoch_us(spans[text][1])
            committed[text] = (
                owner,
                epoch_us(min(earliest, start_time)),
                epoch_us(max(latest, last_event_at)),
            )
            if earliest < start_time:
                tx.execute(
                    update(TelemetrySession)
                    .where(TelemetrySession.id == sid, TelemetrySession.start_time > earliest)
                    .values(start_time=earliest)
                )
            if latest > last_event_at:
                tx.execute(
                    update(TelemetrySession)
                    .where(TelemetrySession.id == sid, TelemetrySession.last_event_at < latest)
                    .values(last_event_at=latest)
                )
        return conflicts


# -- what other contexts read about sessions -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionSpan:
    """A session as the database knows it: its owner and the span of its events."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    start_time: datetime
    last_event_at: datetime


def sessions_started_between(
    db: sessionmaker[Session], user_id: uuid.UUID, start: datetime, end: datetime
) -> list[SessionSpan]:
    """The user's sessions whose ``start_time`` lies in ``[start, end]``, ordered by (start, id)."""
    with db() as session:
        rows = session.execute(
            select(
                TelemetrySession.user_id,
                TelemetrySession.id,
                TelemetrySession.start_time,
                TelemetrySession.last_event_at,
            ).where(
                TelemetrySession.user_id == user_id,
                TelemetrySession.start_time >= start,
                TelemetrySession.start_time <= end,
            )
        ).all()
    spans = [SessionSpan(*row) for row in rows]
    spans.sort(key=lambda s: (s.start_time, str(s.session_id)))
    return spans


def current_sessions(
    db: Session, user_ids: Iterable[uuid.UUID] | None = None, active_since: datetime | None = None
) -> list[SessionSpan]:
    """Each user's current session (contract §7.2 step 3): greatest ``last_event_at``, ties broken by
    greatest ``start_time``; for the given users, or for every user with a session active since
    ``active_since``. Runs on the caller's session (an evaluation reads it under its user lock)."""
    ranked = select(
        TelemetrySession.user_id,
        TelemetrySession.id.label("session_id"),
        TelemetrySession.start_time,
        TelemetrySession.last_event_at,
        func.row_number()
        .over(
            partition_by=TelemetrySession.user_id,
            order_by=(
                TelemetrySession.last_event_at.desc(),
                TelemetrySession.start_time.desc(),
                TelemetrySession.id.desc(),
            ),
        )
        .label("rank"),
    )
    if user_ids is not None:
        ranked = ranked.where(TelemetrySession.user_id.in_(list(user_ids)))
    if active_since is not None:
        # Candidates (§7.1) are users with *some* session active in the window; their current session
        # is by definition the one with the greatest last_event_at, so filtering the users first is
        # equivalent.
        active = select(TelemetrySession.user_id).where(TelemetrySession.last_event_at > active_since)
        ranked = ranked.where(TelemetrySession.user_id.in_(active.distinct()))
    sub = ranked.subquery()
    rows = db.execute(
        select(sub.c.user_id, sub.c.session_id, sub.c.start_time, sub.c.last_event_at).where(sub.c.rank == 1)
    ).all()
    return [SessionSpan(*row) for row in rows]
