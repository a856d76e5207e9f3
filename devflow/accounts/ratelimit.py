"""Login/register rate limits (contract §1.8): per client IP and per normalised email.

A sliding 60 s window kept in the ``rate_limit_hits`` table, so every replica shares it. Each
allowed attempt is one row; refused attempts are not stored, so a key never holds more than
``AUTH_RATE_LIMIT_PER_MINUTE`` live rows, and rows that left the window are deleted (per key on
every attempt, table-wide at most once a minute per process): storage stays bounded. Checking and
recording happen in one transaction serialised per key (a PostgreSQL advisory lock; SQLite's
``BEGIN IMMEDIATE`` already serialises writers), so concurrent attempts cannot overshoot.

Keys are SHA-256 digests: the table never holds an email address or an IP in clear.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from devflow.accounts.models import RateLimitHit

log = logging.getLogger("devflow.accounts.ratelimit")

WINDOW_SECONDS = 60
_PURGE_EVERY_SECONDS = 60.0


def limiter_key(kind: str, value: str) -> str:
    """``ip:<sha256>`` / ``email:<sha256>``: fixed length, nothing personal in clear."""
    return f"{kind}:{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()}"


class AuthRateLimiter:
    """The DB-backed sliding-window limiter shared by ``POST /auth/login`` and ``/auth/register``."""

    def __init__(self, db: sessionmaker[Session], limit: int, window_seconds: int = WINDOW_SECONDS) -> None:
        self.db = db
        self.limit = limit
        self.window = timedelta(seconds=window_seconds)
        self._last_purge = 0.0

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def attempt(self, key: str, now: datetime) -> int | None:
        """Count one attempt for ``key``. None if allowed, else the seconds until a slot frees up."""
        if not self.enabled:
            return None
        cutoff = now - self.window
        with self.db.begin() as session:
            if session.get_bind().dialect.name == "postgresql":
                # Serialise attempts on this key across replicas for the rest of the transaction.
                session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})
            session.execute(delete(RateLimitHit).where(RateLimitHit.key == key, RateLimitHit.at <= cutoff))
            recent = list(
                session.scalars(
                    select(RateLimitHit.at)
                    .where(RateLimitHit.key == key, RateLimitHit.at > cutoff)
                    .order_by(RateLimitHit.at.desc())
                    .limit(self.limit)
                )
            )
            if len(recent) >= self.limit:
                # The slot frees up when the oldest of the last `limit` attempts leaves the window.
                frees_at = recent[-1] + self.window
                return max(1, math.ceil((frees_at - now).total_seconds()))
            session.add(RateLimitHit(key=key, at=now))
        self._purge_if_due(cutoff)
        return None

    def _purge_if_due(self, cutoff: datetime) -> None:
        """Delete every expired row now and then, so keys that are never seen again do not linger."""
        monotonic = time.monotonic()
        if monotonic - self._last_purge < _PURGE_EVERY_SECONDS:
            return
        self._last_purge = monotonic
        with self.db.begin() as session:
            session.execute(delete(RateLimitHit).where(RateLimitHit.at <= cutoff))

    def live_rows(self) -> int:
        """How many rows the limiter holds (tests check that storage stays bounded)."""
        with self.db() as session:
            return int(session.scalar(select(func.count()).select_from(RateLimitHit)) or 0)
