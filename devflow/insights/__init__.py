"""Insights: cooldown gates, the feature frame, the five workflow rules, recommendation generators
(Gemini and the deterministic template), the locked per-user evaluation, the scheduled pass and the
recommendations API (contract §3.8 and §7). Other contexts use this module only."""

from __future__ import annotations

from devflow.insights.features import build_features, duration_minutes_expr
from devflow.insights.gates import CooldownPolicy
from devflow.insights.metrics_source import LakeTodayMetrics
from devflow.insights.pipeline import InsightRunSummary, Insights, evaluate_user, run_insights
from devflow.insights.recommendations import (
    ACTIONS,
    EvidenceItem,
    RecommendationItem,
    act_on,
    recommendations_of,
)
from devflow.insights.rules import RULES_BY_PRIORITY, RuleThresholds, apply_rules, churn_ratio_expr

__all__ = [
    "ACTIONS",
    "RULES_BY_PRIORITY",
    "CooldownPolicy",
    "EvidenceItem",
    "InsightRunSummary",
    "Insights",
    "LakeTodayMetrics",
    "RecommendationItem",
    "RuleThresholds",
    "act_on",
    "apply_rules",
    "build_features",
    "churn_ratio_expr",
    "duration_minutes_expr",
    "evaluate_user",
    "recommendations_of",
    "run_insights",
]
