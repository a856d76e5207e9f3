"""Analytics benchmark: ``devflow generate`` then ``devflow backtest`` over a 3×3 grid, as a user runs them.

    .venv/bin/python bench/analytics.py --users 200 --days 30

Issue 7 target: generate 200 users × 30 days, then backtest a 3×3 threshold grid, in under 60 s in
total. Also times the pure generator alone (target: well under 30 s). Runs in a temporary data
directory (embedded SQLite) and prints wall and CPU seconds per step plus the load average,
because the machine is shared and wall time depends on what else runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(label: str, argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    cpu0, t0 = _children_cpu(), time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    if done.returncode != 0:
        print(done.stdout, done.stderr, file=sys.stderr)
        raise SystemExit(f"{label} failed with exit code {done.returncode}")
    return wall, cpu, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the data directory and print it")
    args = parser.parse_args()

    from devflow.analytics.synthetic import SyntheticSpec, iter_user_days

    spec = SyntheticSpec(users=args.users, days=args.days, seed=args.seed, end_date=date(2026, 5, 14))
    t0 = time.perf_counter()
    events = sum(len(d.events) for d in iter_user_days(spec))
    pure = time.perf_counter() - t0
    print(f"pure generator: {events} events for {args.users} users × {args.days} days in {pure:.1f} s")

    root = Path(tempfile.mkdtemp(prefix="devflow-bench-analytics-"))
    env = {
        **os.environ,
        "DEVFLOW_DATA_DIR": str(root / "data"),
        "JWT_SECRET": "bench-secret-which-is-long-enough-for-hs256",
        "LOG_LEVEL": "warning",
    }
    env.pop("DATABASE_URL", None)
    devflow = [sys.executable, "-m", "devflow"]
    try:
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        gen_wall, gen_cpu, out = _run(
            "generate",
            [
                *devflow,
                "generate",
                "--users",
                str(args.users),
                "--days",
                str(args.days),
                "--seed",
                str(args.seed),
                "--end-date",
                "2026-05-14",
                "--workers",
                str(args.workers),
            ],
            env,
        )
        print(out.splitlines()[0])
        bt_wall, bt_cpu, out = _run(
            "backtest",
            [
                *devflow,
                "backtest",
                "--set",
                "RULE_HIGH_CHURN_RATIO=0.3,0.4,0.5",
                "--set",
                "RULE_LONG_SESSION_MIN=90,120,150",
            ],
            env,
        )
        print(out.splitlines()[0])
        print(f"devflow generate: {gen_wall:.1f} s wall, {gen_cpu:.1f} s CPU ({args.workers} workers)")
        print(f"devflow backtest: {bt_wall:.1f} s wall, {bt_cpu:.1f} s CPU")
        print(f"total: {gen_wall + bt_wall:.1f} s wall (target < 60 s)")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        print(f"chart: {root / 'data' / 'backtest' / 'backtest.png'}" if args.keep else "")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
