"""Server time of the built-in dashboard page for a user with 30 days of data, on the embedded
default (SQLite, local lake), against the same run's references: GET /api/v1/health (the floor of any
request) and the two metrics API calls whose bodies the page renders.

    .venv/bin/python bench/web.py --requests 300

Target (issue 12): the dashboard renders in <= 150 ms server time. Requests go one at a time over one
keep-alive connection to a real ``devflow serve`` on 127.0.0.1 (its default two workers; figures are
taken after both workers' partition caches are warm), so a request's latency is its server time plus
the loopback overhead that the health check shows. The server is stopped and its folder removed at
the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

from bulk_events import synthetic_events, write_event_files

from devflow.accounts.credentials import issue_jwt
from devflow.accounts.models import User
from devflow.config import Settings
from devflow.db.engine import make_engine, make_session_factory
from devflow.db.migrate import upgrade
from devflow.insights.models import Recommendation, WorkflowState
from devflow.lake.storage import LakeStorage
from devflow.metrics.etl import EtlEnv, run_pass

DAYS = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _seed(settings: Settings, users: int, events: int, end: dt.date) -> uuid.UUID:
    """The benchmark user (and ``users - 1`` others sharing the partitions), 30 days of events, the
    ETL's metrics, and a few answered and one pending recommendation."""
    engine = make_engine(settings.database_url)
    upgrade(engine)
    db = make_session_factory(engine)
    user_id = uuid.uuid4()
    now = dt.datetime.combine(end, dt.time(12), tzinfo=dt.UTC)
    with db.begin() as session:
        session.add(
            User(
                id=user_id,
                username=f"bench-{user_id.hex[:8]}",
                email="bench@example.com",
                provider="password",
                provider_user_id="bench@example.com",
                password_hash=None,
            )
        )
        session.flush()
        for i, action in enumerate(["accepted", "snoozed", "dismissed", "accepted", None]):
            state = WorkflowState(
                user_id=user_id, state_type="high_churn", confidence_score=Decimal("0.70"), created_at=now
            )
            session.add(state)
            session.flush()
            session.add(
                Recommendation(
                    user_id=user_id,
                    workflow_state_id=state.id,
                    recommendation_type="change_approach",
                    recommendation_text="Write a failing test first.",
                    code_context={"evidence": [{"metric": "churn_ratio", "value": 0.61}]},
                    user_action=action,
                    created_at=now - dt.timedelta(hours=5 - i),
                )
            )
    storage = LakeStorage.from_url(settings.lake_url)
    user_ids = [str(user_id)] + [str(uuid.uuid4()) for _ in range(users - 1)]
    start = end - dt.timedelta(days=DAYS - 1)
    written, seed = 0, 0
    while written < events:
        n = min(1_000_000, events - written)
        write_event_files(
            storage, db, synthetic_events(n, user_ids=user_ids, start=start, days=DAYS, seed=seed)
        )
        written, seed = written + n, seed + 1
    t0 = time.perf_counter()
    run_pass(EtlEnv(settings=settings, db=db, storage=storage), rebuild=True)
    print(
        f"seeded {written:,} events for {users} users over {DAYS} days "
        f"(~{written // users // DAYS:,} per user-day); ETL rebuild {time.perf_counter() - t0:.1f} s"
    )
    engine.dispose()
    return user_id


def _timed(conn: http.client.HTTPConnection, path: str, headers: dict[str, str], count: int) -> list[float]:
    latencies = []
    body = b""
    for _ in range(count):
        t0 = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        latencies.append((time.perf_counter() - t0) * 1000)
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}: {body[:200]!r}")
    if path.startswith("/dashboard") and (b'id="lines-added">0<' in body or b'id="top-files"' not in body):
        raise RuntimeError("the dashboard shows no data: the benchmark would time an empty page")
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300, help="timed requests per path")
    parser.add_argument("--events", type=int, default=1_500_000, help="events over all users and 30 days")
    parser.add_argument("--users", type=int, default=5, help="users sharing the daily partitions")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="devflow-bench-web-"))
    secret = "bench-secret-which-is-long-enough-for-hs256"
    env = {
        "DEVFLOW_DATA_DIR": str(work),
        "JWT_SECRET": secret,
        "METRICS_ETL_ENABLED": "false",
        "INSIGHTS_ENABLED": "false",
        "LOG_LEVEL": "warning",
    }
    end = dt.datetime.now(dt.UTC).date()
    settings = Settings.from_env(env)
    user_id = _seed(settings, args.users, args.events, end)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "devflow", "serve", "--port", str(port)],
        env={"PATH": "/usr/bin:/bin", **env, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                probe.request("GET", "/api/v1/health")
                if probe.getresponse().status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        jwt = issue_jwt(secret, user_id, "password")
        date_from = (end - dt.timedelta(days=DAYS - 1)).isoformat()
        query = f"from={date_from}&to={end.isoformat()}"
        bearer = {"Authorization": f"Bearer {jwt}"}
        cookie = {"Cookie": f"session={jwt}"}
        paths = [
            ("GET /api/v1/health (reference)", "/api/v1/health", {}),
            ("GET /api/v1/metrics/churn 30 days", f"/api/v1/metrics/churn?{query}", bearer),
            (
                "GET /api/v1/metrics/context-switching 30 days",
                f"/api/v1/metrics/context-switching?{query}",
                bearer,
            ),
            ("GET /dashboard?range=30d (page)", "/dashboard?range=30d", cookie),
            ("GET /dashboard?range=7d (page)", "/dashboard?range=7d", cookie),
        ]
        first = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        cold = _timed(first, "/dashboard?range=30d", cookie, 1)[0]
        first.close()
        print(f"first dashboard request of a fresh server (30 Parquet partitions read): {cold:.1f} ms")
        results: dict[str, tuple[float, float]] = {}
        for label, path, headers in paths:
            # A fresh connection per path: uvicorn pins a connection to one worker; several warm-ups
            # on new connections warm both workers' partition caches.
            for _ in range(6):
                warm = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                _timed(warm, path, headers, 3)
                warm.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            latencies = _timed(conn, path, headers, args.requests)
            conn.close()
            p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
            results[label] = (p50, p99)
            print(f"{label:<48} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")
        page_p50, page_p99 = results["GET /dashboard?range=30d (page)"]
        health_p50, _ = results["GET /api/v1/health (reference)"]
        api_p50 = (
            results["GET /api/v1/metrics/churn 30 days"][0]
            + results["GET /api/v1/metrics/context-switching 30 days"][0]
        )
        print(
            f"dashboard 30 days: p50 {page_p50:.1f} ms, p99 {page_p99:.1f} ms (target <= 150 ms); "
            f"{page_p50 / health_p50:.1f}x the health check, {page_p50 / api_p50:.2f}x the two API calls it "
            f"replaces ({api_p50:.1f} ms together)"
        )
    finally:
        server.terminate()
        server.wait(15)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
