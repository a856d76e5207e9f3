"""``devflow generate``: users with their time zone and a usable password, and ``labels.parquet``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
from litestar.testing import TestClient
from sqlalchemy import select

from devflow.accounts.models import User
from devflow.accounts.passwords import verify_password
from devflow.analytics import connect
from devflow.analytics.generate import LABELS_PATH, SYNTHETIC_PASSWORD, GenerateReport, write_synthetic
from devflow.analytics.synthetic import (
    LABELS_SCHEMA,
    PLANTED_PERSONAS,
    SyntheticSpec,
    dataset_labels,
    generate,
    plan_users,
)
from devflow.config import Settings
from devflow.db.engine import make_engine, make_session_factory
from devflow.lake.storage import LakeStorage

SPEC = SyntheticSpec(users=9, days=3, seed=13, end_date=date(2026, 5, 12))
NOW = datetime(2026, 5, 16, tzinfo=UTC)


def _write(settings: Settings, spec: SyntheticSpec, now: datetime = NOW) -> GenerateReport:
    engine = make_engine(settings.database_url)
    try:
        return write_synthetic(settings, spec, db=make_session_factory(engine), now=now)
    finally:
        engine.dispose()


def _users(settings: Settings) -> dict[str, User]:
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as db:
            return {user.username: user for user in db.scalars(select(User))}
    finally:
        engine.dispose()


def _keys(table: pa.Table) -> list[tuple[str, str]]:
    return [(row["session_id"], row["rule"]) for row in table.to_pylist()]


def _rows(table: pa.Table) -> set[tuple[Any, ...]]:
    return {tuple(row.values()) for row in table.to_pylist()}


def test_users_get_their_time_zone_and_one_shared_development_password(
    settings: Settings, client: TestClient[Any]
) -> None:
    _write(settings, SPEC)
    stored = _users(settings)
    planned = plan_users(SPEC)
    assert {u.username: u.time_zone for u in stored.values()} == {u.username: u.time_zone for u in planned}
    hashes = {user.password_hash for user in stored.values()}
    assert len(hashes) == 1, "one bcrypt hash per run, shared by every user"
    assert verify_password(SYNTHETIC_PASSWORD, hashes.pop())
    credentials = {"email": planned[0].email, "password": SYNTHETIC_PASSWORD}
    response = client.post("/api/v1/auth/login", json=credentials)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["username"] == planned[0].username


def test_existing_users_without_a_zone_or_password_get_them(settings: Settings) -> None:
    """Users written by an older generator (no zone, no password) are completed on the next run."""
    _write(settings, SPEC)
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine).begin() as db:
            for user in db.scalars(select(User)):
                user.time_zone = None
                user.password_hash = None
    finally:
        engine.dispose()
    assert _write(settings, SPEC).users_created == 0
    for user in _users(settings).values():
        assert user.time_zone is not None and verify_password(SYNTHETIC_PASSWORD, user.password_hash)


def test_labels_file_lists_the_written_sessions_and_keeps_earlier_runs(settings: Settings) -> None:
    report = _write(settings, SPEC)
    storage = LakeStorage.from_url(settings.lake_url)
    first = storage.read_table(LABELS_PATH)
    assert first.schema == LABELS_SCHEMA
    expected = dataset_labels(generate(SPEC))
    assert report.labels_written == first.num_rows == len(expected)
    assert set(_keys(first)) == {(label.session_id, label.rule) for label in expected}
    assert set(first["rule"].to_pylist()) == set(PLANTED_PERSONAS)
    events = connect(settings=settings).sql("SELECT DISTINCT session_id FROM events").fetchall()
    assert set(first["session_id"].to_pylist()) <= {sid for (sid,) in events}

    # The next days, in a second run: the first run's labels stay, nothing is listed twice.
    later = SyntheticSpec(users=9, days=2, seed=13, end_date=date(2026, 5, 14))
    again = _write(settings, later)
    merged = storage.read_table(LABELS_PATH)
    assert again.labels_written == len(dataset_labels(generate(later))) > 0
    assert len(_keys(merged)) == len(set(_keys(merged))) == first.num_rows + again.labels_written
    assert _rows(first) <= _rows(merged)
    assert _write(settings, later).labels_written == 0, "a re-run adds nothing"


def test_sessions_running_at_now_get_their_labels_on_a_later_run(settings: Settings) -> None:
    labels = dataset_labels(generate(SPEC))
    last = max(label.date for label in labels)
    midnight = datetime(last.year, last.month, last.day, tzinfo=UTC)  # that day's sessions are not over
    early = _write(settings, SPEC, now=midnight)
    assert 0 < early.labels_written < len(labels)
    assert early.labels_written + _write(settings, SPEC).labels_written == len(labels)
