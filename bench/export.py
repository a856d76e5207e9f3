"""Server memory and time of ``GET /api/v1/me/export`` for a user with 1 M raw events (30 days, the
ETL's metric partitions, a second user sharing every partition), on the embedded default (SQLite,
local lake), against the same run's reference: the same server answering a 30-day churn request.

    .venv/bin/python bench/export.py --events 1000000

Target (issue 16): the server's RSS grows by less than 100 MB during the export, and re-importing the
exported Parquet into DuckDB gives the lake's counts. The server is one ``devflow serve --workers 1``
process on 127.0.0.1; its RSS (``/proc/<pid>/status`` VmRSS) is sampled every 10 ms while the ZIP is
downloaded to a temporary file. The server is stopped and its folder removed at the end.
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
import threading
import time
import uuid
import zipfile
from pathlib import Path

import duckdb
from bulk_events import synthetic_events, write_event_files

from devflow.accounts.credentials import issue_jwt
from devflow.accounts.models import User
from devflow.config import Settings
from devflow.db.engine import make_engine, make_session_factory
from devflow.db.migrate import upgrade
from devflow.lake.storage import LakeStorage
from devflow.metrics.etl import EtlEnv, run_pass

DAYS = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _Peak:
    """Samples a process's RSS every 10 ms in a thread; ``peak`` is the highest seen."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, _rss_mb(pid), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_mb(self.pid))
            time.sleep(0.01)

    def __enter__(self) -> _Peak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _seed(settings: Settings, events: int, end: dt.date) -> uuid.UUID:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    db = make_session_factory(engine)
    user_id = uuid.uuid4()
    with db.begin() as session:
        session.add(
            User(
                id=user_id,
                username=f"bench-{user_id.hex[:8]}",
                email="bench@example.com",
                provider="password",
                provider_user_id="bench@example.com",
            )
        )
    storage = LakeStorage.from_url(settings.lake_url)
    start = end - dt.timedelta(days=DAYS - 1)
    written, seed = 0, 0
    while written < events:
        n = min(500_000, events - written)
        write_event_files(
            storage, db, synthetic_events(n, user_ids=[str(user_id)], start=start, days=DAYS, seed=seed)
        )
        written, seed = written + n, seed + 1
    other = str(uuid.uuid4())  # a second user in every partition: the export must filter
    write_event_files(
        storage, db, synthetic_events(events // 10, user_ids=[other], start=start, days=DAYS, seed=99)
    )
    t0 = time.perf_counter()
    run_pass(EtlEnv(settings=settings, db=db, storage=storage), rebuild=True)
    took = time.perf_counter() - t0
    print(f"seeded {written:,} events of the user (+{events // 10:,} of another); ETL {took:.1f} s")
    engine.dispose()
    return user_id


def _download(port: int, path: str, headers: dict[str, str], out: Path) -> tuple[int, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"{path} answered {response.status}: {response.read()[:200]!r}")
    size = 0
    with open(out, "wb") as handle:
        while chunk := response.read(1 << 20):
            handle.write(chunk)
            size += len(chunk)
    conn.close()
    return size, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="raw events of the exported user")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="devflow-bench-export-"))
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
    user_id = _seed(settings, args.events, end)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "devflow", "serve", "--port", str(port), "--workers", "1"],
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
        bearer = {"Authorization": f"Bearer {issue_jwt(secret, user_id, 'password')}"}
        query = f"from={(end - dt.timedelta(days=DAYS - 1)).isoformat()}&to={end.isoformat()}"
        rows = []
        for label, path in (
            ("reference: GET /api/v1/metrics/churn 30 days", f"/api/v1/metrics/churn?{query}"),
            ("GET /api/v1/me/export (first)", "/api/v1/me/export"),
            ("GET /api/v1/me/export (second)", "/api/v1/me/export"),
        ):
            before = _rss_mb(server.pid)
            with _Peak(server.pid) as peak:
                size, seconds = _download(port, path, bearer, work / "out.bin")
            rows.append((label, before, peak.peak, size, seconds))
            print(
                f"{label:<46} RSS before {before:7.1f} MB  peak {peak.peak:7.1f} MB  "
                f"growth {peak.peak - before:6.1f} MB   {size / 1e6:8.1f} MB in {seconds:6.2f} s"
            )
        for label, before, peak_mb, _, _ in rows[1:]:
            growth = peak_mb - before
            verdict = "OK" if growth < 100 else "OVER"
            print(f"{label}: RSS growth {growth:.1f} MB (target < 100 MB): {verdict}")
        # Re-import: the exported Parquet against the lake, per dataset.
        extract = work / "export"
        zipfile.ZipFile(work / "out.bin").extractall(extract)
        con = duckdb.connect()
        for parquet in sorted((extract / "lake").glob("*.parquet")):
            (exported,) = con.execute("SELECT count(*) FROM read_parquet(?)", [str(parquet)]).fetchone() or (
                0,
            )
            lake_files = str(Path(settings.lake_url) / parquet.stem / "**" / "*.parquet")
            (in_lake,) = con.execute(
                "SELECT count(*) FROM read_parquet(?, union_by_name=true, hive_partitioning=false) "
                "WHERE CAST(user_id AS VARCHAR) = ?",
                [lake_files, str(user_id)],
            ).fetchone() or (0,)
            verdict = "same" if exported == in_lake else "DIFFERENT"
            print(f"  {parquet.stem:<22} exported {exported:>10,}  lake {in_lake:>10,}  {verdict}")
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
