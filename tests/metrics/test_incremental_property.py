"""Incremental ETL == full rebuild == an independent reference of §6, whatever the batch splits,
duplicates and out-of-order timestamps (DESIGN invariant; checklist 86)."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient

from devflow.app import create_app
from devflow.config import Settings
from devflow.db.engine import make_engine, make_session_factory
from devflow.lake.storage import LakeStorage
from devflow.metrics import (
    METRICS_CODING_TIME_DIR,
    METRICS_DAILY_DIR,
    METRICS_FILE_SWITCHES_DIR,
    METRICS_SESSION_DIR,
)
from devflow.metrics.etl import EtlEnv, run_pass
from devflow.metrics.layout import METRICS_QUARTER_HOURS_DIR
from tests.metrics.events import (
    churn,
    editor_switch,
    file_save,
    run_etl_until_idle,
    send,
    switching,
    text_change,
)
from tests.metrics.reference import coding_reference, reference
from tests.support.accounts import TestUser, create_user

FILES = ["src/a.ts", "src/b.ts", "README.md"]


def _random_event(rng: random.Random, session_id: str) -> dict[str, Any]:
    when = dt.datetime(2026, 5, 10, 22, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=rng.randrange(0, 3 * 3600))
    ts = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{rng.randrange(0, 3) * 100:03d}Z"  # same-ts ties happen
    path = rng.choice(FILES)
    kind = rng.random()
    event = _random_kind(rng, kind, ts, session_id, path)
    if "file" in event:  # attribution of coding time: languages and workspaces vary
        event["file"]["language"] = rng.choice(["typescript", "python"])
        event["file"]["workspace"] = rng.choice(["acme-web", "acme-api"])
    return event


def _random_kind(rng: random.Random, kind: float, ts: str, session_id: str, path: str) -> dict[str, Any]:
    if kind < 0.45:
        start = rng.randrange(1, 40)
        ranges = [(start, start + rng.choice([0, 0, 1, 3, 7]))]
        if rng.random() < 0.1:
            ranges.append((start + 2, start))  # end < start contributes nothing
        lines = rng.randrange(1, 60)
        return text_change(
            ts, session_id, path, lines, ranges, rng.choice([0, 1, 5, 80, 300]), rng.choice([0, 3])
        )
    if kind < 0.6:
        return file_save(ts, session_id, path, rng.randrange(1, 60))
    return editor_switch(ts, session_id, rng.choice([*FILES, ""]), rapid=rng.random() < 0.3)


def _check_daily(
    client: TestClient[Any], users: list[TestUser], accepted: list[tuple[TestUser, dict[str, Any]]], zone: str
) -> None:
    """Daily churn, switches and top files in ``zone``'s days equal the reference's."""
    daily, _ = reference([(str(u.id), e) for u, e in accepted], "line-delta", zone)
    tz = "" if zone == "UTC" else f"&tz={zone}"
    for user in users:
        body = churn(client, user, f"from=2026-05-10&to=2026-05-12{tz}")
        sw = switching(client, user, f"from=2026-05-10&to=2026-05-12&top_n=20{tz}")
        for entry, sw_entry in zip(body["series"], sw["series"], strict=True):
            ref = daily.get((str(user.id), entry["date"]))
            assert entry["lines_added"] == (ref.lines_added if ref else 0)
            assert entry["lines_deleted"] == (ref.lines_deleted if ref else 0)
            assert sw_entry["switch_count"] == (ref.switch_count if ref else 0)
            assert sw_entry["rapid_switch_count"] == (ref.rapid_switch_count if ref else 0)
        files: Counter[str] = Counter()
        for (uid, day), totals in daily.items():
            if uid == str(user.id) and "2026-05-10" <= day <= "2026-05-12":
                files.update(totals.files)
        expected = sorted(files.items(), key=lambda item: (-item[1], item[0]))[:20]
        assert [(f["path"], f["count"]) for f in sw["top_files"]] == expected


def _snapshot(storage: LakeStorage) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for prefix in (
        METRICS_DAILY_DIR,
        METRICS_SESSION_DIR,
        METRICS_FILE_SWITCHES_DIR,
        METRICS_CODING_TIME_DIR,
        METRICS_QUARTER_HOURS_DIR,
    ):
        for f in storage.list_parquet(prefix):
            rows = storage.read_table(f.path).to_pylist()
            out[f.path] = sorted(rows, key=lambda r: repr(sorted(r.items())))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_etl_equals_rebuild_and_reference(
    make_settings: Callable[..., Settings], seed: int
) -> None:
    rng = random.Random(seed)
    base = make_settings()
    users = [create_user(base) for _ in range(2)]
    sessions = {u.id: [str(uuid.uuid4()) for _ in range(3)] for u in users}
    accepted: list[tuple[TestUser, dict[str, Any]]] = []
    pool: list[tuple[TestUser, dict[str, Any]]] = []
    for _ in range(160):
        user = rng.choice(users)
        event = _random_event(rng, rng.choice(sessions[user.id]))
        pool.append((user, event))
    settings = make_settings(
        ADMIN_USER_IDS=str(users[0].id), METRICS_ETL_BATCH_SIZE=str(rng.choice([1, 7, 40]))
    )
    with TestClient(app=create_app(settings), raise_server_exceptions=False) as client:
        i = 0
        while i < len(pool):
            size = rng.randrange(1, 25)
            chunk = pool[i : i + size]
            i += size
            if accepted and rng.random() < 0.4:  # the extension re-sends already committed events
                chunk = chunk + rng.sample(accepted, min(len(accepted), rng.randrange(1, 6)))
            rng.shuffle(chunk)
            for user in users:
                mine = [e for u, e in chunk if u is user]
                if mine:
                    body = send(client, user, mine)
                    assert body["accepted_count"] == len(mine)
                    accepted.extend((user, e) for e in mine)
            if rng.random() < 0.5:  # a pass between some batches, possibly not catching up
                client.post("/api/v1/metrics/etl/run", headers=users[0].jwt_headers)
        passes = run_etl_until_idle(client, users[0])
        assert passes[-1]["watermark_after"] == len(accepted)  # every stored row taken in once
        storage = LakeStorage.from_url(settings.lake_url)
        incremental = _snapshot(storage)

        for zone in ("UTC", "Asia/Kathmandu", "America/New_York"):
            _check_daily(client, users, accepted, zone)
        daily, per_session = reference([(str(u.id), e) for u, e in accepted], "line-delta")
        for user in users:
            body = churn(client, user, "from=2026-05-10&to=2026-05-12")
            assert body["total_lines_added"] == sum(
                t.lines_added for (uid, _), t in daily.items() if uid == str(user.id)
            )
            by_session = churn(client, user, "from=2026-05-10&to=2026-05-12&grain=session")["sessions"]
            for s in by_session:
                ref_s = per_session[s["session_id"]]
                assert (s["total_lines_added"], s["total_lines_deleted"]) == (
                    ref_s.lines_added,
                    ref_s.lines_deleted,
                )

    engine = make_engine(settings.database_url)
    try:
        env = EtlEnv(settings=settings, db=make_session_factory(engine), storage=storage)
        result = run_pass(env, rebuild=True)
    finally:
        engine.dispose()
    assert result.full and result.processed_count == 0
    assert _snapshot(storage) == incremental
    assert incremental, "the random data produced metrics"

    # Coding time and session facts against the row-by-row reference.
    coding, facts = coding_reference([(str(u.id), e) for u, e in accepted])
    stored: dict[tuple[Any, ...], float] = {}
    for f in storage.list_parquet(METRICS_CODING_TIME_DIR):
        for r in storage.read_table(f.path).to_pylist():
            key = (r["user_id"], r["session_id"], r["bucket_start"], r["language"], r["workspace"], r["file"])
            assert key not in stored and r["date"] == r["bucket_start"].date()
            stored[key] = r["seconds"]
    assert stored.keys() == coding.keys() and len(stored) > 10
    for key, seconds in coding.items():
        assert stored[key] == pytest.approx(seconds, abs=1e-6)
    sessions_stored = {
        r["session_id"]: r
        for f in storage.list_parquet(METRICS_SESSION_DIR)
        for r in storage.read_table(f.path).to_pylist()
    }
    assert sessions_stored.keys() == facts.keys()
    for sid, fact in facts.items():
        row = sessions_stored[sid]
        assert (row["started_at"], row["ended_at"]) == (fact.started_at, fact.ended_at)
        assert row["duration_seconds"] == pytest.approx((fact.ended_at - fact.started_at).total_seconds())
        assert row["active_seconds"] == pytest.approx(fact.active_seconds, abs=1e-6)
        assert {k: row[f"{k}_count"] for k in fact.counts} == dict(fact.counts)
        assert row["coding_gap_minutes"] == 10.0
