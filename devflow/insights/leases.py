"""Evaluation leases: one evaluator of a user at a time, claimed in a row of ``evaluation_leases``.

The claim is a short committed write, so it lives outside any transaction: the model is called with
no pooled connection held, across threads, worker processes and replicas alike. A lease expires on
its own (a crashed holder never blocks a user for longer than :func:`lease_ttl`); a waiter polls
until the row is free or expired, then takes it over.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Final

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from devflow.insights.models import EvaluationLease
from devflow.kernel.clock import utc_now

#: Poll interval bounds while another holder has the lease (doubling from the first to the second).
POLL_FIRST_SECONDS: Final = 0.02
POLL_MAX_SECONDS: Final = 0.5
#: Slack beyond the model timeout before a holder's lease counts as abandoned.
LEASE_MARGIN: Final = timedelta(seconds=60)

_HOST: Final = socket.gethostname()[:32]


def lease_ttl(model_timeout_seconds: float) -> timedelta:
    """How long a claim lasts: the model call's timeout twice over, plus a margin for the reads."""
    return timedelta(seconds=2 * model_timeout_seconds) + LEASE_MARGIN


def new_holder() -> str:
    """A name unique to one evaluation (host, process, random), at most 64 characters."""
    return f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:16]}"


def try_claim(db: sessionmaker[DbSession], user_id: uuid.UUID, holder: str, ttl: timedelta) -> bool:
    """Take the user's lease if it is free or expired; one short transaction."""
    now = utc_now()
    with db.begin() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        insert = pg_insert if postgres else sqlite_insert
        stmt = insert(EvaluationLease).values(user_id=user_id, holder=holder, expires_at=now + ttl)
        claim = stmt.on_conflict_do_update(
            index_elements=[EvaluationLease.user_id],
            set_={"holder": stmt.excluded.holder, "expires_at": stmt.excluded.expires_at},
            where=EvaluationLease.expires_at < now,
        ).returning(EvaluationLease.holder)
        return session.execute(claim).scalar_one_or_none() == holder


def release(db: sessionmaker[DbSession], user_id: uuid.UUID, holder: str) -> None:
    """Drop the lease if it is still ours (one short transaction)."""
    with db.begin() as session:
        mine = (EvaluationLease.user_id == user_id) & (EvaluationLease.holder == holder)
        session.execute(delete(EvaluationLease).where(mine))


@contextmanager
def hold_lease(db: sessionmaker[DbSession], user_id: uuid.UUID, ttl: timedelta) -> Iterator[str]:
    """Wait for and hold the user's lease; yields the holder name. No connection is held meanwhile."""
    holder = new_holder()
    delay = POLL_FIRST_SECONDS
    while not try_claim(db, user_id, holder, ttl):
        time.sleep(delay)
        delay = min(delay * 2, POLL_MAX_SECONDS)
    try:
        yield holder
    finally:
        release(db, user_id, holder)
