"""Metrics: the ETL from raw events to per-(user, session, day) and per-session partitions, and the
reads behind ``/metrics/*`` and the insight features (contract §3.7, §6). Other contexts use this
module only."""

from __future__ import annotations

from devflow.metrics.compute import RAW_COLUMNS, SESSION_DAY_SCHEMA, SESSION_SCHEMA
from devflow.metrics.layout import METRICS_DAILY_DIR, METRICS_SESSION_DIR
from devflow.metrics.queries import DayFigures, Figures, MetricsReader, top_files, user_day_metrics
from devflow.metrics.service import ETL_LOCK, Metrics
from devflow.metrics.sql import lines_sql, sql_text

__all__ = [
    "ETL_LOCK",
    "METRICS_DAILY_DIR",
    "METRICS_SESSION_DIR",
    "RAW_COLUMNS",
    "SESSION_DAY_SCHEMA",
    "SESSION_SCHEMA",
    "DayFigures",
    "Figures",
    "Metrics",
    "MetricsReader",
    "lines_sql",
    "sql_text",
    "top_files",
    "user_day_metrics",
]
