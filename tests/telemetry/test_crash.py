"""Durability of acknowledged telemetry across ``kill -9`` (checklist 88, docs/design.md invariant 1).

The real server runs as a subprocess. Client threads post batches until the server is SIGKILLed
mid-stream; after a restart (which replays the dead process's spool), every event that had been
acknowledged with 202 is in the lake exactly once in the de-duplicated view.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devflow.analytics.events_view import connect_lake
from devflow.config import Settings
from devflow.lake.storage import LakeStorage
from tests.support.accounts import create_user
from tests.support.server import ServerProcess, server_env
from tests.telemetry.payloads import file_save, iso


def _server_env(settings: Settings) -> dict[str, str]:
    # Flush often so that at the kill some batches are in Parquet and some only in the spool.
    return server_env(settings, DEVFLOW_LAKE_FLUSH_SECONDS="1")


def _post(port: int, token: str, events: list[dict[str, Any]]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
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


@pytest.mark.slow
def test_sigkill_loses_no_acknowledged_event(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    """#88 kill -9 while 3 clients post; restart; every 202-acknowledged event is in the lake, none
    twice in the de-duplicated view; re-sending an acknowledged batch changes no count."""
    settings = make_settings().with_dev_secret()
    user = create_user(settings)
    env = _server_env(settings)
    server = ServerProcess(env, log_path=tmp_path / "server.log").start()
    acked: list[list[dict[str, Any]]] = []
    lock = threading.Lock()
    stop = threading.Event()
    base = datetime(2026, 5, 10, tzinfo=UTC)

    def client(n: int) -> None:
        session = str(uuid.uuid4())
        k = 0
        while not stop.is_set():
            events = []
            for _ in range(50):
                # Spread over two days so that several partitions are written.
                events.append(file_save(session, iso(base + timedelta(hours=n * 20, seconds=k))))
                k += 1
            try:
                status = _post(server.port, user.token, events)
            except (ConnectionError, OSError, http.client.HTTPException):
                return
            if status == 202:
                with lock:
                    acked.append(events)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with lock:
            if len(acked) >= 40:
                break
        time.sleep(0.05)
    server.kill()  # SIGKILL: no shutdown hook, no final flush
    stop.set()
    for thread in threads:
        thread.join(15)
    assert len(acked) >= 40, "the server acknowledged too few batches before the kill"
    spool = settings.data_dir / "spool"
    assert list(spool.glob("*.spool")), "the kill should leave a spool behind (nothing flushed since)"

    restarted = ServerProcess(env, log_path=tmp_path / "server.log").start()  # replays the spool
    try:
        assert _post(restarted.port, user.token, acked[0]) == 202  # a resend of an acked batch
    finally:
        restarted.stop()  # graceful: flushes its own spool

    assert not list(spool.glob("*.spool")), "every spool segment was replayed and removed"
    con = connect_lake(LakeStorage.from_url(settings.lake_url))
    stored = con.sql(
        "SELECT session_id, strftime(timestamp, '%Y-%m-%dT%H:%M:%S.%g') || 'Z' FROM events"
    ).fetchall()
    [(total, distinct)] = con.sql(
        "SELECT count(*), count(DISTINCT (session_id, fingerprint)) FROM events"
    ).fetchall()
    assert total == distinct  # the de-duplicated view holds each (session, fingerprint) once
    expected = {(e["session_id"], e["timestamp"]) for batch in acked for e in batch}
    assert expected <= set(stored)  # every acknowledged event survived the kill
    assert len(stored) == len(set(stored))
    [(physical,)] = con.sql("SELECT count(*) FROM events_all").fetchall()
    assert physical >= len(expected) + len(acked[0])  # the resend is stored too, and collapses
