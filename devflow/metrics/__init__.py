"""Metrics: the ETL from raw events to per-(user, session, day) and per-session partitions, and the
reads behind ``/metrics/*`` and the insight features (contract §3.7, §6). Other contexts use this
module only."""

from __future__ import annotations

from devflow.metrics.coding import coding_time_body
from devflow.metrics.compute import (
    LINE_DEFINITIONS,
    RAW_COLUMNS,
    coding_time_schema,
    file_switch_schema,
    quarter_schema,
    session_day_schema,
    session_schema,
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
    "ETL_LOCK",
    "LINE_DEFINITIONS",
    "MAX_RANGE_DAYS",
    "METRICS_CODING_TIME_DIR",
    "METRICS_DAILY_DIR",
    "METRICS_FILE_SWITCHES_DIR",
    "METRICS_QUARTER_HOURS_DIR",
    "METRICS_SESSION_DIR",
    "RAW_COLUMNS",
    "DayFigures",
    "Figures",
    "Metrics",
    "MetricsQuery",
    "MetricsReader",
    "churn_body",
    "churn_ratio",
    "coding_time_body",
    "coding_time_schema",
    "context_switching_body",
    "daily_query",
    "event_metrics",
    "file_switch_schema",
    "parse_metrics_query",
    "quarter_schema",
    "session_day_schema",
    "session_metrics_frames",
    "session_schema",
    "top_files",
    "user_day_metrics",
    "valid_zone",
    "with_zone",
]
