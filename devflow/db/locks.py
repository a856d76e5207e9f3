"""Cross-process locks on the relational store: one runner at a time for a named job, and a
per-key mutex (one user's evaluation), across threads, processes and replicas.

* PostgreSQL: a session-level ``pg_try_advisory_lock`` held on a dedicated connection for the whole
  run (released explicitly, and by the server if the process dies).
* SQLite (the single-machine default): an exclusive ``flock`` on ``locks/<name>.lock`` next to the
  database file (or in the data dir) plus a process-local thread lock, so two processes sharing the
  database never overlap either.

Acquisition never waits: a held lock means "someone else is running it" (a scheduler tick skips, a
manual ETL run answers 409).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

log = logging.getLogger("devflow.db.locks")

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def advisory_key(name: str | bytes) -> int:
    """A stable signed 64-bit key for PostgreSQL advisory locks derived from a lock name."""
    raw = name.encode() if isinstance(name, str) else name
    digest = hashlib.sha256(b"devflow:" + raw).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _thread_lock(key: str) -> threading.Lock:
    with _thread_locks_guard:
        lock = _thread_locks.get(key)
        if lock is None:
            lock = _thread_locks[key] = threading.Lock()
        return lock


@contextmanager
def try_runner_lock(engine: Engine, data_dir: Path, name: str) -> Iterator[bool]:
    """Try to become the single runner of job ``name``; yields whether the lock is held."""
    if engine.dialect.name == "postgresql":
        with _pg_lock(engine, name) as held:
            yield held
    else:
        with _file_lock(_lock_folder(engine, data_dir), name) as held:
            yield held


def _lock_folder(engine: Engine, data_dir: Path) -> Path:
    """Processes sharing one SQLite file must exclude each other: lock next to the database file."""
    database = engine.url.database
    return Path(database).resolve().parent if database and database != ":memory:" else data_dir


FILE_LOCK_STRIPES = 64


def lock_stripe(key: bytes) -> int:
    """Which of the ``FILE_LOCK_STRIPES`` files guards ``key``."""
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "big") % FILE_LOCK_STRIPES


@contextmanager
def hold_striped_file_lock(engine: Engine, data_dir: Path, name: str, key: bytes) -> Iterator[None]:
    """Wait for an exclusive ``flock`` on the stripe of ``key`` among ``FILE_LOCK_STRIPES`` files
    ``locks/<name>-<n>.lock`` next to the SQLite database: a cross-process mutex per key (keys that
    share a stripe merely wait for each other) with a bounded number of files. Each holder opens its
    own descriptor, so threads of one process exclude each other as well."""
    stripe = lock_stripe(key)
    folder = _lock_folder(engine, data_dir) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"{name}-{stripe}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _pg_lock(engine: Engine, name: str) -> Iterator[bool]:
    key = advisory_key(name)
    # The thread lock keeps two threads of this process from sharing the pool's connections oddly;
    # the advisory lock (per connection) does the cross-process work.
    local = _thread_lock(f"pg:{engine.url}:{name}")
    if not local.acquire(blocking=False):
        yield False
        return
    try:
        with engine.connect() as conn:
            held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())
            conn.commit()
            try:
                yield held
            finally:
                if held:
                    try:
                        conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                        conn.commit()
                    except Exception:  # the connection broke: the server already dropped the lock
                        log.warning("could not release advisory lock %s; invalidating the connection", name)
                        conn.invalidate()
    finally:
        local.release()


@contextmanager
def _file_lock(data_dir: Path, name: str) -> Iterator[bool]:
    folder = data_dir / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = (folder / f"{name}.lock").resolve()
    local = _thread_lock(f"file:{path}")
    if not local.acquire(blocking=False):
        yield False
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    finally:
        local.release()
