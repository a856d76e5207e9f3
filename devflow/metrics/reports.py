"""The figures of ``GET /metrics/churn`` and ``/metrics/context-switching`` (contract §3.7, §6.4):
query validation and the response bodies, shared by the API and the built-in dashboard page so that
both always show the same numbers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import uuid
import zoneinfo
from dataclasses import dataclass
from typing import Any

from devflow.kernel.clock import iso_ms
from devflow.kernel.errors import ValidationFailed
from devflow.metrics.compute import SWITCH_DEFINITION
from devflow.metrics.queries import (
    Figures,
    SessionFacts,
    daily_series,
    session_facts,
    session_figures,
    sum_figures,
)
from devflow.metrics.service import Metrics
from devflow.telemetry import sessions_started_between

MAX_RANGE_DAYS = 366
DEFAULT_TOP_N = 10
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TOP_N = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class MetricsQuery:
    """Validated common query parameters."""

    from_text: str
    to_text: str
    date_from: dt.date
    date_to: dt.date
    session_grain: bool
    top_n: int
    zone: str | None = None  # IANA zone of the days; None: UTC days (contract 1.1)


def parse_metrics_query(params: Any, *, with_top_n: bool) -> MetricsQuery:
    """Validate ``from``/``to``/``grain``/``top_n`` in the contract's order (§3.7 table)."""
    froms: list[str] = params.getall("from", [])
    tos: list[str] = params.getall("to", [])
    if not froms or not tos or froms[0] == "" or tos[0] == "":
        raise ValidationFailed("from and to are required (YYYY-MM-DD)")
    if len(froms) > 1 or len(tos) > 1:
        raise ValidationFailed("from and to must be YYYY-MM-DD")
    date_from, date_to = _date_range(froms[0], tos[0])
    top_n = DEFAULT_TOP_N
    if with_top_n:
        values: list[str] = params.getall("top_n", [])
        if values:
            if len(values) > 1 or not _TOP_N.fullmatch(values[0]) or not 1 <= int(values[0]) <= 20:
                raise ValidationFailed("top_n must be an integer 1..20")
            top_n = int(values[0])
    grains: list[str] = params.getall("grain", [])
    return MetricsQuery(
        from_text=froms[0],
        to_text=tos[0],
        date_from=date_from,
        date_to=date_to,
        session_grain=bool(grains) and grains[0] == "session",
        top_n=top_n,
        zone=parse_zone(params),
    )


def parse_zone(params: Any) -> str | None:
    """The ``tz`` query parameter (an IANA name), None when absent; 400 when invalid."""
    values: list[str] = params.getall("tz", [])
    if not values:
        return None
    if len(values) > 1 or not valid_zone(values[0]):
        raise ValidationFailed("tz must be an IANA time zone name")
    return values[0]


def valid_zone(name: str) -> bool:
    """Whether ``name`` is a known IANA time zone."""
    if not name or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def with_zone(query: MetricsQuery, zone: str | None) -> MetricsQuery:
    """``query`` with the days of ``zone`` (UTC days for None or ``UTC``)."""
    return dataclasses.replace(query, zone=None if zone in (None, "UTC") else zone)


def daily_query(from_text: str, to_text: str, top_n: int = DEFAULT_TOP_N) -> MetricsQuery:
    """A daily-grain query for ``from``..``to`` (``YYYY-MM-DD``), validated as the API validates it."""
    date_from, date_to = _date_range(from_text, to_text)
    return MetricsQuery(from_text, to_text, date_from, date_to, session_grain=False, top_n=top_n)


def _date_range(from_text: str, to_text: str) -> tuple[dt.date, dt.date]:
    date_from = _calendar_date(from_text)
    date_to = _calendar_date(to_text)
    if date_from > date_to:
        raise ValidationFailed("from must be <= to")
    if (date_to - date_from).days + 1 > MAX_RANGE_DAYS:
        raise ValidationFailed("range must be at most 366 days")
    return date_from, date_to


