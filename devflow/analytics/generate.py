"""``devflow generate``: synthetic telemetry written through the same path the ingest API uses.

Users go into the ``users`` table (through the accounts model), sessions are claimed with the
ingest's own :func:`~devflow.telemetry.claim_sessions` (``start_time``/``last_event_at``), and events
become the ingest's spool rows (:func:`~devflow.telemetry.spool_events_columns`, with §4.7
fingerprints), completed to ``EVENT_SCHEMA`` by the events table's own ``finish`` (as the lake
writer's flush does), and land in ``events/date=…/`` through the lake's partition writer, registered
in ``lake_files`` for the ETL.

Every synthetic user gets their time zone (``users.time_zone``) and the development password
``devflow-synthetic`` (:data:`SYNTHETIC_PASSWORD`), so anyone can log in as them and call the API;
it is development data, never a real account. One bcrypt hash is computed per run and shared.

Next to the events, ``<lake>/labels.parquet`` lists the sessions each persona is designed to get
nudged in (user_id, session_id, UTC date, rule, persona; see
:mod:`devflow.analytics.synthetic.labels`): ground truth for backtests. Sessions still running at
``now`` get their labels on a later run; labels of earlier runs are kept.

Re-running with the same seed is idempotent for readers: the users already exist, the session ids
and fingerprints are the same, and the de-duplicated views count each event once.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import msgspec
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devflow.accounts import User, hash_password
from devflow.analytics.synthetic import (
    LABELS_SCHEMA,
    SessionLabel,
    SyntheticSpec,
    SyntheticUser,
    UserDay,
    day_range,
    generate_user_day,
    labels_table,
    plan_users,
    session_labels,
)
from devflow.config import Settings
from devflow.kernel.clock import epoch_us, from_epoch_us
from devflow.lake.partitions import write_partitioned
from devflow.lake.registry import register_files
from devflow.lake.storage import LakeStorage
from devflow.telemetry import EVENTS_TABLE, claim_sessions, fingerprint, spool_events_columns, spool_table

log = logging.getLogger("devflow.analytics")

_raw_encoder = msgspec.json.Encoder()  # compact, keys in the extension's order
#: The extension syncs every 60 s: a user-day's events are received shortly after the last one.
RECEIVE_DELAY = timedelta(seconds=30)
#: The password of every synthetic user (development data only).
SYNTHETIC_PASSWORD = "devflow-synthetic"
#: Ground-truth labels, at the lake root next to ``events/``.
LABELS_PATH = "labels.parquet"


@dataclass(slots=True)
class GenerateReport:
    """What ``devflow generate`` wrote."""

    users_created: int = 0
    user_days: int = 0
    events_written: int = 0
    events_skipped_future: int = 0
    sessions: int = 0
    files_written: int = 0
    labels_written: int = 0  # new rows of labels.parquet
    seconds: float = 0.0
    planted: dict[str, list[str]] = field(default_factory=dict)  # persona → usernames


def ensure_users(db: sessionmaker[Session], users: list[SyntheticUser], cost: int) -> int:
    """Insert the synthetic users that do not exist yet (by id), with their time zone and the
    development password; fill in either on existing rows that lack it (users of older runs).
    Return how many were created."""
    password_hash: str | None = None

    def development_hash() -> str:
        # bcrypt is slow by design: one hash for the whole run, shared by every user.
        nonlocal password_hash
        if password_hash is None:
            password_hash = hash_password(SYNTHETIC_PASSWORD, cost)
        return password_hash

    with db.begin() as tx:
        rows = tx.scalars(select(User).where(User.id.in_([u.user_id for u in users])))
        known = {row.id: row for row in rows}
        created = 0
        for user in users:
            row = known.get(user.user_id)
            if row is not None:
                if row.time_zone is None:
                    row.time_zone = user.time_zone
                if row.password_hash is None:
                    row.password_hash = development_hash()
                continue
            tx.add(
                User(
                    id=user.user_id,
                    username=user.username,
                    email=user.email,
                    provider="password",
                    provider_user_id=user.email,
                    password_hash=development_hash(),
                    time_zone=user.time_zone,
                )
            )
            created += 1
    return created


def _deterministic_batch_id(user: SyntheticUser, received_us: int, seed: int) -> str:
    """A UUIDv7-shaped batch id derived from the receive time, so re-runs write identical rows."""
    ms = received_us // 1000
    rand = uuid.uuid5(uuid.NAMESPACE_OID, f"devflow-batch:{seed}:{user.index}:{ms}").int
    value = (
        (ms & ((1 << 48) - 1)) << 80
        | 0x7 << 76
        | (rand & 0xFFF) << 64
        | 0b10 << 62
        | (rand >> 64) & ((1 << 62) - 1)
    )
    return str(uuid.UUID(int=value))


def user_day_table(
    spec: SyntheticSpec, user_day: UserDay, not_after_us: int | None = None
) -> pa.Table | None:
    """The spool rows (identity + raw JSON) of one user-day, as the ingest route builds them for one
    request; events after ``not_after_us`` are left out. The events table's ``finish`` derives the
    typed columns, as the lake writer's flush does."""
    events = user_day.events
    stamps = [ms * 1000 for ms in user_day.timestamps_ms]
    if not_after_us is not None and stamps and stamps[-1] > not_after_us:
        keep = [i for i, ts in enumerate(stamps) if ts <= not_after_us]
        events = [events[i] for i in keep]
        stamps = [stamps[i] for i in keep]
    if not events:
        return None
    received = from_epoch_us(max(stamps)) + RECEIVE_DELAY
    received_us = max(stamps) + int(RECEIVE_DELAY.total_seconds() * 1_000_000)
    rows = spool_events_columns(
        user_id=str(user_day.user.user_id),
        received_at=received,
        batch_id=_deterministic_batch_id(user_day.user, received_us, spec.seed),
        batch_indexes=range(len(events)),
        session_ids=[e["session_id"] for e in events],
        kinds=[e["type"] for e in events],
        timestamps_us=stamps,
        # Synthetic events hold no floats: the fast canonical encoder gives the same bytes (§4.7).
        fingerprints=[fingerprint(e, may_contain_floats=False) for e in events],
        raws=[_raw_encoder.encode(e) for e in events],
    )
    return spool_table(rows)


