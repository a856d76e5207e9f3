"""Accounts benchmark: bcrypt cost, login latency and pairing-poll throughput of a real server.

    .venv/bin/python bench/accounts.py --logins 20 --pairings 200 --polls 2000 --threads 4

Starts ``devflow serve`` on 127.0.0.1 (embedded SQLite in a temp dir unless ``--database-url``),
sends a bounded number of requests, stops the server and prints its figures. The extension
polls ``/auth/pairings/{id}/exchange`` every ~2 s while a user pairs, so "polls/s" divided by 0.5
is how many extensions can pair at once per worker. The machine is shared: figures are noisy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import bcrypt
import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(work: Path, database_url: str | None) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "DEVFLOW_DATA_DIR": str(work),
        "JWT_SECRET": "bench-secret-which-is-long-enough-for-hs256",
        "AUTH_RATE_LIMIT_PER_MINUTE": "0",
        "METRICS_ETL_ENABLED": "false",
        "INSIGHTS_ENABLED": "false",
        "LOG_LEVEL": "warning",
    }
    if database_url:
        env["DATABASE_URL"] = database_url
    proc = subprocess.Popen(
        [sys.executable, "-m", "devflow", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("server did not start")


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"p50 {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--logins", type=int, default=20, help="sequential logins per case")
    parser.add_argument("--pairings", type=int, default=200, help="pending pairings polled")
    parser.add_argument("--polls", type=int, default=2000, help="exchange requests in total")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--database-url", default=None, help="default: embedded SQLite in a temp dir")
    args = parser.parse_args()

    start = time.perf_counter()
    hashed = bcrypt.hashpw(b"correct-horse", bcrypt.gensalt(12))
    hash_s = time.perf_counter() - start
    start = time.perf_counter()
    bcrypt.checkpw(b"wrong-horse", hashed)
    print(
        f"bcrypt cost 12: hash {hash_s * 1000:.0f} ms, verify {(time.perf_counter() - start) * 1000:.0f} ms"
    )

    work = Path(tempfile.mkdtemp(prefix="devflow-bench-accounts-"))
    proc, base = _start_server(work, args.database_url)
    try:
        with httpx.Client(timeout=30) as client:
            email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
            assert client.post(
                f"{base}/auth/register", json={"email": email, "password": "correct-horse"}
            ).is_success
            for label, login_email, password in (
                ("login, right password", email, "correct-horse"),
                ("login, wrong password", email, "wrong-horse"),
                ("login, unknown email ", "nobody@example.com", "wrong-horse"),
            ):
                samples = []
                for _ in range(args.logins):
                    t0 = time.perf_counter()
                    client.post(f"{base}/auth/login", json={"email": login_email, "password": password})
                    samples.append(time.perf_counter() - t0)
                print(f"{label}: {_percentiles(samples)} over {args.logins}")

            pairing_ids = [
                client.post(f"{base}/auth/pairings").json()["pairing_id"] for _ in range(args.pairings)
            ]

        latencies: list[float] = []
        statuses: dict[int, int] = {}
        lock = threading.Lock()
        per_thread = args.polls // args.threads

        def poll(offset: int) -> None:
            with httpx.Client(timeout=30) as extension:
                for i in range(per_thread):
                    pid = pairing_ids[(offset * per_thread + i) % len(pairing_ids)]
                    t0 = time.perf_counter()
                    status = extension.post(f"{base}/auth/pairings/{pid}/exchange").status_code
                    elapsed = time.perf_counter() - t0
                    with lock:
                        latencies.append(elapsed)
                        statuses[status] = statuses.get(status, 0) + 1

        threads = [threading.Thread(target=poll, args=(t,)) for t in range(args.threads)]
        t0 = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - t0
        rate = len(latencies) / wall
        print(
            f"pairing exchange polls: {rate:.0f}/s with {args.threads} clients ({_percentiles(latencies)}), "
            f"statuses {dict(sorted(statuses.items()))} → ~{rate * 2:.0f} extensions pairing at once"
        )
    finally:
        proc.terminate()
        proc.wait(15)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
