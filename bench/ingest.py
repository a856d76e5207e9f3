"""Ingest benchmark: ``POST /api/v1/telemetry`` against a real server, and against a reference server.

    .venv/bin/python bench/ingest.py [--batches 5000] [--big 10] [--workers 2] [--only devflow|reference]

Starts ``devflow serve`` on 127.0.0.1 with a temporary data dir (SQLite + local lake), registers a
user through the API, mints an API token (``POST /auth/tokens``), and starts the reference server
(``bench/reference_server.py``: a bare ASGI app under uvicorn with devflow's settings and worker count
that decodes each body with msgspec, appends it to a journal with a group-committed fsync and answers
202: the least a durable ingest endpoint does). Then, from a SEPARATE client process, with the same
client code and the same request bytes, each phase drives devflow and then the reference: 1 client,
then 8 concurrent clients posting 100-event batches built from ``tests/vectors/telemetry-*.json``
(bounded counts), then single 5,000-event batches. In the 8-client run each batch comes on a new
connection, as the extension's do (``--per-connection 0``: 8 long-lived connections, which the kernel
may spread unevenly over the worker processes, e.g. 7 and 1).

Prints, per phase and server, events/s, p50/p99 latency and server CPU (events per CPU-second of the
whole server process tree), then devflow's figures as a fraction of the reference's measured in the
same run: machines are shared and vary 2-3x, the ratios are the figures to compare across runs. Also
the RSS of each server's process tree (supervisor + workers): idle at start, idle before the 8-client
run, its peak during the run (sampled every 50 ms) and idle after it.

Targets (issue 15), printed at the end with their figures: with 8 clients devflow ≥ 0.5× the
reference's events/s with p99 < 50 ms; idle RSS of the whole server ≤ 250 MB, peak ≤ 500 MB.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import resource
import shutil
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
from dataclasses import dataclass, field
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
    """The server process and its descendants (uvicorn workers and whatever they start)."""
    tree, todo = [], [pid]
    while todo:
        one = todo.pop()
        tree.append(one)
        for children in Path(f"/proc/{one}/task").glob("*/children"):
            try:
                todo += (int(p) for p in children.read_text().split())
            except OSError:  # the thread has just ended
                pass
    return tree


def _rss_mb(pid: int) -> float:
    """Resident set size of a process and its descendants, in MB."""
    total = 0
    for one in _process_tree(pid):
        try:
            status = Path(f"/proc/{one}/status").read_text()
        except OSError:  # it has just exited
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process and its descendants have used so far (exited ones aside)."""
    total = 0
    for one in _process_tree(pid):
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # it has just exited
            continue
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
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - t0
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
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
        # While the clients ran (building the bodies and starting Python aside).
        "client_cpu_seconds": round(
            cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime, 3
        ),
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
    # The whole client process (start-up and bodies included), to tell what other processes used.
    result["client_process_cpu_seconds"] = round(
        after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2
    )
    return result


# -- servers and phases ---------------------------------------------------------------------------


@dataclass
class Server:
    """A running server (devflow or the reference) and what the script has read about it."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    token: str
    work: Path
    rss: dict[str, float] = field(default_factory=dict)  # MB, by moment


class _PeakRss:
    """Sample the RSS of a server's process tree every 50 ms on a thread; :meth:`stop` returns the peak."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = _rss_mb(pid)
        self.samples = 1
        self._running = threading.Event()
        self._running.set()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while self._running.is_set():
            self.peak = max(self.peak, _rss_mb(self.pid))
            self.samples += 1
            time.sleep(0.05)

    def stop(self) -> float:
        self._running.clear()
        self._thread.join()
        return self.peak


def _run_phase(
    server: Server, clients: int, batches: int, size: int, per_connection: int, peak: bool = False
) -> dict[str, Any]:
    """One load phase against one server: the client figures plus the server's CPU (and peak RSS)."""
    pid = server.proc.pid
    sampler = _PeakRss(pid) if peak else None
    cpu_before, machine_before, t0 = _cpu_seconds(pid), _cpu_times(), time.perf_counter()
    figures = _client_process(server.port, server.token, clients, batches, size, per_connection)
    cpu = _cpu_seconds(pid) - cpu_before
    machine = [b - a for a, b in zip(machine_before, _cpu_times(), strict=True)]
    wall = time.perf_counter() - t0
    if sampler is not None:
        figures["peak_rss_mb"] = sampler.stop()
        figures["rss_samples"] = sampler.samples
    events = figures["batches"] * size
    figures["server_cpu_seconds"] = cpu
    figures["events_per_cpu_second"] = events / cpu if cpu > 0 else float("nan")
    figures["machine_idle_pct"] = 100 * machine[3] / max(1, sum(machine))
    figures["machine_steal_pct"] = 100 * machine[7] / max(1, sum(machine))
    # CPU the rest of the machine (other engineers' jobs) used meanwhile, in cores.
    busy = (sum(machine) - machine[3] - machine[4]) / os.sysconf("SC_CLK_TCK")
    figures["others_cores"] = max(0.0, busy - cpu - figures["client_process_cpu_seconds"]) / wall
    return figures


