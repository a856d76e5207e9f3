"""``/metrics/churn``, ``/metrics/context-switching``, ``/metrics/coding-time`` and ``POST /metrics/etl/run``
(contract §3.7)."""

from __future__ import annotations

from typing import Any, Literal

import anyio.to_thread
import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency

from devflow.accounts import Principal, user_time_zone
from devflow.http.body import drain_body
from devflow.http.openapi import Param, api_doc
from devflow.kernel.errors import AlreadyDone
from devflow.metrics.coding import CodingTimeOut, coding_time_body
from devflow.metrics.reports import (
    MetricsQuery,
    churn_body,
    context_switching_body,
    parse_metrics_query,
    valid_zone,
    with_zone,
)
from devflow.metrics.service import Metrics

# -- response bodies (the reports build plain dicts, shared with the dashboard page; the Structs
# fix their shape for the API and its description, in the same key order) -----------------------


class ChurnDay(msgspec.Struct):
    date: str
    lines_added: int
    lines_deleted: int
    ratio: float | None


class ChurnDaily(msgspec.Struct, rename={"from_": "from"}):
    ratio: float | None
    total_lines_added: int
    total_lines_deleted: int
    series: list[ChurnDay]
    definition: Literal["line-delta", "typing-heuristic"]
    from_: str
    to: str
    grain: Literal["daily"]


class ChurnSession(msgspec.Struct):
    session_id: str
    ratio: float | None
    total_lines_added: int
    total_lines_deleted: int
    started_at: str | None
    ended_at: str | None
    duration_seconds: float | None
    active_seconds: float | None
    event_counts: dict[str, int]


class ChurnSessions(msgspec.Struct, rename={"from_": "from"}):
    sessions: list[ChurnSession]
    definition: Literal["line-delta", "typing-heuristic"]
    from_: str
    to: str
    grain: Literal["session"]


class TopFile(msgspec.Struct):
    path: str
    count: int


class SwitchDay(msgspec.Struct):
    date: str
    switch_count: int
    rapid_switch_count: int


class SwitchingDaily(msgspec.Struct, rename={"from_": "from"}):
    switch_count: int
    rapid_switch_count: int
    top_files: list[TopFile]
    series: list[SwitchDay]
    definition: Literal["editor-switch-count"]
    from_: str
    to: str
    grain: Literal["daily"]


class SwitchingSession(msgspec.Struct):
    session_id: str
    switch_count: int
    rapid_switch_count: int
    top_files: list[TopFile]
    started_at: str | None
    ended_at: str | None
    duration_seconds: float | None
    active_seconds: float | None
    event_counts: dict[str, int]


class SwitchingSessions(msgspec.Struct, rename={"from_": "from"}):
    sessions: list[SwitchingSession]
    definition: Literal["editor-switch-count"]
    from_: str
    to: str
    grain: Literal["session"]


class EtlRunOut(msgspec.Struct):
    processed_count: int
    watermark_before: int
    watermark_after: int
    duration_ms: int


_DATE = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$", "format": "date"}
_RANGE_QUERY = (
    Param("from", _DATE, "First UTC day (echoed as given)", required=True),
    Param("to", _DATE, "Last UTC day; at most 366 days after `from`, inclusive", required=True),
    Param("grain", {"type": "string", "enum": ["daily", "session"]}, "`session`, else daily"),
    Param(
        "tz",
        {"type": "string"},
        "IANA time zone of the days (e.g. `Asia/Kathmandu`); default: the user's stored zone, else UTC",
    ),
)
_RANGE_400 = (
    '`{"error":"Validation failed","message":…}`: "from and to are required (YYYY-MM-DD)", '
    '"from and to must be YYYY-MM-DD", "from must be <= to", "range must be at most 366 days", '
    '"tz must be an IANA time zone name"'
)


def _zoned(metrics: Metrics, principal: Principal, query: MetricsQuery) -> MetricsQuery:
    """The days of ``tz``, else of the user's stored zone, else UTC days (contract 1.1)."""
    if query.zone is not None:
        return with_zone(query, query.zone)
    stored = user_time_zone(metrics.db, principal.user_id)
    return with_zone(query, stored if stored and valid_zone(stored) else None)


