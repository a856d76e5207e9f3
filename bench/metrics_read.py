"""Read-latency benchmark of GET /metrics/churn, /metrics/context-switching and /metrics/coding-time
(30-day daily range; UTC days, and local days with ``tz``) against the real server, with 1 and 8
concurrent clients, next to GET /api/v1/health measured the same way (the floor of any request).

    .venv/bin/python bench/metrics_read.py --requests 400

Targets (issues 5 and 13): p99 ≤ 10 ms with 1 client and ≤ 40 ms with 8 clients, with and without
tz. Each measurement's clients are threads of a fresh process (the benchmark's own process holds
the generated lake). The server runs on 127.0.0.1 only and is stopped at the end. Figures are noisy
on a shared machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bulk_events import synthetic_events, write_event_files

from devflow.accounts.credentials import issue_jwt
from devflow.accounts.models import User
from devflow.config import Settings
from devflow.db.engine import make_engine, make_session_factory
from devflow.db.migrate import upgrade
from devflow.lake.storage import LakeStorage
from devflow.metrics.etl import EtlEnv, run_pass

# A +05:45 zone (every local day straddles two UTC dates) and a zone with daylight saving time.
ZONES = ("Asia/Kathmandu", "America/New_York")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _client_loop(port: int, path: str, jwt: str, count: int, out: list[float]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {jwt}"}
    for _ in range(count):
        t0 = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        out.append((time.perf_counter() - t0) * 1000)
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}")
    conn.close()


def _measure(port: int, path: str, jwt: str, clients: int, requests: int) -> tuple[float, float, float]:
    """p50 and p99 (ms) and requests/s of ``clients`` concurrent clients, measured from a separate,
    fresh process: this one holds the generated lake's objects, whose garbage collections would
    stall the client threads and show up as server latency."""
    out = subprocess.run(
        [sys.executable, __file__, "--client", str(port), path, jwt, str(clients), str(requests)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    p50, p99, rps = (float(value) for value in out.split())
    return p50, p99, rps


def _measure_here(port: int, path: str, jwt: str, clients: int, requests: int) -> tuple[float, float, float]:
    per_client = max(1, requests // clients)
    results: list[list[float]] = [[] for _ in range(clients)]
    threads = [
        threading.Thread(target=_client_loop, args=(port, path, jwt, per_client, results[i]))
        for i in range(clients)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    latencies = [v for r in results for v in r]
    return _percentile(latencies, 0.5), _percentile(latencies, 0.99), len(latencies) / elapsed


def _warm(port: int, path: str, jwt: str) -> int:
    """Request ``path`` on a new connection each time until 16 answers in a row take under 50 ms, so
    that every worker has loaded its libraries and partition caches (a worker imports pyarrow,
    Polars and NumPy on its first read; kept-alive connections may all land on one worker).
    Returns how many requests it took (at most 400)."""
    fast = 0
    for count in range(1, 401):
        out: list[float] = []
        _client_loop(port, path, jwt, 1, out)
        fast = fast + 1 if out[0] < 50 else 0
        if fast >= 16:
            return count
    return 400


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=400, help="requests per endpoint and concurrency")
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument(
        "--endpoint",
        action="append",
        choices=("churn", "context-switching", "coding-time"),
        help="measure only this endpoint (repeatable; default: all three)",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="devflow-bench-read-"))
    secret = "bench-secret-which-is-long-enough-for-hs256"
    env = {
        "DEVFLOW_DATA_DIR": str(work),
        "JWT_SECRET": secret,
        "METRICS_ETL_ENABLED": "false",
        "INSIGHTS_ENABLED": "false",
        "LOG_LEVEL": "warning",
    }
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["DATABASE_URL"]
    settings = Settings.from_env(env)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    db = make_session_factory(engine)
    user_id = uuid.uuid4()
    with db.begin() as session:
        session.add(
            User(
                id=user_id,
                username=f"bench-{user_id.hex[:8]}",
                email=None,
                provider="password",
                provider_user_id=str(user_id),
                password_hash=None,
            )
        )
    storage = LakeStorage.from_url(settings.lake_url)
    users = [str(user_id)] + [str(uuid.uuid4()) for _ in range(args.users - 1)]
    end = dt.date(2026, 5, 14)
    start = end - dt.timedelta(days=59)
    written, seed = 0, 0
    while written < args.events:
        n = min(1_000_000, args.events - written)
        write_event_files(storage, db, synthetic_events(n, user_ids=users, start=start, days=60, seed=seed))
        written, seed = written + n, seed + 1
    t0 = time.perf_counter()
    run_pass(EtlEnv(settings=settings, db=db, storage=storage), rebuild=True)
    print(f"{written:,} events for {args.users} users over 60 days; rebuild {time.perf_counter() - t0:.1f} s")
    engine.dispose()

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "devflow", "serve", "--port", str(port)],
        env={**os.environ, **env, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/api/v1/health")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        jwt = issue_jwt(secret, user_id, "password")
        date_from = (end - dt.timedelta(days=29)).isoformat()
        query = f"from={date_from}&to={end.isoformat()}"
        # Cold: a dashboard's concurrent first reads right after a start (each worker also imports
        # its frame libraries on its first read); the figure the reader's per-partition load guard
        # is for.
        cold_p50, cold_max, _ = _measure(port, f"/api/v1/metrics/churn?{query}", jwt, 8, 8)
        print(
            f"cold start: 8 concurrent first reads of /metrics/churn 30 days: p50 {cold_p50:.0f} ms, "
            f"slowest {cold_max:.0f} ms"
        )
        _measure(port, "/api/v1/health", jwt, 1, 20)
        health = {
            clients: _measure(port, "/api/v1/health", jwt, clients, args.requests) for clients in (1, 8)
        }
        for clients, (p50, p99, rps) in health.items():
            print(
                f"GET /api/v1/health (reference), {clients} client(s): p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
                f"{rps:,.0f} req/s"
            )
        for endpoint in args.endpoint or ("churn", "context-switching", "coding-time"):
            for zone in (None, *ZONES):
                path = f"/api/v1/metrics/{endpoint}?{query}" + (f"&tz={zone}" if zone else "")
                _warm(port, path, jwt)
                _measure(port, path, jwt, 8, 80)
                for clients, target in ((1, 10), (8, 40)):
                    p50, p99, rps = _measure(port, path, jwt, clients, args.requests)
                    where = f"/metrics/{endpoint} 30 days" + (f" tz={zone}" if zone else "")
                    verdict = "met" if p99 <= target else "NOT MET"
                    print(
                        f"GET {where}, {clients} client(s): p50 {p50:.2f} ms, p99 {p99:.2f} ms "
                        f"(target <= {target} ms: {verdict}; {p99 / health[clients][1]:.1f}x the health "
                        f"check's p99), {rps:,.0f} req/s"
                    )
    finally:
        server.terminate()
        server.wait(15)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--client"]:
        port_text, client_path, token, clients_text, requests_text = sys.argv[2:7]
        figures = _measure_here(int(port_text), client_path, token, int(clients_text), int(requests_text))
        print(*figures)
    else:
        main()
