"""Scale-out proof (issue 15): three ``devflow serve`` processes with their own data dirs share one
PostgreSQL database and one S3 lake (moto on 127.0.0.1) and take telemetry at once; one is SIGKILLed
mid-load and restarted. Every acknowledged event is in the lake exactly once, the scheduled ETL ran
once per tick across the three (never overlapping), and the metrics they computed incrementally
equal a full rebuild.

PostgreSQL is what replicas share, so this test always uses it: the suite's database when
``DEVFLOW_TEST_DATABASE_URL`` is set, else a throwaway database on the local server (127.0.0.1:5432).
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from devflow.analytics.events_view import connect_lake
from devflow.config import Settings
from devflow.db.engine import make_engine
from devflow.db.migrate import upgrade
from devflow.lake.storage import LakeStorage
from devflow.metrics.models import EtlRun
from devflow.services import build_services, close
from tests.conftest import BASE_ENV
from tests.metrics.events import editor_switch, file_save, text_change
from tests.support.accounts import TestUser, create_user
from tests.support.s3 import moto_lake
from tests.support.server import ServerProcess

SERVERS = 3
CLIENTS_PER_SERVER = 2
BATCH = 40
ETL_INTERVAL_SECONDS = 1.0
LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture()
def shared_database() -> Iterator[str]:
    """A throwaway, migrated PostgreSQL database of its own (never the suite's SQLite file)."""
    base = make_url(os.environ.get("DEVFLOW_TEST_DATABASE_URL", "").strip() or LOCAL_POSTGRES)
    name = f"devflow_scale_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base.set(database="postgres").render_as_string(hide_password=False))
    admin = admin.execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _post(port: int, token: str, events: list[dict[str, Any]]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request(
            "POST",
            "/api/v1/telemetry",
            body=json.dumps({"events": events}),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _batch(session_id: str, start: datetime, n: int) -> list[dict[str, Any]]:
    """Edits, saves and switches (so every metric has something to count), one per millisecond."""
    events: list[dict[str, Any]] = []
    for k in range(n):
        ts = _iso(start + timedelta(milliseconds=k))
        path = f"src/file{k % 5}.ts"
        if k % 4 == 0:
            events.append(editor_switch(ts, session_id, path, rapid=k % 8 == 0, from_file="src/file0.ts"))
        elif k % 4 == 1:
            events.append(file_save(ts, session_id, path, 100 + k))
        else:
            events.append(text_change(ts, session_id, path, 100 + k, [(k, k + 2)], 30 + k, k % 7))
    return events


def _metric_rows(storage: LakeStorage) -> dict[str, list[str]]:
    """Every metric dataset's rows (any ``metrics_*`` folder), canonically ordered."""
    datasets: dict[str, list[str]] = {}
    for info in storage.list_parquet(""):
        folder = info.path.split("/", 1)[0]
        if not folder.startswith("metrics_"):
            continue
        table: pa.Table = storage.read_table(info.path)
        rows = [json.dumps(row, default=str, sort_keys=True) for row in table.to_pylist()]
        datasets.setdefault(folder, []).extend(rows)
    return {name: sorted(rows) for name, rows in datasets.items()}


@pytest.mark.slow
def test_three_servers_one_database_one_lake(
    shared_database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with moto_lake(monkeypatch) as lake_url:
        settings = Settings.from_env(
            {**BASE_ENV, "DATABASE_URL": shared_database, "DEVFLOW_DATA_DIR": str(tmp_path / "tests")}
        ).with_dev_secret()
        users: list[TestUser] = [create_user(settings) for _ in range(SERVERS * CLIENTS_PER_SERVER)]
        env = {
            **BASE_ENV,
            "DATABASE_URL": shared_database,
            "DEVFLOW_LAKE_URL": lake_url,
            "JWT_SECRET": settings.jwt_secret,
            "DEVFLOW_LAKE_FLUSH_SECONDS": "0.5",
            "METRICS_ETL_ENABLED": "true",
            "METRICS_ETL_INTERVAL_SECONDS": str(ETL_INTERVAL_SECONDS),
        }
        servers = [
            ServerProcess(
                {**env, "DEVFLOW_DATA_DIR": str(tmp_path / f"node{n}")},
                log_path=tmp_path / f"node{n}.log",
                extra_args=["--workers", "1"],
            )
            for n in range(SERVERS)
        ]
        for n, server in enumerate(servers):  # one after the other: their scheduler ticks are out of phase
            server.start()
            time.sleep(0.35 * n)
        acked: list[list[dict[str, Any]]] = []
        lock = threading.Lock()
        stop = threading.Event()

        def client(n: int) -> None:
            server, user = servers[n % SERVERS], users[n]
            session_id = str(uuid.uuid4())
            start = datetime(2026, 5, 10, 23, 59, 50, tzinfo=UTC) + timedelta(minutes=n)  # two UTC days
            k = 0
            while not stop.is_set():
                events = _batch(session_id, start + timedelta(seconds=k), BATCH)
                k += 1
                try:
                    status = _post(server.port, user.token, events)
                except (ConnectionError, OSError, http.client.HTTPException):
                    time.sleep(0.2)  # this node is down: its client tries it again (never resends)
                    continue
                if status == 202:
                    with lock:
                        acked.append(events)

        def acked_batches() -> int:
            with lock:
                return len(acked)

        def wait_for(batches: int) -> None:
            deadline = time.monotonic() + 60
            while acked_batches() < batches and time.monotonic() < deadline:
                time.sleep(0.05)

        clients = [threading.Thread(target=client, args=(n,)) for n in range(len(users))]
        try:
            for thread in clients:
                thread.start()
            wait_for(40)
            servers[0].kill()  # SIGKILL mid-load: its spool holds acknowledged events
            killed_at = acked_batches()
            servers[0].start()  # same data dir and port: replays its spool, takes load again
            wait_for(killed_at + 40)
        finally:
            stop.set()
            for thread in clients:
                thread.join(30)
            for server in servers:
                server.stop()  # graceful: each flushes its own spool
        assert acked_batches() >= 80, "the servers acknowledged too few batches"

        storage = LakeStorage.from_url(lake_url)
        con = connect_lake(storage)
        stored = con.sql(
            "SELECT session_id, strftime(timestamp, '%Y-%m-%dT%H:%M:%S.%g') || 'Z', count(*) "
            "FROM events_all GROUP BY ALL"
        ).fetchall()
        copies = {(session, ts): count for session, ts, count in stored}
        expected = {(e["session_id"], e["timestamp"]) for batch in acked for e in batch}
        assert expected <= copies.keys(), "an acknowledged event is missing from the lake"
        assert {copies[key] for key in expected} == {1}, "an acknowledged event is stored twice"

        engine = make_engine(shared_database)
        with engine.connect() as conn:
            runs = conn.execute(
                select(EtlRun.started_at, EtlRun.finished_at).order_by(EtlRun.started_at)
            ).all()
        engine.dispose()
        assert len(runs) >= 3, "the scheduled ETL ran on the shared database"
        for (_, finished), (started, _) in itertools.pairwise(runs):
            assert started >= finished, "two ETL passes overlapped"
        gaps = [(b[0] - a[0]).total_seconds() for a, b in itertools.pairwise(runs)]
        assert min(gaps) >= 0.8 * ETL_INTERVAL_SECONDS * 0.99, "more than one pass in one tick"

        # What the three computed incrementally (plus the files flushed at shutdown) = a full rebuild.
        services = build_services(settings.replace(lake_url=lake_url))
        try:
            assert services.metrics.run_locked_pass(take_all=True) is not None
            incremental = _metric_rows(storage)
            assert services.metrics.run_locked_pass(rebuild=True) is not None
            rebuilt = _metric_rows(storage)
        finally:
            close(services)
        assert incremental and incremental == rebuilt
