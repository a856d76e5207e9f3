"""Analytics: the analyst views over the lake, the synthetic data generator and the rule backtest."""

from __future__ import annotations

from devflow.analytics.lake import (
    connect,
    describe,
    scan_events,
    scan_metrics_coding_time,
    scan_metrics_daily,
    scan_metrics_file_switches,
    scan_metrics_quarter_hours,
    scan_metrics_session,
    scan_quarantine,
    scan_user_daily,
)

__all__ = [
    "connect",
    "describe",
    "scan_events",
    "scan_metrics_coding_time",
    "scan_metrics_daily",
    "scan_metrics_file_switches",
    "scan_metrics_quarter_hours",
    "scan_metrics_session",
    "scan_quarantine",
    "scan_user_daily",
]
