"""``GET /metrics/coding-time``: coding time per day in the caller's zone, with breakdowns.

Coding time is stored per UTC 15-minute bucket (``metrics_coding_time``). Every IANA offset is a
multiple of 15 minutes, so each bucket lies in one local day of any zone and a local day — also one
of 23 or 25 hours — is an exact sum of buckets: the zone only changes the bucketing.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo

import msgspec
import polars as pl
import pyarrow as pa

from devflow.metrics.compute import CODING_TIME_SCHEMA
from devflow.metrics.queries import days, session_facts
from devflow.metrics.reports import MetricsQuery, facts_fields
from devflow.metrics.service import Metrics

TOP_FILES = 10


class CodingDay(msgspec.Struct, frozen=True):
    date: str
    seconds: float


class CodingShare(msgspec.Struct, frozen=True):
    name: str | None
    seconds: float


class CodingSession(msgspec.Struct, frozen=True):
    session_id: str
    seconds: float
    started_at: str | None
    ended_at: str | None
    duration_seconds: float | None
    active_seconds: float | None
    event_counts: dict[str, int]


class CodingTimeOut(msgspec.Struct, frozen=True, rename={"from_": "from"}):
    total_seconds: float
    series: list[CodingDay]
    languages: list[CodingShare]
    workspaces: list[CodingShare]
    top_files: list[CodingShare]
    time_zone: str
    gap_minutes: float
    from_: str
    to: str
    grain: str
    sessions: list[CodingSession] | None = None


def _local_midnight(day: dt.date, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=zone).astimezone(dt.UTC)


def coding_rows(metrics: Metrics, user_id: str, query: MetricsQuery, zone_name: str) -> pl.DataFrame:
    """The user's coding-time rows whose bucket lies in the query's local days, with ``local_date``."""
    zone = zoneinfo.ZoneInfo(zone_name)
    start = _local_midnight(query.date_from, zone)
    end = _local_midnight(query.date_to + dt.timedelta(days=1), zone)
    tables = []
    for day in days(start.date(), (end - dt.timedelta(microseconds=1)).date()):
        table = metrics.reader.coding_time_on(day)
        if table is not None:
            tables.append(table.filter(pa.compute.equal(table["user_id"], user_id)))
    if not tables:
        tables.append(CODING_TIME_SCHEMA.empty_table())
    frame = pl.from_arrow(pa.concat_tables(tables, promote_options="permissive"))
    assert isinstance(frame, pl.DataFrame)
    return frame.filter((pl.col("bucket_start") >= start) & (pl.col("bucket_start") < end)).with_columns(
        local_date=pl.col("bucket_start").dt.convert_time_zone(zone_name).dt.date()
    )


def _shares(frame: pl.DataFrame, column: str, limit: int | None = None) -> list[CodingShare]:
    grouped = (
        frame.group_by(column)
        .agg(pl.col("seconds").sum())
        .sort(["seconds", column], descending=[True, False], nulls_last=True)
    )
    if limit is not None:
        grouped = grouped.head(limit)
    return [CodingShare(name=name, seconds=round(seconds, 3)) for name, seconds in grouped.iter_rows()]


def coding_time_body(
    metrics: Metrics, user_id: uuid.UUID, query: MetricsQuery, zone_name: str
) -> CodingTimeOut:
    """The body of ``GET /metrics/coding-time`` for a validated query and zone."""
    frame = coding_rows(metrics, str(user_id), query, zone_name)
    per_day = dict(frame.group_by("local_date").agg(pl.col("seconds").sum()).iter_rows())
    series = [
        CodingDay(date=day.isoformat(), seconds=round(per_day.get(day, 0.0), 3))
        for day in days(query.date_from, query.date_to)
    ]
    sessions = None
    if query.session_grain:
        sessions = _sessions(metrics, str(user_id), frame)
    return CodingTimeOut(
        total_seconds=round(float(frame["seconds"].sum()), 3),
        series=series,
        languages=_shares(frame, "language"),
        workspaces=_shares(frame, "workspace"),
        top_files=_shares(frame, "file", TOP_FILES),
        time_zone=zone_name,
        gap_minutes=metrics.settings.coding_time_gap_minutes,
        from_=query.from_text,
        to=query.to_text,
        grain="session" if query.session_grain else "daily",
        sessions=sessions,
    )


def _sessions(metrics: Metrics, user_id: str, frame: pl.DataFrame) -> list[CodingSession]:
    per_session = frame.group_by("session_id").agg(pl.col("seconds").sum()).sort("session_id")
    facts = session_facts(metrics.reader, user_id, per_session["session_id"].to_list())
    return [
        CodingSession(session_id=session_id, seconds=round(seconds, 3), **facts_fields(facts.get(session_id)))
        for session_id, seconds in per_session.iter_rows()
    ]
