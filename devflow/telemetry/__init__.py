"""Telemetry: the wire schema of events, per-event validation, sessions, and the ingest path from a
request body to durable rows in the lake (contract §3.6, §4). Other contexts use this module only."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

import anyio
from sqlalchemy.orm import Session, sessionmaker

from devflow.accounts import effective_path_privacy, user_path_privacy_modes
from devflow.kernel.clock import Clock
from devflow.lake.spool.writer import LakeWriter
from devflow.lake.storage import LakeUnavailable
from devflow.telemetry.arrow import (
    events_to_table,
    fingerprint,
    spool_events_columns,
    spool_table,
    typed_struct,
)
from devflow.telemetry.ingest import Caller, ingest_batch
from devflow.telemetry.privacy import HASH, path_hash_key, redact_home
from devflow.telemetry.schema import (
    EVENT_TYPES,
    EVENTS_DIR,
    QUARANTINE_DIR,
    event_schema,
    line_range_type,
    quarantine_schema,
    timestamp_type,
)
from devflow.telemetry.sessions import (
    SessionCache,
    SessionSpan,
    claim_sessions,
    current_sessions,
    sessions_started_between,
)
from devflow.telemetry.tables import EVENTS_TABLE, QUARANTINE_TABLE, TELEMETRY_TABLES
from devflow.telemetry.validation import validate_events

__all__ = [
    "EVENTS_DIR",
    "EVENTS_TABLE",
    "EVENT_TYPES",
    "QUARANTINE_DIR",
    "QUARANTINE_TABLE",
    "TELEMETRY_TABLES",
    "Caller",
    "SessionSpan",
    "Telemetry",
    "claim_sessions",
    "current_sessions",
    "event_schema",
    "events_to_table",
    "fingerprint",
    "line_range_type",
    "path_hash_key",
    "quarantine_schema",
    "redact_home",
    "sessions_started_between",
    "spool_events_columns",
    "spool_table",
    "timestamp_type",
    "typed_struct",
    "validate_events",
]

# Requests of one process that may be in their worker-thread part at once. That part is mostly
# Python holding the GIL, so more threads only add GIL hand-offs; the fsync is awaited on the event
# loop, so on SQLite one thread never idles. PostgreSQL round trips (token lookup, session claims)
# do block the thread: two overlap them.
INGEST_THREADS = {"sqlite": 1}
INGEST_THREADS_DEFAULT = 2
# Databases whose ingest work is local file I/O (no network round trip): there a request of ordinary
# size runs on the event loop itself, which one thread per process would serialise anyway, and is
# spared the hop to the thread and back and the GIL hand-offs between the loop and that thread.
LOCAL_DATABASES = frozenset({"sqlite"})
# Larger bodies go to the thread: the loop must not stop serving the process's other requests for
# the tens of milliseconds a batch of thousands of events takes.
INLINE_BODY_LIMIT = 256 * 1024
# How long a user's own path-privacy choice is cached per process (a change applies within this).
PRIVACY_CACHE_SECONDS = 30.0


@dataclass(slots=True)
class Telemetry:
    """The ingest path's long-lived objects, built once per process."""

    db: sessionmaker[Session]
    writer: LakeWriter | None  # None in processes that serve no ingest (CLI commands)
    clock: Clock
    sessions: SessionCache = field(default_factory=SessionCache)
    path_privacy: str = "keep"  # the server's PATH_PRIVACY
    hash_key: bytes = b""
    _limiter: anyio.CapacityLimiter | None = None
    _modes: UserModes = field(default_factory=lambda: UserModes())

    def ingest(self, caller: Caller, body: bytes | None) -> tuple[int, bytes]:
        """One request body → (the lake writer's ticket, the encoded 202 body); see :func:`ingest_batch`."""
        if self.writer is None:
            raise LakeUnavailable("this process has no lake writer")
        return ingest_batch(
            self.db,
            self.writer,
            caller,
            body,
            self.sessions,
            self.clock,
            privacy=self.privacy_of(caller.user_id),
            hash_key=self.hash_key,
        )

    def privacy_of(self, user_id: uuid.UUID) -> str:
        """The path-privacy mode of a user's events: the stricter of the server's and theirs."""
        if self.path_privacy == HASH:  # nothing is stricter: no lookup
            return HASH
        return effective_path_privacy(self.path_privacy, self._modes.get(self.db, user_id))

    def runs_inline(self, body_size: int) -> bool:
        """Whether a request whose body has ``body_size`` bytes is ingested on the event loop (see
        :data:`LOCAL_DATABASES`) rather than in a worker thread."""
        return body_size <= INLINE_BODY_LIMIT and self.db.kw["bind"].dialect.name in LOCAL_DATABASES

    def thread_limiter(self) -> anyio.CapacityLimiter:
        """The per-process bound on ingest threads (created on the event loop at first use)."""
        if self._limiter is None:
            dialect = self.db.kw["bind"].dialect.name
            self._limiter = anyio.CapacityLimiter(INGEST_THREADS.get(dialect, INGEST_THREADS_DEFAULT))
        return self._limiter


class UserModes:
    """Users' own path-privacy choices, cached per process for :data:`PRIVACY_CACHE_SECONDS`."""

    def __init__(self) -> None:
        self._seen: dict[uuid.UUID, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def get(self, db: sessionmaker[Session], user_id: uuid.UUID) -> str | None:
        now = time.monotonic()
        with self._lock:
            cached = self._seen.get(user_id)
        if cached is not None and now - cached[0] <= PRIVACY_CACHE_SECONDS:
            return cached[1]
        own = user_path_privacy_modes(db, [user_id]).get(user_id)
        with self._lock:
            if len(self._seen) > 100_000:
                self._seen.clear()
            self._seen[user_id] = (now, own)
        return own
