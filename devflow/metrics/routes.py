"""``/metrics/churn``, ``/metrics/context-switching`` and ``POST /metrics/etl/run`` (contract §3.7)."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from litestar import Request, get, post
from litestar.di import NamedDependency

from devflow.accounts import Principal, stored_time_zone
from devflow.http.body import drain_body
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


def _zoned(metrics: Metrics, principal: Principal, query: MetricsQuery) -> MetricsQuery:
    """The days of ``tz``, else of the user's stored zone, else UTC days (contract 1.1)."""
    if query.zone is not None:
        return with_zone(query, query.zone)
    stored = stored_time_zone(metrics.db, principal.user_id)
    return with_zone(query, stored if stored and valid_zone(stored) else None)


@get("/metrics/churn", operation_id="metricsChurn", tags=["metrics"], sync_to_thread=True)
def churn(
    request: Request[Any, Any, Any], metrics: NamedDependency[Metrics], principal: NamedDependency[Principal]
) -> dict[str, Any]:
    """Lines added/deleted and churn ratio, daily or per session (either mode; caller's data)."""
    query = _zoned(metrics, principal, parse_metrics_query(request.query_params, with_top_n=False))
    return churn_body(metrics, principal.user_id, query)


@get(
    "/metrics/context-switching",
    operation_id="metricsContextSwitching",
    tags=["metrics"],
    sync_to_thread=True,
)
def context_switching(
    request: Request[Any, Any, Any], metrics: NamedDependency[Metrics], principal: NamedDependency[Principal]
) -> dict[str, Any]:
    """Editor switches, rapid switches and exact top files, daily or per session."""
    query = _zoned(metrics, principal, parse_metrics_query(request.query_params, with_top_n=True))
    return context_switching_body(metrics, principal.user_id, query)


@get(
    "/metrics/coding-time",
    operation_id="metrics_coding_time",
    tags=["metrics"],
    sync_to_thread=True,
)
def coding_time(
    request: Request[Any, Any, Any], metrics: NamedDependency[Metrics], principal: NamedDependency[Principal]
) -> CodingTimeOut:
    """Coding time per day in ``tz`` (else the stored zone, else UTC), with breakdowns by language,
    workspace and top files; ``grain=session`` adds the sessions with their start, end and counts."""
    query = _zoned(metrics, principal, parse_metrics_query(request.query_params, with_top_n=False))
    return coding_time_body(metrics, principal.user_id, query, query.zone or "UTC")


@post("/metrics/etl/run", operation_id="metricsEtlRun", tags=["metrics"], status_code=200)
async def etl_run(
    request: Request[Any, Any, Any], metrics: NamedDependency[Metrics], principal: NamedDependency[Principal]
) -> dict[str, int]:
    """Admin: flush this process's lake writer, then run one ETL pass synchronously (409 if one runs)."""
    principal.require_admin(metrics.settings.admin_user_ids, "API tokens cannot trigger ETL")
    await drain_body(request)
    result = await anyio.to_thread.run_sync(metrics.run_manual_pass)
    if result is None:
        raise AlreadyDone("ETL pass already in flight")
    return {
        "processed_count": result.processed_count,
        "watermark_before": result.watermark_before,
        "watermark_after": result.watermark_after,
        "duration_ms": result.duration_ms,
    }


ROUTES = [churn, context_switching, coding_time, etl_run]
