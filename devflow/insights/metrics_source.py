"""Today's metrics for the insight pipeline, read from the ETL's daily aggregates in the lake."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from devflow.insights.features import DAY_METRIC_COLUMNS, day_metrics_schema, empty_day_metrics
from devflow.kernel.lazy import pl
from devflow.metrics import Metrics, top_files, user_day_metrics


class LakeTodayMetrics:
    """:class:`devflow.insights.features.TodayMetrics` over the metrics context's partition reader."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def day_metrics(self, user_ids: Sequence[uuid.UUID], day: date) -> pl.DataFrame:
        """One row per user with data that day (definition in force)."""
        if not user_ids:
            return empty_day_metrics()
        rows = user_day_metrics(self._metrics.reader, self._metrics.definition, list(user_ids), day)
        return pl.DataFrame(
            {
                "user_id": [row.user_id for row in rows],
                **{column: [getattr(row, column) for row in rows] for column in DAY_METRIC_COLUMNS},
            },
            schema=day_metrics_schema(),
        )

    def top_files(self, user_id: uuid.UUID, day: date, n: int) -> list[tuple[str, int]]:
        """The day's top ``n`` files, exact counts, ordered (count desc, path asc)."""
        return top_files(self._metrics.reader, self._metrics.definition, user_id, day, day, n)
