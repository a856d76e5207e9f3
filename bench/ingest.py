"""Ingest benchmark: ``POST /api/v1/telemetry`` against a real server on the embedded default.

    .venv/bin/python bench/ingest.py [--batches 5000] [--big 10] [--workers N]

Starts ``devflow serve`` on 127.0.0.1 with a temporary data dir (SQLite + local lake), registers a
user through the API, mints an API token (``POST /auth/tokens``), then drives the server from a
SEPARATE client process: 1 client, then 8 concurrent clients posting 100-event batches built from
``tests/vectors/telemetry-*.json`` (bounded counts), then single 5,000-event batches. Each batch
comes on a new connection, as the extension's do (``--per-connection 0``: 8 long-lived connections,
which the kernel may spread unevenly over the server's worker processes, e.g. 7 and 1). Prints
events/s, p50/p99 latency and the server's RSS before and after the 8-client run.

Targets (issue 4, 2-core machine): ≥ 50,000 events/s with 8 clients, p99 < 100 ms; a 5,000-event
batch < 500 ms; RSS growth < 100 MB over 5,000 batches (idle before vs idle after). The machine
is shared: figures are noisy.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors"
# Longer than the server's lake flush interval (2 s): the in-memory spool has been written out.
FLUSH_SETTLE_SECONDS = 3.0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _process_tree(pid: int) -> list[int]:
    """The server process and its children (uvicorn workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [pid, *(int(p) for p in children.read_text().split())] if children.exists() else [pid]


def _rss_mb(pid: int) -> float:
    """Resident set size of a process and its children, in MB."""
    total = 0
    for one in _process_tree(pid):
        for line in Path(f"/proc/{one}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process and its children have used so far."""
    total = 0
    for one in _process_tree(pid):
        fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _cpu_times() -> list[int]:
    """The machine's CPU time counters (/proc/stat: user nice system idle iowait irq softirq steal)."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def _request(
    base: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def _start_server(
    work: Path, port: int, workers: int | None, database_url: str | None
) -> subprocess.Popen[bytes]:
    env = {
        **({"DATABASE_URL": database_url} if database_url else {}),
        **os.environ,
        "DEVFLOW_DATA_DIR": str(work),
        "PORT": str(port),
        "LOG_LEVEL": "warning",
        "AUTH_RATE_LIMIT_PER_MINUTE": "0",
        "METRICS_ETL_ENABLED": "false",
        "INSIGHTS_ENABLED": "false",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "devflow", "serve", "--port", str(port)]
        + (["--workers", str(workers)] if workers else []),
        env=env,
        stdout=open(work / "server.log", "ab"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: see {work / 'server.log'}")
        try:
            _request(f"http://127.0.0.1:{port}", "GET", "/api/v1/health")
            return proc
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def _api_token(base: str, work: Path, url: str | None) -> tuple[str, str]:
    """Register a user and mint an API token through the API; (token, how)."""
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    try:
        auth = _request(
            base, "POST", "/api/v1/auth/register", {"email": email, "password": "bench-password-1"}
        )
        jwt = auth["token"]
        created = _request(
            base, "POST", "/api/v1/auth/tokens", {"name": "bench"}, {"Authorization": f"Bearer {jwt}"}
        )
        return str(created["token"]), "registered + minted through the API"
    except urllib.error.HTTPError as exc:  # accounts endpoints not available: insert directly
        sys.path.insert(0, str(ROOT))
        from devflow.config import Settings
        from tests.support.accounts import create_user

        settings = Settings.from_env(
            {"DEVFLOW_DATA_DIR": str(work), **({"DATABASE_URL": url} if url else {})}
        )
        user = create_user(settings)
        return user.token, f"created directly in the DB (API answered {exc.code})"


# -- payloads -------------------------------------------------------------------------------------


def _vector_events() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for path in sorted(VECTORS.glob("telemetry-*.json")):
        events += json.loads(path.read_text())["events"]
    return events


def build_bodies(count: int, size: int, seed: int) -> list[bytes]:
    """``count`` compact request bodies of ``size`` events each, distinct timestamps, a few sessions."""
    template = _vector_events()
    # Past timestamps only (a future one would be rejected): one distinct hour per seed.
    start = datetime(2026, 5, 14, 9, tzinfo=UTC) - timedelta(hours=seed)
    sessions = [str(uuid.UUID(int=seed * 1000 + i + 1, version=4)) for i in range(4)]
    bodies = []
    k = 0
    for b in range(count):
        events = []
        for i in range(size):
            event = copy.deepcopy(template[(b * size + i) % len(template)])
            event["timestamp"] = (start + timedelta(milliseconds=k)).strftime("%Y-%m-%dT%H:%M:%S.%f")[
                :-3
            ] + "Z"
            event["session_id"] = sessions[b % len(sessions)]
            events.append(event)
            k += 1
        bodies.append(json.dumps({"events": events}, separators=(",", ":")).encode())
    return bodies


# -- client process -------------------------------------------------------------------------------


_CONTENT_LENGTH = re.compile(rb"(?im)^content-length:\s*(\d+)")


def _encode_request(port: int, body: bytes, headers: dict[str, str]) -> bytes:
    lines = ["POST /api/v1/telemetry HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _recv(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("server closed the connection")
    return chunk


def run_clients(
    port: int, token: str, clients: int, batches: int, size: int, per_connection: int = 0
) -> dict[str, Any]:
    """Post ``batches`` bodies of ``size`` events from ``clients`` concurrent clients, each on a
    keep-alive connection that it replaces every ``per_connection`` requests (0: never)."""
    per_client = [batches // clients + (1 if i < batches % clients else 0) for i in range(clients)]
    bodies = [build_bodies(min(n, 200), size, seed=i + size) for i, n in enumerate(per_client)]
    latencies: list[float] = []
    errors: list[int] = []
    accepted = [0] * clients
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def client(i: int) -> None:
        # A lean HTTP/1.1 keep-alive client on a raw socket (requests pre-encoded): the load generator
        # shares the 2 cores with the server, so it must cost as little CPU as possible.
        requests = [_encode_request(port, body, headers) for body in bodies[i]]
        mine: list[float] = []
        bad: list[int] = []
        pending = b""
        sock: socket.socket | None = None
        for j in range(per_client[i]):
            t0 = time.perf_counter()
            if sock is None or (per_connection and j % per_connection == 0):
                if sock is not None:
                    sock.close()
                sock = socket.create_connection(("127.0.0.1", port), timeout=30)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                pending = b""
            sock.sendall(requests[j % len(requests)])
            while b"\r\n\r\n" not in pending:
                pending += _recv(sock)
            head, _, rest = pending.partition(b"\r\n\r\n")
            status = int(head[9:12])
            match = _CONTENT_LENGTH.search(head)
            length = int(match.group(1)) if match else 0
            while len(rest) < length:
                rest += _recv(sock)
            answer, pending = rest[:length], rest[length:]
            mine.append(time.perf_counter() - t0)
            if status != 202:
                bad.append(status)
            else:
                accepted[i] += json.loads(answer)["accepted_count"]
        if sock is not None:
            sock.close()
        with lock:
            latencies.extend(mine)
            errors.extend(bad)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - t0
    latencies.sort()
    return {
        "clients": clients,
        "batches": len(latencies),
        "events_per_batch": size,
        "seconds": round(elapsed, 3),
        "events_per_second": round(len(latencies) * size / elapsed),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1),
        "non_202": len(errors),
        "accepted_events": sum(accepted),
    }


def _client_process(
    port: int, token: str, clients: int, batches: int, size: int, per_connection: int = 0
) -> dict[str, Any]:
    """Run :func:`run_clients` in a separate Python process; return its figures."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [sys.executable, __file__, "--client", str(port), token]
        + [str(n) for n in (clients, batches, size, per_connection)],
        capture_output=True,
        check=True,
        cwd=ROOT,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result: dict[str, Any] = json.loads(out.stdout)
    result["client_cpu_seconds"] = round(
        after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2
    )
    return result


def _print(label: str, figures: dict[str, Any]) -> None:
    print(
        f"{label:34s} {figures['events_per_second']:>9,} events/s  p50 {figures['p50_ms']:7.1f} ms  "
        f"p99 {figures['p99_ms']:7.1f} ms  max {figures['max_ms']:7.1f} ms  "
        f"({figures['batches']} batches x {figures['events_per_batch']} events, "
        f"non-202: {figures['non_202']}, events accepted: {figures['accepted_events']:,})"
    )


def main() -> None:
    """Run the benchmark and print its figures."""
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        port, token = sys.argv[2], sys.argv[3]
        clients, batches, size, per_connection = map(int, sys.argv[4:8])
        print(json.dumps(run_clients(int(port), token, clients, batches, size, per_connection)))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=5000, help="100-event batches for the 8-client run")
    parser.add_argument("--single", type=int, default=1000, help="100-event batches for the 1-client run")
    parser.add_argument("--big", type=int, default=10, help="number of single 5,000-event batches")
    parser.add_argument(
        "--workers", type=int, default=None, help="uvicorn worker processes (default: the server's default)"
    )
    parser.add_argument(
        "--per-connection",
        type=int,
        default=1,
        help="requests per client connection before it is replaced; 0 keeps one connection per client "
        "for the whole run (default 1: the extension posts once a minute, long after the server's 5 s "
        "keep-alive has closed its previous connection, so every real batch arrives on a new one)",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="default: the embedded SQLite in the temp dir (a PostgreSQL URL also works)",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="devflow-bench-ingest-"))
    port = _free_port()
    server = _start_server(work, port, args.workers, args.database_url)
    try:
        token, how = _api_token(f"http://127.0.0.1:{port}", work, args.database_url)
        print(f"server pid {server.pid} on 127.0.0.1:{port}, data in {work}; user {how}")
        _client_process(port, token, 1, 50, 100)  # warm-up
        _print("1 client, 100-event batches", _client_process(port, token, 1, args.single, 100))
        # RSS is read with the server idle (its flusher has drained the spool), before and after, so
        # the growth is what the 5,000 batches leave behind; the peak under load is printed too.
        time.sleep(FLUSH_SETTLE_SECONDS)
        rss_before, cpu_before = _rss_mb(server.pid), _cpu_seconds(server.pid)
        peak = [rss_before]
        running = threading.Event()
        running.set()

        def sample_peak() -> None:
            while running.is_set():
                peak[0] = max(peak[0], _rss_mb(server.pid))
                time.sleep(0.25)

        sampler = threading.Thread(target=sample_peak, daemon=True)
        sampler.start()
        machine_before = _cpu_times()
        eight = _client_process(port, token, 8, args.batches, 100, args.per_connection)
        cpu_after = _cpu_seconds(server.pid)
        machine = [b - a for a, b in zip(machine_before, _cpu_times(), strict=True)]
        running.clear()
        sampler.join()
        time.sleep(FLUSH_SETTLE_SECONDS)
        rss_after = _rss_mb(server.pid)
        _print("8 clients, 100-event batches", eight)
        cpu = cpu_after - cpu_before
        events = eight["batches"] * eight["events_per_batch"]
        print(
            f"server CPU during the 8-client run: {cpu:.1f} s for {events:,} events "
            f"= {events / cpu:,.0f} events per CPU-second; {100 * cpu / eight['seconds']:.0f}% of one core "
            f"(the client process used {100 * eight['client_cpu_seconds'] / eight['seconds']:.0f}%); "
            f"machine: {100 * machine[3] / sum(machine):.0f}% idle, "
            f"{100 * machine[7] / sum(machine):.0f}% stolen"
        )
        print(
            f"server RSS idle before/after the 8-client run: {rss_before:.0f} MB / {rss_after:.0f} MB "
            f"(growth {rss_after - rss_before:+.0f} MB over {eight['batches']} batches); "
            f"peak during the run {peak[0]:.0f} MB"
        )
        _print("1 client, 5,000-event batches", _client_process(port, token, 1, args.big, 5000))
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
