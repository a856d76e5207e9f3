"""A lake with two users' events, quarantine rows and metric partitions, for the data-rights tests."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from bench.bulk_events import synthetic_events
from devflow.config import Settings
from devflow.lake.partitions import write_partitioned
from devflow.lake.registry import register_files
from devflow.services import build_services, close
from devflow.telemetry.arrow import quarantine_table
from devflow.telemetry.tables import QUARANTINE_TABLE
from tests.support.accounts import TestUser, create_user
from tests.support.lake import write_event_files


@dataclass(frozen=True)
class TwoUserLake:
    __test__ = False
    settings: Settings
    victim: TestUser
    other: TestUser
    lake: Path


def build_two_user_lake(settings: Settings, events: int = 6_000) -> TwoUserLake:
    victim = create_user(settings, email="victim@example.com")
    other = create_user(settings, email="other@example.com")
    services = build_services(settings)
    try:
        ids = [str(victim.id), str(other.id)]
        for seed in range(2):
            table = synthetic_events(events, user_ids=ids, start=dt.date(2026, 5, 1), days=4, seed=seed)
            write_event_files(services.lake, services.db, table)
        for who in (victim, other):
            rows = quarantine_table(
                user_id=str(who.id),
                received_at=dt.datetime(2026, 5, 2, 12, tzinfo=dt.UTC),
                batch_id="b-" + who.id.hex[:8],
                batch_indexes=[0, 1],
                reasons=["invalid_type", "invalid_type"],
                raws=[json.dumps({"type": "nope", "who": str(who.id)}).encode()] * 2,
            )
            register_files(services.db, write_partitioned(services.lake, QUARANTINE_TABLE, rows))
        result = services.metrics.run_locked_pass(take_all=True)
        assert result is not None and result.processed_count > 0
    finally:
        close(services)
    return TwoUserLake(settings, victim, other, Path(settings.lake_url))


def _user_datasets(con: duckdb.DuckDBPyConnection, lake: Path) -> dict[str, list[str]]:
    """Every dataset (top-level folder) whose Parquet files have a ``user_id`` column: its files."""
    found: dict[str, list[str]] = {}
    for dataset in sorted(p for p in lake.iterdir() if p.is_dir()):
        files = sorted(str(f) for f in dataset.rglob("*.parquet"))
        if not files:
            continue
        described = con.execute(
            "DESCRIBE SELECT * FROM read_parquet(?, union_by_name=true, hive_partitioning=false)", [files]
        ).fetchall()
        if "user_id" in {row[0] for row in described}:
            found[dataset.name] = files
    return found


def lake_rows(lake: Path, user_id: str) -> dict[str, int]:
    """Rows carrying ``user_id`` per dataset, over every Parquet file of the lake (DuckDB)."""
    con = duckdb.connect()
    counts: dict[str, int] = {}
    for name, files in _user_datasets(con, lake).items():
        row = con.execute(
            "SELECT count(*) FROM read_parquet(?, union_by_name=true, hive_partitioning=false) "
            "WHERE CAST(user_id AS VARCHAR) = ?",
            [files, user_id],
        ).fetchone()
        counts[name] = int(row[0]) if row else 0
    return counts


def lake_content(lake: Path, user_id: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of ``user_id`` per dataset, sorted (to compare before and after)."""
    con = duckdb.connect()
    return {
        name: sorted(
            con.execute(
                "SELECT * FROM read_parquet(?, union_by_name=true, hive_partitioning=false) "
                "WHERE CAST(user_id AS VARCHAR) = ?",
                [files, user_id],
            ).fetchall(),
            key=repr,
        )
        for name, files in _user_datasets(con, lake).items()
    }


@pytest.fixture()
def two_user_lake(settings: Settings) -> TwoUserLake:
    return build_two_user_lake(settings)
