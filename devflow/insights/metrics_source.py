"""Today's metrics for the insight pipeline, read from the ETL's daily aggregates in the lake."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

import polars as pl

from devflow.http.context import AppContext
from devflow.http.errors import ServiceUnavailable
from devflow.insights.features import DAY_METRIC_COLUMNS, empty_day_metrics


class LakeTodayMetrics:
    """:class:`devflow.insights.features.TodayMetrics` over ``devflow.metrics.queries``."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    def day_metrics(self, user_ids: Sequence[uuid.UUID], day: date) -> pl.DataFrame:
        """One row per user with data that day (definition in force)."""
        if not user_ids:
            return empty_day_metrics()
        from devflow.metrics.queries import user_day_metrics

        try:
            frame = user_day_metrics(self._ctx, list(user_ids), day)
        except OSError as exc:  # the lake storage is unreachable: a dependency outage, not a client error
            raise ServiceUnavailable() from exc
        return frame.select("user_id", *DAY_METRIC_COLUMNS)

    def top_files(self, user_id: uuid.UUID, day: date, n: int) -> list[tuple[str, int]]:
        """The day's top ``n`` files, exact counts, ordered (count desc, path asc)."""
        from devflow.metrics.queries import top_files

        try:
            return top_files(self._ctx, user_id, day, day, n)
        except OSError as exc:
            raise ServiceUnavailable() from exc
