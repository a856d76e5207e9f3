"""Insights: cooldown gates, the feature frame, the five workflow rules, recommendation generators
(Gemini and the deterministic template), the locked per-user evaluation, the scheduled pass and the
recommendations API (contract §3.8 and §7)."""
