"""A server worker's idle path imports none of the heavy libraries it does not need (issue 15).

A fresh interpreter builds the app, runs its lifespan and serves one request, all through the ASGI
interface itself (Litestar's test client would import httpx), then lists which of the heavy modules
are loaded. pyarrow, Polars, NumPy and DuckDB come with the first lake flush, ETL pass or metric
read; httpx with the first OAuth login; google-genai with the first recommendation.
"""

from __future__ import annotations

import json
import subprocess
import sys

from devflow.config import Settings

HEAVY = ("pyarrow", "polars", "numpy", "duckdb", "httpx", "google.genai", "prometheus_client")

_SCRIPT = """
import asyncio, json, sys
from devflow.app import create_app
from devflow.config import Settings

async def call(app, scope, body=b""):
    sent, messages = [], [{"type": "http.request", "body": body, "more_body": False}]
    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}
    async def send(message):
        sent.append(message)
    await app(scope, receive, send)
    return sent

async def main():
    app = create_app(Settings.from_env(json.loads(sys.argv[1])))
    startup = [{"type": "lifespan.startup"}]
    events = asyncio.Queue()
    async def receive():
        return startup.pop(0) if startup else await events.get()
    done = asyncio.Event()
    async def send(message):
        if message["type"].startswith("lifespan.startup"):
            done.set()
    lifespan = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    await done.wait()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": "/api/v1/health", "raw_path": b"/api/v1/health",
             "query_string": b"", "root_path": "", "headers": [(b"host", b"127.0.0.1")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000)}
    status = [m["status"] for m in await call(app, scope) if m["type"] == "http.response.start"]
    await events.put({"type": "lifespan.shutdown"})
    await lifespan
    print(json.dumps({"status": status, "loaded": [m for m in HEAVY if m in sys.modules]}))

HEAVY = json.loads(sys.argv[2])
asyncio.run(main())
"""


def test_an_idle_worker_has_not_imported_heavy_libraries(settings: Settings) -> None:
    env = {"DEVFLOW_DATA_DIR": str(settings.data_dir), "DATABASE_URL": settings.database_url}
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(env), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["status"] == [200]
    assert report["loaded"] == []
