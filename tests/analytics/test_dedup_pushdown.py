"""The ``events`` view and ``scan_events()`` de-duplicate within partitions, and that is exact.

Re-sent copies are planted in every position a lake can hold them: twice in the same file, in
another file of the same partition sent later, in a file sent *earlier* (a replayed spool whose
copy is the first in ingestion order), with a tie on ``received_at`` broken by ``batch_id``, and
with a different ``raw`` spelling (the first copy's must win). Batches span two date partitions,
so copies sit in several partitions' files. The views must equal a reference built the plain
way (first row per (``session_id``, ``fingerprint``) in ingestion order), unfiltered and under
filters on each column the de-duplication pushes down.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from devflow.analytics.events_view import connect_lake, scan_events
from devflow.analytics.synthetic import SyntheticSpec, generate
from devflow.lake.storage import LakeStorage
from devflow.telemetry import event_schema
from devflow.telemetry.arrow import events_to_table

T0 = datetime(2026, 5, 20, tzinfo=UTC)
BATCH = "01890000-0000-7000-8000-{:012d}"  # UUIDv7-shaped, ordered by the number


def _write(storage: LakeStorage, table: pa.Table, name: str) -> None:
    """One file per UTC date of ``table``, like a flush: events/date=D/part-<name>.parquet."""
    days = pc.cast(table["timestamp"], pa.date32())
    for day in pc.unique(days).to_pylist():
        part = table.filter(pc.equal(days, pa.scalar(day, pa.date32())))
        storage.write_parquet_atomic(f"events/date={day.isoformat()}/part-{name}.parquet", part)


def _batch(events: list[dict[str, Any]], user: str, received: datetime, batch: int) -> pa.Table:
    return events_to_table(events, user_id=user, received_at=received, batch_id=BATCH.format(batch))


def _respelled(table: pa.Table) -> pa.Table:
    """The same events with another spelling of the raw JSON (same fingerprint)."""
    raw = pa.array([text + " " for text in table["raw"].to_pylist()], pa.string())
    index = table.schema.get_field_index("raw")
    return table.set_column(index, table.schema.field(index), raw)


@pytest.fixture()
def lake(tmp_path: Path) -> tuple[LakeStorage, pl.DataFrame]:
    """A lake with copies everywhere, and every stored row as a Polars frame (with ``date``)."""
    data = generate(SyntheticSpec(users=3, days=2, seed=5, end_date=date(2026, 5, 19)))
    storage = LakeStorage.from_url(str(tmp_path / "lake"))
    by_user: dict[str, list[dict[str, Any]]] = {}
    for user, event in data.events():
        by_user.setdefault(str(user.user_id), []).append(event)
    tables: list[pa.Table] = []
    for n, (user, events) in enumerate(sorted(by_user.items())):
        third = len(events) // 3
        first = _batch(events + events[:5], user, T0, 10 * n + 1)  # 5 copies inside the same file
        later = _batch(events[third:], user, T0 + timedelta(minutes=5), 10 * n + 2)  # another file, later
        earlier = _respelled(_batch(events[: 2 * third], user, T0 - timedelta(minutes=5), 10 * n + 3))
        tie = _batch(events[::7], user, T0, 10 * n + 4)  # same received_at as `first`, later batch id
        for k, table in enumerate((first, later, earlier, tie)):
            _write(storage, table, f"{n}-{k}")
            tables.append(table)
    every = pl.from_arrow(pa.concat_tables(tables))
    assert isinstance(every, pl.DataFrame)
    every = every.with_columns(pl.col("timestamp").dt.date().alias("date"))
    return storage, every


def _reference(every: pl.DataFrame) -> pl.DataFrame:
    return every.sort("received_at", "batch_id", "batch_index").unique(
        subset=["session_id", "fingerprint"], keep="first", maintain_order=True
    )


def _same(actual: pl.DataFrame, expected: pl.DataFrame) -> None:
    columns = [*event_schema().names, "date"]
    key = ["session_id", "fingerprint"]
    assert actual.height == expected.height
    left = actual.select(columns).sort(key)
    right = expected.select(columns).cast(dict(left.schema)).sort(key)  # type: ignore[arg-type]
    assert left.equals(right)


def test_events_view_equals_first_copy_in_ingestion_order(lake: tuple[LakeStorage, pl.DataFrame]) -> None:
    storage, every = lake
    expected = _reference(every)
    assert every.height > expected.height + 100  # the lake really holds copies
    assert len(storage.list_partitions("events")) == 2
    con = connect_lake(storage)
    _same(con.sql("SELECT * FROM events").pl(), expected)
    _same(scan_events(storage).collect(), expected)
    # the first copy is the earliest batch's: its received_at, batch id and raw spelling
    assert (expected["received_at"] == T0 - timedelta(minutes=5)).sum() > 0
    assert expected.filter(pl.col("received_at") < T0)["raw"].str.ends_with(" ").all()


def test_filtered_queries_equal_the_filtered_reference(lake: tuple[LakeStorage, pl.DataFrame]) -> None:
    storage, every = lake
    expected = _reference(every)
    day = expected["date"].min()
    user = expected["user_id"].max()
    session = expected["session_id"].sort()[len(expected) // 2]
    con = connect_lake(storage)
    filters: list[tuple[str, pl.Expr, dict[str, object]]] = [
        ("date = $v", pl.col("date") == day, {"v": day}),
        ("user_id = $v", pl.col("user_id") == user, {"v": user}),  # applied after: still exact
        ("session_id = $v", pl.col("session_id") == session, {"v": session}),
        ("type = $v", pl.col("type") == "editor_switch", {"v": "editor_switch"}),
    ]
    for sql, expr, params in filters:
        want = expected.filter(expr)
        assert want.height > 0, sql
        _same(con.sql(f"SELECT * FROM events WHERE {sql}", params=params).pl(), want)  # noqa: S608
        _same(scan_events(storage).filter(expr).collect(), want)


def test_a_one_day_query_reads_only_that_partition(lake: tuple[LakeStorage, pl.DataFrame]) -> None:
    """The date filter reaches the Parquet scan below the de-duplication (both engines)."""
    storage, every = lake
    day = every["date"].min()
    con = connect_lake(storage)
    explained = con.sql("EXPLAIN SELECT count(*) FROM events WHERE date = $day", params={"day": day})
    plan = "\n".join(str(row[1]) for row in explained.fetchall())
    assert "File Filters" in plan or "Filters" in plan, plan
    polars_plan = scan_events(storage).filter(pl.col("date") == day).select(pl.len()).explain()
    assert polars_plan.index("SELECTION") > polars_plan.index("UNIQUE"), polars_plan


def test_distinct_counts_over_events_all_equal_those_over_events(
    lake: tuple[LakeStorage, pl.DataFrame],
) -> None:
    """The data dictionary's advice for daily active users and sessions per day: copies share date,
    session and user, so the plain scan of ``events_all`` answers like the de-duplicated view."""
    storage, every = lake
    expected = (
        _reference(every)
        .group_by("date")
        .agg(pl.col("user_id").n_unique().alias("users"), pl.col("session_id").n_unique().alias("sessions"))
        .sort("date")
    )
    con = connect_lake(storage)
    query = (
        "SELECT date, count(DISTINCT user_id) AS users, count(DISTINCT session_id) AS sessions "
        "FROM {} GROUP BY date ORDER BY date"
    )
    fast = con.sql(query.format("events_all")).pl()
    assert fast.equals(con.sql(query.format("events")).pl())
    assert fast.cast(dict(expected.schema)).equals(expected)  # type: ignore[arg-type]
    assert expected["users"].min() > 0
