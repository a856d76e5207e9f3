"""The five workflow rules of contract §7.2 step 5 as one pure, vectorised Polars function.

The live pipeline applies :func:`apply_rules` to the feature frame of the users it evaluates;
research backtests apply the very same function to a frame of historical rows (one row per
user-day or user-session) to replay a grid of thresholds. Nothing here performs I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from devflow.config import Settings
from devflow.kernel.lazy import pl

VERY_LONG_SESSION: Final = "very_long_session"
LONG_SESSION: Final = "long_session"
DELETE_HEAVY_REWRITING: Final = "delete_heavy_rewriting"
HIGH_CHURN: Final = "high_churn"
RAPID_CONTEXT_SWITCHING: Final = "rapid_context_switching"

#: Priority order: the first rule that matches a row is the triggered rule.
RULES_BY_PRIORITY: Final[tuple[str, ...]] = (
    VERY_LONG_SESSION,
    LONG_SESSION,
    DELETE_HEAVY_REWRITING,
    HIGH_CHURN,
    RAPID_CONTEXT_SWITCHING,
)

#: Columns :func:`apply_rules` reads. Nulls never fire a rule.
RULE_INPUT_COLUMNS: Final[tuple[str, ...]] = (
    "duration_minutes",
    "lines_added",
    "lines_deleted",
    "churn_ratio",
    "rapid_switch_count",
)


@dataclass(frozen=True, slots=True)
class RuleThresholds:
    """The ``RULE_*`` thresholds; every comparison is strictly greater-than."""

    very_long_session_min: float = 240.0
    long_session_min: float = 120.0
    delete_heavy_total: float = 50.0
    high_churn_ratio: float = 0.4
    rapid_switch_count: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RuleThresholds:
        """The thresholds in force (``RULE_VERY_LONG_SESSION_MIN`` and friends)."""
        return cls(
            very_long_session_min=settings.rule_very_long_session_min,
            long_session_min=settings.rule_long_session_min,
            delete_heavy_total=settings.rule_delete_heavy_total,
            high_churn_ratio=settings.rule_high_churn_ratio,
            rapid_switch_count=settings.rule_rapid_switch_count,
        )


def churn_ratio_expr(added: str = "lines_added", deleted: str = "lines_deleted") -> pl.Expr:
    """``min(1, deleted / added)`` when ``added > 0``, else null (contract §7.2 step 4)."""
    ratio = pl.col(deleted).cast(pl.Float64) / pl.col(added).cast(pl.Float64)
    return (
        pl.when(pl.col(added) > 0)
        .then(pl.when(ratio > 1.0).then(pl.lit(1.0)).otherwise(ratio))
        .otherwise(pl.lit(None, dtype=pl.Float64))
    )


def rule_conditions(thresholds: RuleThresholds) -> dict[str, pl.Expr]:
    """One boolean expression per rule, keyed by rule name, in priority order."""
    added = pl.col("lines_added")
    deleted = pl.col("lines_deleted")
    return {
        VERY_LONG_SESSION: pl.col("duration_minutes") > thresholds.very_long_session_min,
        LONG_SESSION: pl.col("duration_minutes") > thresholds.long_session_min,
        DELETE_HEAVY_REWRITING: (deleted > added) & ((added + deleted) > thresholds.delete_heavy_total),
        HIGH_CHURN: pl.col("churn_ratio").is_not_null()
        & (pl.col("churn_ratio") > thresholds.high_churn_ratio),
        RAPID_CONTEXT_SWITCHING: pl.col("rapid_switch_count") > thresholds.rapid_switch_count,
    }


def rule_expr(thresholds: RuleThresholds) -> pl.Expr:
    """The triggered rule's name for each row (null when no rule matches), aliased ``rule``."""
    conditions = list(rule_conditions(thresholds).items())
    # Built back to front so the first rule in priority order wins; nulls never fire.
    result: pl.Expr = pl.lit(None, dtype=pl.String)
    for name, condition in reversed(conditions):
        result = pl.when(condition.fill_null(False)).then(pl.lit(name)).otherwise(result)
    return result.alias("rule")


def apply_rules(frame: pl.DataFrame, thresholds: RuleThresholds) -> pl.DataFrame:
    """Return ``frame`` with a ``rule`` column: the first matching rule in priority order, or null.

    ``frame`` needs the columns of :data:`RULE_INPUT_COLUMNS` (any extra columns are kept):
    ``duration_minutes`` (int, may be null), ``lines_added`` / ``lines_deleted`` (int),
    ``churn_ratio`` (float, null when nothing was added) and ``rapid_switch_count`` (int).
    A null input never makes a rule fire. Pure: the input frame is not modified.
    """
    missing = [column for column in RULE_INPUT_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"apply_rules: missing columns {missing}")
    return frame.with_columns(rule_expr(thresholds))
