"""``GET /metrics/coding-time``: coding time per day in the caller's zone, with breakdowns.

Coding time is stored per UTC 15-minute bucket (``metrics_coding_time``). Every IANA offset is a
multiple of 15 minutes, so each bucket lies in one local day of any zone and a local day — also one
of 23 or 25 hours — is an exact sum of buckets: the zone only changes the bucketing.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
import zoneinfo
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec

from devflow.kernel.lazy import np
from devflow.metrics.compute import BUCKET_SECONDS
from devflow.metrics.queries import CODING_ATTRIBUTES, days, session_facts
from devflow.metrics.reports import MetricsQuery, facts_fields
from devflow.metrics.service import Metrics

if TYPE_CHECKING:
    import numpy.typing as npt


TOP_FILES = 10
_BREAKDOWNS = ("language", "workspace", "file")


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


_US = 1_000_000
_DAY_US = 86_400 * _US
_EPOCH = dt.date(1970, 1, 1)


@functools.lru_cache(maxsize=4096)
def _day_offset_us(utc_day: dt.date, zone: zoneinfo.ZoneInfo) -> int | None:
    """The zone's UTC offset (µs) over the whole UTC date, or None when it changes during the date
    (a transition's day, whose buckets are then looked up one by one)."""
    midnight = dt.datetime.combine(utc_day, dt.time(0, 0), tzinfo=dt.UTC)
    first = _offset_us(midnight, zone)
    if first == _offset_us(midnight + dt.timedelta(seconds=86_400 - BUCKET_SECONDS), zone):
        return first
    return None


def _offsets_us(
    utc_day: dt.date, bucket_us: npt.NDArray[np.int64], zone: zoneinfo.ZoneInfo
) -> npt.NDArray[np.int64]:
    """The zone's UTC offset (µs) at each bucket start of one UTC date."""
    constant = _day_offset_us(utc_day, zone)
    if constant is not None:
        return np.full(bucket_us.shape, constant, dtype=np.int64)
    return np.array(
        [_offset_us(dt.datetime.fromtimestamp(b // _US, dt.UTC), zone) for b in bucket_us.tolist()],
        dtype=np.int64,
    )


def _offset_us(instant: dt.datetime, zone: zoneinfo.ZoneInfo) -> int:
    offset = instant.astimezone(zone).utcoffset()
    return 0 if offset is None else int(offset.total_seconds()) * _US


@dataclass(slots=True)
class _CodingSums:
    """Coding seconds of a range of local days: in total, per day and per attribute value."""

    total: float
    per_day: npt.NDArray[np.float64]
    by: dict[str, dict[str | None, float]]


def coding_sums(
    metrics: Metrics, user_id: str, query: MetricsQuery, zone_name: str, attributes: tuple[str, ...]
) -> _CodingSums:
    """Sum the user's coding-time rows whose bucket lies in the query's local days (``zone_name``).

    Each UTC date's rows are read once; the dates' rows are concatenated and summed in one pass,
    since a request's per-date NumPy calls on a few hundred rows each cost more than the sums.
    Attribute codes are the reader's, the same on every date, so equal names add up in one count
    (rows coded before and after the reader started its table afresh are summed per table).
    """
    zone = zoneinfo.ZoneInfo(zone_name)
    start = _local_midnight(query.date_from, zone)
    end = _local_midnight(query.date_to + dt.timedelta(days=1), zone)
    start_us, end_us = int(start.timestamp()) * _US, int(end.timestamp()) * _US
    first_day = (query.date_from - _EPOCH).days
    n_days = (query.date_to - query.date_from).days + 1
    sums = _CodingSums(0.0, np.zeros(n_days), {column: {} for column in attributes})
    parts = [
        (day, rows)
        for day in days(start.date(), (end - dt.timedelta(microseconds=1)).date())
        if (rows := metrics.reader.user_coding_time_on(day, user_id)) is not None and rows.seconds.size
    ]
    if not parts:
        return sums
    bucket_us = np.concatenate([rows.bucket_us for _, rows in parts])
    inside = (bucket_us >= start_us) & (bucket_us < end_us)
    if not inside.any():
        return sums
    row_counts = [rows.seconds.size for _, rows in parts]
    constant = [_day_offset_us(day, zone) for day, _ in parts]
    if None in constant:  # a transition's date: its buckets' offsets one by one
        offsets = np.concatenate([_offsets_us(day, rows.bucket_us, zone) for day, rows in parts])
    else:
        offsets = np.repeat(np.array(constant, dtype=np.int64), row_counts)
    seconds = np.concatenate([rows.seconds for _, rows in parts])[inside]
    local_day = (bucket_us[inside] + offsets[inside]) // _DAY_US - first_day
    sums.per_day = np.bincount(local_day, weights=seconds, minlength=n_days)[:n_days].astype(np.float64)
    sums.total = float(seconds.sum())
    tables = list({id(rows.names): rows.names for _, rows in parts}.values())
    table_of_row = (
        np.repeat([tables.index(rows.names) for _, rows in parts], row_counts)[inside]
        if len(tables) > 1
        else None
    )
    for column in attributes:
        codes = np.concatenate([rows.codes[column] for _, rows in parts])[inside]
        merged = sums.by[column]
        for index, table in enumerate(tables):
            mine = slice(None) if table_of_row is None else table_of_row == index
            present, which = np.unique(codes[mine], return_inverse=True)
            weights = np.bincount(which, weights=seconds[mine], minlength=present.size)
            for code, weight in zip(present.tolist(), weights.tolist(), strict=True):
                label = table.names[code]
                merged[label] = merged.get(label, 0.0) + weight
    return sums


def _shares(values: dict[str | None, float], limit: int | None = None) -> list[CodingShare]:
    """Largest first; ties by name, the unnamed last."""
    ordered = sorted(values.items(), key=lambda item: (-item[1], item[0] is None, item[0] or ""))
    return [CodingShare(name=name, seconds=round(seconds, 3)) for name, seconds in ordered[:limit]]


def coding_time_body(
    metrics: Metrics, user_id: uuid.UUID, query: MetricsQuery, zone_name: str
) -> CodingTimeOut:
    """The body of ``GET /metrics/coding-time`` for a validated query and zone."""
    # Per-session sums only for the sessions grain.
    attributes = CODING_ATTRIBUTES if query.session_grain else _BREAKDOWNS
    sums = coding_sums(metrics, str(user_id), query, zone_name, attributes)
    series = [
        CodingDay(date=day.isoformat(), seconds=round(float(seconds), 3))
        for day, seconds in zip(days(query.date_from, query.date_to), sums.per_day, strict=True)
    ]
    return CodingTimeOut(
        total_seconds=round(sums.total, 3),
        series=series,
        languages=_shares(sums.by["language"]),
        workspaces=_shares(sums.by["workspace"]),
        top_files=_shares(sums.by["file"], TOP_FILES),
        time_zone=zone_name,
        gap_minutes=metrics.settings.coding_time_gap_minutes,
        from_=query.from_text,
        to=query.to_text,
        grain="session" if query.session_grain else "daily",
        sessions=_sessions(metrics, str(user_id), sums.by["session_id"]) if query.session_grain else None,
    )


def _sessions(metrics: Metrics, user_id: str, per_session: dict[str | None, float]) -> list[CodingSession]:
    ids = sorted(sid for sid in per_session if sid is not None)
    facts = session_facts(metrics.reader, user_id, ids)
    return [
        CodingSession(session_id=sid, seconds=round(per_session[sid], 3), **facts_fields(facts.get(sid)))
        for sid in ids
    ]