def _print(name: str, figures: dict[str, Any]) -> None:
    seconds = figures["seconds"]
    print(
        f"  {name:9s} {figures['events_per_second']:>9,} events/s  "
        f"{figures['events_per_cpu_second']:>9,.0f} events per server CPU-s  "
        f"p50 {figures['p50_ms']:6.1f} ms  p99 {figures['p99_ms']:6.1f} ms  max {figures['max_ms']:6.1f} ms  "
        f"(non-202: {figures['non_202']}, accepted {figures['accepted_events']:,})"
    )
    print(
        f"  {'':9s} {seconds:.2f} s; CPU: server {figures['server_cpu_seconds']:.2f} s "
        f"({figures['server_cpu_seconds'] / seconds:.2f} cores), client "
        f"{figures['client_cpu_seconds'] / seconds:.2f} cores, other processes ~"
        f"{figures['others_cores']:.2f} cores; machine {figures['machine_idle_pct']:.0f}% idle, "
        f"{figures['machine_steal_pct']:.0f}% stolen"
    )


def _ratios(devflow: dict[str, Any], reference: dict[str, Any]) -> str:
    return (
        f"devflow / reference: {devflow['events_per_second'] / reference['events_per_second']:.2f} "
        f"events/s, {devflow['events_per_cpu_second'] / reference['events_per_cpu_second']:.2f} "
        f"events per CPU-s"
    )


def _wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: see {log}")
        try:
            _request(f"http://127.0.0.1:{port}", "GET", "/api/v1/health")
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server did not start: see {log}")


