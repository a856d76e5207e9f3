"""The rules of contract §7.2 step 5 as a pure function over Polars frames (checklist 107)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from devflow.config import Settings
from devflow.insights.features import build_features
from devflow.insights.rules import RULES_BY_PRIORITY, RuleThresholds, apply_rules

DEFAULT = RuleThresholds()


def frame(**columns: list[Any]) -> pl.DataFrame:
    """A feature frame: missing columns default to 0 (and churn ratio computed like the pipeline)."""
    n = len(next(iter(columns.values()), [0]))
    base: dict[str, list[Any]] = {
        "duration_minutes": [0] * n,
        "lines_added": [0] * n,
        "lines_deleted": [0] * n,
        "rapid_switch_count": [0] * n,
    }
    base.update(columns)
    out = pl.DataFrame(base)
    if "churn_ratio" not in out.columns:
        from devflow.insights.rules import churn_ratio_expr

        out = out.with_columns(churn_ratio_expr().alias("churn_ratio"))
    return out


def rule_of(**row: Any) -> str | None:
    result: str | None = apply_rules(frame(**{k: [v] for k, v in row.items()}), DEFAULT)["rule"][0]
    return result


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"duration_minutes": 130}, "long_session"),
        ({"duration_minutes": 60, "lines_added": 100, "lines_deleted": 50}, "high_churn"),
        ({"rapid_switch_count": 31}, "rapid_context_switching"),
        ({"rapid_switch_count": 30}, None),
        ({"lines_added": 20, "lines_deleted": 40}, "delete_heavy_rewriting"),
        ({"lines_added": 20, "lines_deleted": 30}, "high_churn"),  # total 50 is not > 50; ratio 1
        ({}, None),
        ({"duration_minutes": 250}, "very_long_session"),
        ({"duration_minutes": 240}, "long_session"),  # strictly greater
        ({"duration_minutes": 120}, None),
        ({"lines_added": 100, "lines_deleted": 40}, None),  # ratio 0.4 is not > 0.4
        ({"lines_added": 0, "lines_deleted": 40}, None),  # churn null; total 40 ≤ 50
        ({"lines_added": 0, "lines_deleted": 51}, "delete_heavy_rewriting"),
    ],
)
def test_rule_cases(row: dict[str, Any], expected: str | None) -> None:
    """Checklist #107: each case of the checklist (and the boundaries around it) on a one-row frame."""
    assert rule_of(**row) == expected


def test_priority_order_when_every_rule_matches() -> None:
    """Checklist #107: Priority: very_long > long > delete_heavy > high_churn > rapid, evaluated per row."""
    f = frame(
        duration_minutes=[300, 200, 10, 10, 10],
        lines_added=[10, 10, 10, 100, 0],
        lines_deleted=[90, 90, 90, 50, 0],
        rapid_switch_count=[99, 99, 99, 99, 99],
    )
    assert apply_rules(f, DEFAULT)["rule"].to_list() == list(RULES_BY_PRIORITY)


def test_thresholds_come_from_settings() -> None:
    """Checklist #107: with RULE_LONG_SESSION_MIN=15 a 20-minute session → long_session."""
    thresholds = RuleThresholds.from_settings(Settings.from_env({"RULE_LONG_SESSION_MIN": "15"}))
    assert thresholds.long_session_min == 15
    assert apply_rules(frame(duration_minutes=[20]), thresholds)["rule"][0] == "long_session"
    assert apply_rules(frame(duration_minutes=[20]), DEFAULT)["rule"][0] is None


def test_nulls_never_fire_and_extra_columns_are_kept() -> None:
    """A backtest frame may carry nulls (no session) and its own columns; the input is not mutated."""
    f = pl.DataFrame(
        {
            "user_id": ["a", "b"],
            "duration_minutes": [None, 500],
            "lines_added": [None, 1],
            "lines_deleted": [None, 0],
            "churn_ratio": [None, 0.0],
            "rapid_switch_count": [None, 0],
        },
        schema_overrides={"duration_minutes": pl.Int64, "lines_added": pl.Int64, "lines_deleted": pl.Int64},
    )
    out = apply_rules(f, DEFAULT)
    assert out["rule"].to_list() == [None, "very_long_session"]
    assert out["user_id"].to_list() == ["a", "b"]
    assert "rule" not in f.columns


def test_missing_columns_are_reported() -> None:
    with pytest.raises(ValueError, match="missing columns"):
        apply_rules(pl.DataFrame({"duration_minutes": [1]}), DEFAULT)


def test_features_duration_rounding_and_churn() -> None:
    """§7.2 steps 3–4: duration rounds half-up to minutes and is never negative; churn is capped at 1."""
    start = datetime(2026, 5, 14, 7, 30, tzinfo=UTC)
    lasts = [
        start + timedelta(minutes=134, seconds=29, milliseconds=999),
        start + timedelta(minutes=134, seconds=30),
        start - timedelta(minutes=5),
        start,
    ]
    sessions = pl.DataFrame(
        {
            "user_id": ["u1", "u2", "u3", "u4"],
            "session_id": ["s1", "s2", "s3", "s4"],
            "start_time": [start] * 4,
            "last_event_at": lasts,
        }
    )
    metrics = pl.DataFrame(
        {
            "user_id": ["u1", "u2", "u3"],
            "lines_added": [220, 100, 0],
            "lines_deleted": [101, 250, 7],
            "switch_count": [57, 0, 0],
            "rapid_switch_count": [9, 0, 0],
        }
    )
    out = build_features(sessions, metrics).sort("user_id")
    assert out["duration_minutes"].to_list() == [134, 135, 0, 0]
    assert out["churn_ratio"].to_list() == [pytest.approx(101 / 220), 1.0, None, None]
    assert out["lines_added"].to_list() == [220, 100, 0, 0]  # u4 has no metrics today → zeros
