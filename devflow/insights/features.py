"""The feature frame of one evaluation (contract §7.2 steps 3–4): one row per candidate user.

Columns: ``user_id`` (str), ``session_id`` (str), ``start_time`` / ``last_event_at`` (UTC
datetimes), ``duration_minutes`` (int), today's ``lines_added`` / ``lines_deleted`` /
``switch_count`` / ``rapid_switch_count`` (int) and ``churn_ratio`` (float or null). Top files
are only needed for the generator input, so they are read per user once a rule has fired.

:func:`build_features` is pure; the ``load_*`` functions are the I/O edges (database and lake).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Final, Protocol

from sqlalchemy.orm import Session as DbSession

from devflow.insights.rules import churn_ratio_expr
from devflow.kernel.lazy import pl
from devflow.telemetry import SessionSpan, current_sessions


def _session_schema() -> dict[str, pl.DataType]:
    return {
        "user_id": pl.String(),
        "session_id": pl.String(),
        "start_time": pl.Datetime("us", "UTC"),
        "last_event_at": pl.Datetime("us", "UTC"),
    }


DAY_METRIC_COLUMNS: Final[tuple[str, ...]] = (
    "lines_added",
    "lines_deleted",
    "switch_count",
    "rapid_switch_count",
)


def day_metrics_schema() -> dict[str, pl.DataType]:
    """The columns of a user's figures of the day (Polars types)."""
    return {"user_id": pl.String(), **{column: pl.Int64() for column in DAY_METRIC_COLUMNS}}


class TodayMetrics(Protocol):
    """Where today's metrics come from (the ETL's daily aggregates, definition in force)."""

    def day_metrics(self, user_ids: Sequence[uuid.UUID], day: date) -> pl.DataFrame:
        """One row per user with data: ``user_id`` and the :data:`DAY_METRIC_COLUMNS`."""
        ...

    def top_files(self, user_id: uuid.UUID, day: date, n: int) -> list[tuple[str, int]]:
        """The day's ``n`` most-switched-to files, exact counts, ordered (count desc, path asc)."""
        ...


def duration_minutes_expr() -> pl.Expr:
    """``max(0, round_half_up((last_event_at − start_time) / 60000 ms))`` as an integer."""
    micros = (pl.col("last_event_at") - pl.col("start_time")).dt.total_microseconds()
    return ((micros + 30_000_000) // 60_000_000).clip(lower_bound=0).cast(pl.Int64)


def build_features(sessions: pl.DataFrame, day_metrics: pl.DataFrame) -> pl.DataFrame:
    """Join each user's current session with today's metrics (missing metrics count as 0). Pure."""
    metrics = day_metrics.select(
        pl.col("user_id").cast(pl.String),
        *(pl.col(column).cast(pl.Int64) for column in DAY_METRIC_COLUMNS),
    )
    return (
        sessions.with_columns(pl.col("user_id").cast(pl.String))
        .join(metrics, on="user_id", how="left")
        .with_columns(pl.col(column).fill_null(0) for column in DAY_METRIC_COLUMNS)
        .with_columns(
            duration_minutes_expr().alias("duration_minutes"), churn_ratio_expr().alias("churn_ratio")
        )
    )


def load_current_sessions(
    db: DbSession, user_ids: Iterable[uuid.UUID] | None = None, active_since: datetime | None = None
) -> pl.DataFrame:
    """The current session of the given users (or of every user active since ``active_since``)."""
    return sessions_frame(current_sessions(db, user_ids, active_since))


def sessions_frame(spans: Sequence[SessionSpan]) -> pl.DataFrame:
    """Current sessions as a frame (``load_current_sessions``' shape)."""
    return pl.DataFrame(
        {
            "user_id": [str(span.user_id) for span in spans],
            "session_id": [str(span.session_id) for span in spans],
            "start_time": [span.start_time for span in spans],
            "last_event_at": [span.last_event_at for span in spans],
        },
        schema=_session_schema(),
    )


def empty_day_metrics() -> pl.DataFrame:
    """A day-metrics frame with no rows (no user has data today)."""
    return pl.DataFrame(schema=day_metrics_schema())