def write_synthetic(
    settings: Settings,
    spec: SyntheticSpec,
    *,
    db: sessionmaker[Session],
    now: datetime | None = None,
    chunk_days: int = 7,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> GenerateReport:
    """Generate ``spec`` and write it: users and sessions to the database, events to the lake.

    Events later than ``now`` (default: the current time) are left out, as the API would reject
    them. Work is done ``chunk_days`` local days at a time: each user's sessions of the chunk are
    claimed first, then the chunk's events are written (one file per UTC date), the order the
    ingest API follows. ``workers`` > 1 builds the events in that many processes (same output).
    ``progress(done, total)`` is called with the user-days written so far after each chunk.
    """
    started = time.perf_counter()
    storage = LakeStorage.from_url(settings.lake_url)
    users = plan_users(spec)
    report = GenerateReport()
    report.users_created = ensure_users(db, users, settings.password_bcrypt_cost)
    report.planted = {}
    for user in users:
        if user.persona != "regular":
            report.planted.setdefault(user.persona, []).append(user.username)
    not_after_us = epoch_us(now or datetime.now(UTC))
    days = day_range(spec)
    chunks = [days[first : first + chunk_days] for first in range(0, len(days), chunk_days)]
    slices = _slices(len(users), max(1, workers) * 2)
    labels: list[SessionLabel] = []
    pool = None
    if workers > 1:
        # Generation and the Arrow mapping are CPU-bound Python: spread users over processes.
        # The database and the lake are written by this process only, in order.
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:

        def submit(chunk: list[date]) -> list[Future[list[_UserChunk]]]:
            assert pool is not None
            return [pool.submit(build_user_chunks, spec, part, chunk, not_after_us) for part in slices]

        pending = submit(chunks[0]) if pool is not None else []
        for position, chunk in enumerate(chunks):
            if pool is not None:
                current = pending
                if position + 1 < len(chunks):
                    pending = submit(chunks[position + 1])  # overlap the next chunk with this write
                results = [item for future in current for item in future.result()]
            else:
                results = build_user_chunks(spec, range(len(users)), chunk, not_after_us)
            _write_chunk(db, storage, users, results, report, labels)
            if progress is not None:
                done = sum(len(c) for c in chunks[: position + 1])
                progress(done * len(users), len(days) * len(users))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    report.labels_written = write_labels(storage, labels)
    report.seconds = time.perf_counter() - started
    return report


@dataclass(slots=True)
class _UserChunk:
    """One user's rows for a chunk of days, built in a worker process."""

    user_index: int
    table: pa.Table | None
    user_days: int
    skipped_future: int
    labels: list[SessionLabel]


def build_user_chunks(
    spec: SyntheticSpec, user_indexes: Sequence[int], days: Sequence[date], not_after_us: int
) -> list[_UserChunk]:
    """The spool rows of some users over some days (may run in a worker process)."""
    users = plan_users(spec)
    out: list[_UserChunk] = []
    for index in user_indexes:
        tables: list[pa.Table] = []
        labels: list[SessionLabel] = []
        user_days = skipped = 0
        for day in days:
            user_day = generate_user_day(spec, users[index], day)
            table = user_day_table(spec, user_day, not_after_us)
            if table is None:
                continue
            user_days += 1
            skipped += len(user_day.events) - table.num_rows
            tables.append(table)
            labels.extend(session_labels(user_day, complete_by_ms=not_after_us // 1000))
        chunk = _UserChunk(index, pa.concat_tables(tables) if tables else None, user_days, skipped, labels)
        out.append(chunk)
    return out


def _write_chunk(
    db: sessionmaker[Session],
    storage: LakeStorage,
    users: list[SyntheticUser],
    results: list[_UserChunk],
    report: GenerateReport,
    labels: list[SessionLabel],
) -> None:
    """Claim the chunk's sessions user by user, then write its events (one file per UTC date);
    the labels of the sessions written are appended to ``labels``."""
    tables: list[pa.Table] = []
    for result in sorted(results, key=lambda r: r.user_index):
        report.user_days += result.user_days
        report.events_skipped_future += result.skipped_future
        if result.table is None:
            continue
        spans = _spans(result.table)
        conflicts = claim_sessions(db, users[result.user_index].user_id, spans, check_user_exists=False)
        if conflicts:  # only possible if another user already owns these ids
            log.warning("skipping %d synthetic sessions owned by someone else", len(conflicts))
            continue
        report.sessions += len(spans)
        tables.append(result.table)
        labels.extend(result.labels)
    if tables:
        combined = EVENTS_TABLE.complete(tables, [None] * len(tables))
        files = write_partitioned(storage, EVENTS_TABLE, combined)
        register_files(db, files)
        report.files_written += len(files)
        report.events_written += combined.num_rows


def write_labels(storage: LakeStorage, labels: list[SessionLabel]) -> int:
    """Merge ``labels`` into ``<lake>/labels.parquet``: one row per (session_id, rule), a row already
    there is kept. Return how many rows were new."""
    rows = storage.read_table(LABELS_PATH).to_pylist() if storage.exists(LABELS_PATH) else []
    seen = {(row["session_id"], row["rule"]) for row in rows}
    before = len(rows)
    for row in labels_table(labels).to_pylist():
        key = (row["session_id"], row["rule"])
        if key not in seen:
            seen.add(key)
            rows.append(row)
    if len(rows) > before or not storage.exists(LABELS_PATH):
        rows.sort(key=lambda row: (row["date"], row["user_id"], row["session_id"], row["rule"]))
        storage.write_parquet_atomic(LABELS_PATH, pa.Table.from_pylist(rows, schema=LABELS_SCHEMA))
    return len(rows) - before


def _slices(count: int, parts: int) -> list[range]:
    """``range(count)`` cut into at most ``parts`` contiguous, non-empty pieces."""
    size = max(1, -(-count // parts))
    return [range(first, min(count, first + size)) for first in range(0, count, size)]


def _spans(table: pa.Table) -> dict[str, tuple[int, int]]:
    """(earliest, latest) µs per session id of a user-day table."""
    import pyarrow.compute as pc

    grouped = (
        pa.table({"s": table["session_id"], "t": table["timestamp"].cast(pa.int64())})
        .group_by("s")
        .aggregate([("t", "min"), ("t", "max")])
    )
    return {
        sid: (int(lo), int(hi))
        for sid, lo, hi in zip(
            grouped["s"].to_pylist(),
            pc.cast(grouped["t_min"], pa.int64()).to_pylist(),
            pc.cast(grouped["t_max"], pa.int64()).to_pylist(),
            strict=True,
        )
    }


def default_end_date(now: datetime | None = None) -> date:
    """The last generated local day by default: today (events in the future are left out)."""
    return (now or datetime.now(UTC)).date()
