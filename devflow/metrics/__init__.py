"""Metrics: the ETL from raw events to per-(user, session, day) and per-session partitions, and the
reads behind ``/metrics/*`` and the insight features (contract §3.7, §6). Other contexts use this
module only."""

from __future__ import annotations

from devflow.metrics.coding import coding_time_body
from devflow.metrics.compute import (
    CODING_TIME_SCHEMA,
    FILE_SWITCH_SCHEMA,
    LINE_DEFINITIONS,
    QUARTER_SCHEMA,
    RAW_COLUMNS,
    SESSION_DAY_SCHEMA,
    SESSION_SCHEMA,
)
from devflow.metrics.frames import event_metrics, session_metrics_frames
from devflow.metrics.layout import (
    METRICS_CODING_TIME_DIR,
    METRICS_DAILY_DIR,
    METRICS_FILE_SWITCHES_DIR,
    METRICS_QUARTER_HOURS_DIR,
    METRICS_SESSION_DIR,
)
from devflow.metrics.queries import DayFigures, Figures, MetricsReader, top_files, user_day_metrics
from devflow.metrics.reports import (
    MAX_RANGE_DAYS,
    MetricsQuery,
    churn_body,
    churn_ratio,
    context_switching_body,
    daily_query,
    parse_metrics_query,
    valid_zone,
    with_zone,
)
from devflow.metrics.service import ETL_LOCK, Metrics

__all__ = [
    "CODING_TIME_SCHEMA",
    "ETL_LOCK",
    "FILE_SWITCH_SCHEMA",
    "LINE_DEFINITIONS",
    "MAX_RANGE_DAYS",
    "METRICS_CODING_TIME_DIR",
    "METRICS_DAILY_DIR",
    "METRICS_FILE_SWITCHES_DIR",
    "METRICS_QUARTER_HOURS_DIR",
    "METRICS_SESSION_DIR",
    "QUARTER_SCHEMA",
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
    "coding_time_body",
    "context_switching_body",
    "daily_query",
    "event_metrics",
    "parse_metrics_query",
    "session_metrics_frames",
    "top_files",
    "user_day_metrics",
    "valid_zone",
    "with_zone",
]