def _calendar_date(value: str) -> dt.date:
    if not _DATE.fullmatch(value):
        raise ValidationFailed("from and to must be YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed("from and to must be YYYY-MM-DD") from None


def churn_ratio(added: int, deleted: int) -> float | None:
    """``min(1, deleted / added)``, or None when nothing was added (§3.7)."""
    if added <= 0:
        return None
    return min(1.0, deleted / added)


def _selected_sessions(
    metrics: Metrics, user_id: uuid.UUID, query: MetricsQuery, *, with_files: bool = False
) -> list[tuple[str, Figures]]:
    """§6.4: the caller's sessions that started in the range and have ≥ 1 text_change or switch."""
    zone = dt.UTC if query.zone is None else zoneinfo.ZoneInfo(query.zone)
    start = dt.datetime.combine(query.date_from, dt.time(0, 0), tzinfo=zone).astimezone(dt.UTC)
    end = dt.datetime.combine(query.date_to, dt.time(23, 59, 59, 999000), tzinfo=zone).astimezone(dt.UTC)
    selected: list[tuple[str, Figures]] = []
    for span in sessions_started_between(metrics.db, user_id, start, end):
        sid = str(span.session_id)
        figures = session_figures(
            metrics.reader, metrics.definition, str(user_id), sid, with_files=with_files
        )
        if figures is not None and figures.activity_count > 0:
            selected.append((sid, figures))
    return selected


def facts_fields(facts: SessionFacts | None) -> dict[str, Any]:
    """The session fields that contract 1.1 adds to every ``grain=session`` entry (after the
    original fields, which keep their meaning)."""
    if facts is None:
        return {
            "started_at": None,
            "ended_at": None,
            "duration_seconds": None,
            "active_seconds": None,
            "event_counts": {},
        }
    return {
        "started_at": iso_ms(facts.started_at),
        "ended_at": iso_ms(facts.ended_at),
        "duration_seconds": facts.duration_seconds,
        "active_seconds": facts.active_seconds,
        "event_counts": facts.event_counts,
    }


def _with_facts(
    metrics: Metrics, user_id: uuid.UUID, selected: list[tuple[str, Figures]]
) -> list[tuple[str, Figures, dict[str, Any]]]:
    facts = session_facts(metrics.reader, str(user_id), (sid for sid, _ in selected))
    return [(sid, f, facts_fields(facts.get(sid))) for sid, f in selected]


def _daily(metrics: Metrics, user_id: uuid.UUID, query: MetricsQuery) -> list[tuple[dt.date, Figures]]:
    return daily_series(
        metrics.reader, metrics.definition, str(user_id), query.date_from, query.date_to, query.zone
    )


def churn_body(metrics: Metrics, user_id: uuid.UUID, query: MetricsQuery) -> dict[str, Any]:
    """The body of ``GET /metrics/churn`` for a validated query."""
    definition = metrics.definition
    tail = {"definition": definition, "from": query.from_text, "to": query.to_text}
    if query.session_grain:
        sessions = [
            {
                "session_id": sid,
                "ratio": churn_ratio(f.lines_added, f.lines_deleted),
                "total_lines_added": f.lines_added,
                "total_lines_deleted": f.lines_deleted,
                **extra,
            }
            for sid, f, extra in _with_facts(metrics, user_id, _selected_sessions(metrics, user_id, query))
        ]
        return {"sessions": sessions, **tail, "grain": "session"}
    series = _daily(metrics, user_id, query)
    total = sum_figures(f for _, f in series)
    return {
        "ratio": churn_ratio(total.lines_added, total.lines_deleted),
        "total_lines_added": total.lines_added,
        "total_lines_deleted": total.lines_deleted,
        "series": [
            {
                "date": day.isoformat(),
                "lines_added": f.lines_added,
                "lines_deleted": f.lines_deleted,
                "ratio": churn_ratio(f.lines_added, f.lines_deleted),
            }
            for day, f in series
        ],
        **tail,
        "grain": "daily",
    }


def _top(figures: Figures, n: int) -> list[dict[str, Any]]:
    return [{"path": path, "count": count} for path, count in figures.top_files(n)]


def context_switching_body(metrics: Metrics, user_id: uuid.UUID, query: MetricsQuery) -> dict[str, Any]:
    """The body of ``GET /metrics/context-switching`` for a validated query."""
    tail = {"definition": SWITCH_DEFINITION, "from": query.from_text, "to": query.to_text}
    if query.session_grain:
        sessions = [
            {
                "session_id": sid,
                "switch_count": f.switch_count,
                "rapid_switch_count": f.rapid_switch_count,
                "top_files": _top(f, query.top_n),
                **extra,
            }
            for sid, f, extra in _with_facts(
                metrics, user_id, _selected_sessions(metrics, user_id, query, with_files=True)
            )
        ]
        return {"sessions": sessions, **tail, "grain": "session"}
    series = _daily(metrics, user_id, query)
    total = sum_figures(f for _, f in series)
    return {
        "switch_count": total.switch_count,
        "rapid_switch_count": total.rapid_switch_count,
        "top_files": _top(total, query.top_n),
        "series": [
            {
                "date": day.isoformat(),
                "switch_count": f.switch_count,
                "rapid_switch_count": f.rapid_switch_count,
            }
            for day, f in series
        ],
        **tail,
        "grain": "daily",
    }
