"""Two server processes sharing one database and one lake never run the ETL at the same time
(contract §6.5, checklist 105's 409): both are hammered with manual runs while passes are slowed
by data volume; some runs get 409 and the recorded passes never overlap."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select

from bench.bulk_events import synthetic_events
from devflow.config import Settings
from devflow.db.engine import make_engine, make_session_factory
from devflow.lake.storage import LakeStorage
from devflow.metrics.models import EtlRun
from tests.conftest import BASE_ENV
from tests.support.accounts import create_user
from tests.support.lake import write_event_files
from tests.support.server import ServerProcess


def _post(url: str, jwt: str) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, method="POST", headers={"Authorization": f"Bearer {jwt}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.slow
def test_two_servers_share_one_etl_runner(
    make_settings: Callable[..., Settings], database_url: str, tmp_path: Path
) -> None:
    settings = make_settings()
    admin = create_user(settings)
    lake_dir = tmp_path / "lake"
    storage = LakeStorage.from_url(str(lake_dir))
    engine = make_engine(database_url)
    db = make_session_factory(engine)
    users = [str(admin.id)] + [str(create_user(settings).id) for _ in range(3)]
    for chunk in range(6):  # 6 × 40k rows: every pass has real work to do
        table = synthetic_events(40_000, user_ids=users, start=dt.date(2026, 5, 1), days=10, seed=chunk)
        write_event_files(storage, db, table)
    env = {
        **BASE_ENV,
        "DATABASE_URL": database_url,
        "DEVFLOW_LAKE_URL": str(lake_dir),
        "ADMIN_USER_IDS": str(admin.id),
        "METRICS_ETL_BATCH_SIZE": "40000",
    }
    servers = [
        ServerProcess(
            {**env, "DEVFLOW_DATA_DIR": str(tmp_path / name)},
            log_path=tmp_path / f"{name}.log",
            extra_args=["--workers", "1"],  # two processes race for the runner: the servers
        )
        for name in ("a", "b")
    ]
    try:
        for server in servers:
            server.start()
        urls = [s.base_url + "/api/v1/metrics/etl/run" for s in servers]
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda i: _post(urls[i % 2], admin.jwt), range(24)))
    finally:
        for server in servers:
            server.stop()
    statuses = [status for status, _ in results]
    assert set(statuses) <= {200, 409}
    assert 200 in statuses and 409 in statuses, statuses
    assert all(body == {"error": "ETL pass already in flight"} for status, body in results if status == 409)
    with db() as session:
        runs = session.scalars(select(EtlRun).order_by(EtlRun.started_at)).all()
    engine.dispose()
    assert len(runs) == statuses.count(200)
    for earlier, later in itertools.pairwise(runs):
        assert earlier.finished_at is not None and earlier.finished_at <= later.started_at
    # every row was taken in exactly once across both processes
    assert sum(r.processed_count for r in runs) == max(r.watermark_after for r in runs)
