"""The analysts' commands as a terminal user meets them: quiet migrations, defaults in ``--help``,
``generate`` then ``etl run`` in one pass, no bar drawing off a terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def _run(args: list[str], data: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DEVFLOW_DATA_DIR": str(data),
        "JWT_SECRET": "cli-secret-which-is-long-enough-for-hs256",
    }
    for name in ("DATABASE_URL", "DEVFLOW_LAKE_URL", "LOG_LEVEL"):
        env.pop(name, None)  # the default INFO level: the migrations' lines would show
    return subprocess.run(
        [sys.executable, "-m", "devflow", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_generate_then_etl_run_is_one_pass_and_quiet(tmp_path: Path) -> None:
    data = tmp_path / "data"
    gen = _run(["generate", "--users", "6", "--days", "2", "--end-date", "2026-05-13"], data)
    assert gen.returncode == 0, gen.stderr
    assert "alembic" not in gen.stderr and "INFO" not in gen.stderr
    events = int(re.search(r"generated (\d+) events", gen.stdout).group(1))  # type: ignore[union-attr]
    etl = _run(["etl", "run"], data)
    assert etl.returncode == 0, etl.stderr
    passes = [line for line in etl.stdout.splitlines() if line.startswith("processed_count=")]
    assert passes == [passes[0]] and f"processed_count={events} " in passes[0]
    assert "alembic" not in etl.stderr and "\x1b[" not in etl.stderr  # no migration lines, no bar drawing
    verbose = _run(["-v", "etl", "run"], data)
    assert verbose.returncode == 0 and "alembic" in verbose.stderr
    assert "processed_count=0 " in verbose.stdout


def test_help_shows_defaults(tmp_path: Path) -> None:
    out = " ".join(_run(["generate", "--help"], tmp_path).stdout.split())
    assert "(default: 20)" in out and "(default: 7)" in out and "(default: 0)" in out
    out = " ".join(_run(["sql", "--help"], tmp_path).stdout.split())
    assert "(default: 40)" in out and "(default: 120)" in out