@get(
    "/metrics/churn",
    operation_id="metrics_churn",
    tags=["metrics"],
    sync_to_thread=True,
    **api_doc(auth="either", errors=(400,), error_texts={400: _RANGE_400}, query=_RANGE_QUERY),
)
def churn(
    request: Request[Any, Any, Any], metrics: NamedDependency[Metrics], principal: NamedDependency[Principal]
) -> ChurnDaily | ChurnSessions:
    """Lines added/deleted and churn ratio, daily or per session (either mode; caller's data)."""
    query = _zoned(metrics, principal, parse_metrics_query(request.query_params, with_top_n=False))
    body = churn_body(metrics, principal.user_id, query)
    if query.session_grain:
        return msgspec.convert(body, ChurnSessions)
    return msgspec.convert(body, ChurnDaily)


@get(
    "/metrics/context-switching",
    operation_id="metrics_context_switching",
    tags=["metrics"],
    sync_to_thread=True,
    **api_doc(
        auth="either",
        errors=(400,),
        error_texts={400: _RANGE_400 + ', "top_n must be an integer 1..20"'},
        query=(
            *_RANGE_QUERY,
            Param("top_n", {"type": "integer", "minimum": 1, "maximum": 20, "default": 10}, "Digits only"),
        ),
    ),
)
def context_switching(
    request: Request[Any, Any, Any], metrics: NamedDependency[Metrics], principal: NamedDependency[Principal]
) -> SwitchingDaily | SwitchingSessions:
    """Editor switches, rapid switches and exact top files, daily or per session."""
    query = _zoned(metrics, principal, parse_metrics_query(request.query_params, with_top_n=True))
    body = context_switching_body(metrics, principal.user_id, query)
    if query.session_grain:
        return msgspec.convert(body, SwitchingSessions)
    return msgspec.convert(body, SwitchingDaily)


@get(
    "/metrics/coding-time",
    operation_id="metrics_coding_time",
    tags=["metrics"],
    sync_to_thread=True,
    **api_doc(auth="either", errors=(400,), error_texts={400: _RANGE_400}, query=_RANGE_QUERY),
)
def coding_time(
    request: Request[Any, Any, Any], metrics: NamedDependency[Metrics], principal: NamedDependency[Principal]
) -> CodingTimeOut:
    """Coding time per day in ``tz`` (else the stored zone, else UTC), with breakdowns by language,
    workspace and top files; ``grain=session`` adds the sessions with their start, end and counts."""
    query = _zoned(metrics, principal, parse_metrics_query(request.query_params, with_top_n=False))
    return coding_time_body(metrics, principal.user_id, query, query.zone or "UTC")


@post(
    "/metrics/etl/run",
    operation_id="metrics_etl_run",
    tags=["metrics"],
    status_code=200,
    **api_doc(
        auth="admin",
        errors=(409,),
        error_texts={
            403: '`{"error":"API tokens cannot trigger ETL"}` or `{"error":"Admin only"}`',
            409: '`{"error":"ETL pass already in flight"}`',
        },
    ),
)
async def etl_run(
    request: Request[Any, Any, Any], metrics: NamedDependency[Metrics], principal: NamedDependency[Principal]
) -> EtlRunOut:
    """Admin: flush this process's lake writer, then run one ETL pass synchronously (409 if one runs)."""
    principal.require_admin(metrics.settings.admin_user_ids, "API tokens cannot trigger ETL")
    await drain_body(request)
    result = await anyio.to_thread.run_sync(metrics.run_manual_pass)
    if result is None:
        raise AlreadyDone("ETL pass already in flight")
    return EtlRunOut(
        processed_count=result.processed_count,
        watermark_before=result.watermark_before,
        watermark_after=result.watermark_after,
        duration_ms=result.duration_ms,
    )


ROUTES = [churn, context_switching, coding_time, etl_run]
