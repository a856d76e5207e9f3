"""The cooldown policy of contract §7.2 steps 1–2 as a pure, vectorised Polars function.

Input: one row per user with the user's latest recommendation (``rec_created_at``,
``rec_user_action``, ``rec_acted_at``) and latest generator call (``eval_called_at``,
``eval_outcome``), all nullable. Output: the same frame with a ``gate`` column, ``"cooldown"``
for a blocked user and null otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from devflow.config import Settings
from devflow.kernel.lazy import pl

COOLDOWN: Final = "cooldown"


def gate_columns() -> dict[str, pl.DataType]:
    """The gate inputs' columns (Polars types), beside ``user_id``."""
    return {
        "rec_created_at": pl.Datetime("us", "UTC"),
        "rec_user_action": pl.String(),
        "rec_acted_at": pl.Datetime("us", "UTC"),
        "eval_called_at": pl.Datetime("us", "UTC"),
        "eval_outcome": pl.String(),
    }


#: Generator outcomes that start the evaluation cooldown: nothing was recommended.
NON_RECOMMENDING_OUTCOMES: Final = ("normal", "failed")


@dataclass(frozen=True, slots=True)
class CooldownPolicy:
    """``INSIGHT_COOLDOWN_MINUTES`` and ``SNOOZE_DURATION_MINUTES``."""

    cooldown: timedelta = timedelta(minutes=45)
    snooze: timedelta = timedelta(minutes=30)

    @classmethod
    def from_settings(cls, settings: Settings) -> CooldownPolicy:
        """The policy in force."""
        return cls(
            cooldown=timedelta(minutes=settings.insight_cooldown_minutes),
            snooze=timedelta(minutes=settings.snooze_duration_minutes),
        )


def cooldown_expr(now: datetime, policy: CooldownPolicy) -> pl.Expr:
    """True where the recommendation gate or the evaluation gate blocks the user."""
    now_lit = pl.lit(now, dtype=pl.Datetime("us", "UTC"))
    action = pl.col("rec_user_action")
    # A pending recommendation blocks from its creation; a snoozed one from when it was snoozed.
    pending_blocks = pl.col("rec_created_at").is_not_null() & action.is_null()
    pending_blocks = pending_blocks & ((now_lit - pl.col("rec_created_at")) < policy.cooldown)
    snoozed_at = pl.coalesce(pl.col("rec_acted_at"), pl.col("rec_created_at"))
    snooze_blocks = (action == "snoozed") & ((now_lit - snoozed_at) < policy.snooze)
    # The model is called at most once per cooldown while it finds nothing (or fails).
    evaluation_blocks = pl.col("eval_outcome").is_in(NON_RECOMMENDING_OUTCOMES) & (
        (now_lit - pl.col("eval_called_at")) < policy.cooldown
    )
    return (
        pending_blocks.fill_null(False) | snooze_blocks.fill_null(False) | evaluation_blocks.fill_null(False)
    )


def apply_gates(frame: pl.DataFrame, now: datetime, policy: CooldownPolicy) -> pl.DataFrame:
    """Return ``frame`` with ``gate`` = ``"cooldown"`` for blocked users, null for the rest. Pure."""
    missing = [column for column in gate_columns() if column not in frame.columns]
    if missing:
        raise ValueError(f"apply_gates: missing columns {missing}")
    return frame.with_columns(
        pl.when(cooldown_expr(now, policy))
        .then(pl.lit(COOLDOWN))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("gate")
    )
