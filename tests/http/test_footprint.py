"""An idle server's workers do not hold pyarrow, Polars or NumPy (issue 15: idle memory); the first
use loads them (``devflow.kernel.lazy``). Read off the real workers' memory maps (Linux)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from devflow.config import Settings
from tests.support.accounts import create_user
from tests.support.server import ServerProcess, server_env
from tests.telemetry.payloads import file_save

HEAVY = ("pyarrow", "polars", "numpy")


def _workers(supervisor_pid: int) -> list[int]:
    children = Path(f"/proc/{supervisor_pid}/task/{supervisor_pid}/children").read_text().split()
    return [
        int(pid)
        for pid in children
        if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
        and b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def _loaded(pid: int) -> set[str]:
    """The heavy libraries whose files the process has mapped."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {name for name in HEAVY if f"site-packages/{name}" in maps}


@pytest.mark.slow
def test_idle_workers_load_no_frame_library(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = make_settings().with_dev_secret()
    user = create_user(settings)
    env = server_env(
        settings,
        DEVFLOW_LAKE_FLUSH_SECONDS="0.2",
        # The scheduled jobs run too, as on an idle production server (nothing to do for them).
        METRICS_ETL_ENABLED="true",
        METRICS_ETL_INTERVAL_SECONDS="0.5",
        INSIGHTS_ENABLED="true",
        INSIGHT_CHECK_INTERVAL_SECONDS="0.5",
    )
    with ServerProcess(env, log_path=tmp_path / "server.log", extra_args=["--workers", "2"]) as server:
        assert server.proc is not None
        time.sleep(2.0)  # several flush ticks and scheduler passes
        workers = _workers(server.proc.pid)
        assert len(workers) == 2
        assert {pid: _loaded(pid) for pid in workers} == {pid: set() for pid in workers}

        # The first batch is flushed to Parquet by the worker that took it: pyarrow is loaded there.
        body = json.dumps({"events": [file_save(ts="2026-05-14T09:12:00.000Z")]}).encode()
        request = urllib.request.Request(
            server.base_url + "/api/v1/telemetry",
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {user.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 202
        deadline = time.monotonic() + 30
        while not any("pyarrow" in _loaded(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert any("pyarrow" in _loaded(pid) for pid in workers)


@pytest.mark.parametrize(("given", "expected"), [(None, "system"), ("mimalloc", "mimalloc")])
def test_served_workers_allocate_arrow_memory_from_the_system_pool(
    settings: Settings, given: str | None, expected: str
) -> None:
    """A worker built by the uvicorn factory uses the system allocator for Arrow (it returns freed
    flush buffers, which keeps the peak lower), unless the operator chose another."""
    env = {key: value for key, value in os.environ.items() if key != "ARROW_DEFAULT_MEMORY_POOL"}
    env.update(server_env(settings))
    if given is not None:
        env["ARROW_DEFAULT_MEMORY_POOL"] = given
    script = (
        "from devflow.cli import app_from_env\n"
        "app_from_env()\n"
        "import pyarrow\n"
        "print(pyarrow.default_memory_pool().backend_name)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == expected