def _start_devflow(workers: int, database_url: str | None) -> Server:
    work = Path(tempfile.mkdtemp(prefix="devflow-bench-ingest-"))
    port = _free_port()
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
        [sys.executable, "-m", "devflow", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=open(work / "server.log", "ab"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        _wait_ready(proc, port, work / "server.log")
        token, how = _api_token(f"http://127.0.0.1:{port}", work, database_url)
    except BaseException:
        proc.kill()
        raise
    print(f"devflow:   pid {proc.pid} on 127.0.0.1:{port}, {workers} workers, data in {work}; user {how}")
    return Server("devflow", proc, port, token, work)


def _start_reference(workers: int) -> Server:
    work = Path(tempfile.mkdtemp(prefix="devflow-bench-reference-"))
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("reference_server.py")),
            *("--port", str(port), "--workers", str(workers), "--dir", str(work)),
        ],
        stdout=open(work / "server.log", "ab"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        _wait_ready(proc, port, work / "server.log")
    except BaseException:
        proc.kill()
        raise
    print(f"reference: pid {proc.pid} on 127.0.0.1:{port}, {workers} workers, journals in {work}")
    return Server("reference", proc, port, "unused-by-the-reference", work)


def _stop(server: Server, keep: bool) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(30)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(30)
    if not keep:
        shutil.rmtree(server.work, ignore_errors=True)


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
    parser.add_argument("--big", type=int, default=20, help="number of single 5,000-event batches")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="uvicorn worker processes of both servers (default 2, devflow's)",
    )
    parser.add_argument(
        "--per-connection",
        type=int,
        default=1,
        help="requests per client connection before it is replaced in the 8-client run; 0 keeps one "
        "connection per client for the whole run (default 1: the extension posts once a minute, long "
        "after the server's 5 s keep-alive has closed its previous connection, so every real batch "
        "arrives on a new one)",
    )
    parser.add_argument(
        "--only", choices=["devflow", "reference"], default=None, help="drive only one of the two servers"
    )
    parser.add_argument("--keep", action="store_true", help="keep the servers' data directories")
    parser.add_argument(
        "--database-url",
        default=None,
        help="default: the embedded SQLite in the temp dir (a PostgreSQL URL also works)",
    )
    args = parser.parse_args()

    servers: list[Server] = []
    try:
        if args.only != "reference":
            servers.append(_start_devflow(args.workers, args.database_url))
        if args.only != "devflow":
            servers.append(_start_reference(args.workers))
        time.sleep(1)
        for server in servers:
            server.rss["start"] = _rss_mb(server.proc.pid)
        phases = [
            ("1 client, 100-event batches", 1, args.single, 100, 0),
            ("8 clients, 100-event batches", 8, args.batches, 100, args.per_connection),
            ("1 client, 5,000-event batches", 1, args.big, 5000, 0),
        ]
        results: dict[str, dict[str, dict[str, Any]]] = {server.name: {} for server in servers}
        for server in servers:
            _client_process(server.port, server.token, 1, 50, 100)  # warm-up
        time.sleep(FLUSH_SETTLE_SECONDS)
        for label, clients, batches, size, per_connection in phases:
            print(
                f"{label} ({batches} batches; "
                + (f"a new connection every {per_connection} requests)" if per_connection else "keep-alive)")
            )
            for server in servers:
                eight = clients == 8
                if eight:  # idle: the previous phase's spool has been flushed out (see the sleep below)
                    server.rss["before"] = _rss_mb(server.proc.pid)
                figures = _run_phase(server, clients, batches, size, per_connection, peak=eight)
                results[server.name][label] = figures
                _print(server.name, figures)
                # Let devflow's lake flusher drain the spool before the next run (it would steal CPU).
                time.sleep(FLUSH_SETTLE_SECONDS if server.name == "devflow" else 0.5)
                if eight:
                    server.rss["peak"] = figures["peak_rss_mb"]
                    server.rss["after"] = _rss_mb(server.proc.pid)
            if len(servers) == 2:
                print("  " + _ratios(results["devflow"][label], results["reference"][label]))

        eight_label = phases[1][0]
        print(f"server RSS, whole process tree (supervisor + {args.workers} workers):")
        for server in servers:
            figures = results[server.name][eight_label]
            print(
                f"  {server.name:9s} idle at start {server.rss['start']:4.0f} MB; idle before the 8-client "
                f"run {server.rss['before']:4.0f} MB, peak during it {server.rss['peak']:4.0f} MB "
                f"({figures['rss_samples']} samples, every 50 ms), idle after {server.rss['after']:4.0f} MB "
                f"(growth {server.rss['after'] - server.rss['before']:+.0f} MB over {figures['batches']} "
                "batches)"
            )
        if "devflow" in results:
            dev, rss = results["devflow"], servers[0].rss
            print(
                f"devflow: 8 clients {dev[eight_label]['events_per_second']:,} events/s, p99 "
                f"{dev[eight_label]['p99_ms']:.1f} ms; "
                f"a 5,000-event batch p50 {dev[phases[2][0]]['p50_ms']:.0f} ms; "
                f"RSS idle at start {rss['start']:.0f} MB, peak at 8 clients {rss['peak']:.0f} MB"
            )
        if len(servers) == 2:
            print("devflow / reference, measured in this run (the figures to compare across machines):")
            for label, *_ in phases:
                ref = results["reference"][label]
                print(
                    f"  {label:30s} {_ratios(results['devflow'][label], ref)}  (reference: "
                    f"{ref['events_per_second']:,} events/s, {ref['events_per_cpu_second']:,.0f} events per "
                    f"CPU-s, p99 {ref['p99_ms']:.1f} ms)"
                )
            _print_targets(results["devflow"][eight_label], results["reference"][eight_label], servers[0].rss)
    finally:
        for server in servers:
            _stop(server, args.keep)


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def _print_targets(dev: dict[str, Any], ref: dict[str, Any], rss: dict[str, float]) -> None:
    """Issue 15's targets, each with its figure from this run and whether it is met."""
    ratio = dev["events_per_second"] / ref["events_per_second"]
    cpu_ratio = dev["events_per_cpu_second"] / ref["events_per_cpu_second"]
    print("issue 15 targets (8 clients; devflow's default 2 workers):")
    print(f"  events/s devflow / reference {ratio:.2f} (>= 0.5: {_verdict(ratio >= 0.5)})")
    print(
        f"  events per CPU-s devflow / reference {cpu_ratio:.2f}; devflow {dev['events_per_cpu_second']:,.0f}"
    )
    print(f"  p99 {dev['p99_ms']:.1f} ms (< 50 ms: {_verdict(dev['p99_ms'] < 50)})")
    print(f"  idle RSS at start {rss['start']:.0f} MB (<= 250 MB: {_verdict(rss['start'] <= 250)})")
    print(f"  peak RSS during the run {rss['peak']:.0f} MB (<= 500 MB: {_verdict(rss['peak'] <= 500)})")


if __name__ == "__main__":
    main()
