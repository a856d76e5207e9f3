"""Metrics: the ETL from raw events to per-(user, session, day) and per-session partitions, and the
reads behind ``/metrics/*`` and the insight features (contract §3.7, §6). Other contexts use this
module only."""

from __future__ import annotations

from devflow.metrics.compute import RAW_COLUMNS, SESSION_DAY_SCHEMA, SESSION_SCHEMA
from devflow.metrics.layout import METRICS_DAILY_DIR, METRICS_SESSION_DIR
from devflow.metrics.queries import DayFigures, Figures, MetricsReader, top_files, user_day_metrics
from devflow.metrics.reports import (
    MAX_RANGE_DAYS,
    MetricsQuery,
    churn_body,
    churn_ratio,
    context_switching_body,
    daily_query,
    parse_metrics_query,
)
from devflow.metrics.service import ETL_LOCK, Metrics
from devflow.metrics.sql import lines_sql, sql_text

__all__ = [
    "ETL_LOCK",
    "MAX_RANGE_DAYS",
    "METRICS_DAILY_DIR",
    "METRICS_SESSION_DIR",
    "RAW_COLUMNS",
    "SESSION_DAY_SCHEMA",
    "SESSION_SCHEMA",
    "DayFigures",
    "Figures",
    "Metrics",
    "MetricsQuery",
    "MetricsReader",
    "churn_body",
    "churn_ratio",
    "context_switching_body",
    "daily_query",
    "lines_sql",
    "parse_metrics_query",
    "sql_text",
    "top_files",
    "user_day_metrics",
]
