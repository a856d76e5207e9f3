"""``devflow sql``: one query over the analyst views, printed or written to CSV / Parquet."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from devflow.analytics.generate import write_synthetic
from devflow.analytics.synthetic import SyntheticSpec, generate
from devflow.cli import main
from devflow.config import Settings
from devflow.db.engine import make_engine, make_session_factory

SPEC = SyntheticSpec(users=4, days=2, seed=9, end_date=date(2026, 5, 13))
QUERY = (
    "SELECT u.username, count(*) AS events FROM events e JOIN users u USING (user_id) GROUP BY ALL ORDER BY 1"
)


@pytest.fixture()
def lake_env(settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    engine = make_engine(settings.database_url)
    try:
        write_synthetic(
            settings, SPEC, db=make_session_factory(engine), now=datetime(2026, 5, 15, tzinfo=UTC)
        )
    finally:
        engine.dispose()
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DEVFLOW_LAKE_URL", settings.lake_url)
    monkeypatch.setenv("LOG_LEVEL", "warning")
    counts: dict[str, int] = {}
    for user, _ in generate(SPEC).events():
        counts[user.username] = counts.get(user.username, 0) + 1
    return counts


def test_sql_prints_the_result(lake_env: dict[str, int], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", QUERY]) == 0
    out = capsys.readouterr().out
    for name, n in lake_env.items():
        assert name in out and str(n) in out


def test_sql_writes_csv_and_parquet(lake_env: dict[str, int], tmp_path: Path) -> None:
    assert main(["sql", QUERY, "--csv", str(tmp_path / "out.csv")]) == 0
    with (tmp_path / "out.csv").open() as f:
        rows = {r["username"]: int(r["events"]) for r in csv.DictReader(f)}
    assert rows == lake_env
    assert main(["sql", QUERY, "--parquet", str(tmp_path / "out.parquet")]) == 0
    table = pq.read_table(tmp_path / "out.parquet")
    assert dict(zip(table["username"].to_pylist(), table["events"].to_pylist(), strict=True)) == lake_env


def test_sql_reports_a_bad_query_without_a_traceback(
    lake_env: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sql", "SELECT * FROM no_such_view"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("devflow sql: ") and "no_such_view" in err
