"""Whether a backtest's nudges were right: precision, recall and F1 against labels, how nudges
spread over user-days and users, and bootstrap confidence intervals.

**Labels** name user-sessions that *should* be nudged, by rule (``user_id``, ``session_id``,
``rule``; the generator writes them to ``<lake>/labels.parquet``, a researcher can hand their own).
Only sessions the backtest evaluated count: a label of a session outside the range is ignored.

**Scores** are per session: for a combination and a rule, a session is *predicted* when at least
one nudge of that rule fell in it, *true* when it carries that label. Precision = TP / (TP + FP),
recall = TP / (TP + FN), F1 their harmonic mean; rule ``any`` compares sessions nudged by any rule
with sessions labelled with any rule.

**Bootstrap** resamples users with replacement (a user's sessions and days stay together, since
they are not independent) and reports the 2.5 % and 97.5 % percentiles of precision, recall and
nudges per active user-day. The generator of the resampling is seeded: a run is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
import polars as pl

ANY_RULE: Final = "any"
BOOTSTRAP_SAMPLES: Final = 400
BOOTSTRAP_SEED: Final = 14
LABEL_COLUMNS: Final = ("user_id", "session_id", "rule")


def read_labels(path: Path | str) -> pl.DataFrame:
    """A labels file (Parquet or CSV) with at least ``user_id``, ``session_id`` and ``rule``."""
    text = str(path)
    frame = pl.read_csv(text) if text.endswith(".csv") else pl.read_parquet(text)
    missing = [c for c in LABEL_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"labels file {path}: missing column(s) {', '.join(missing)}")
    return frame.select(pl.col(c).cast(pl.String) for c in LABEL_COLUMNS).unique()


def _with_any(frame: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    anyrule = frame.select(*keys, "user_id", "session_id").unique().with_columns(rule=pl.lit(ANY_RULE))
    return pl.concat(
        [
            frame.select(*keys, "rule", "user_id", "session_id"),
            anyrule.select(*keys, "rule", "user_id", "session_id"),
        ]
    )


def per_user_counts(
    features: pl.DataFrame, nudges: pl.DataFrame, labels: pl.DataFrame, combinations: Sequence[str]
) -> pl.DataFrame:
    """combination, rule, user_id, tp, fp, fn (sessions) — rule ``any`` included."""
    sessions = features.select("user_id", "session_id", "at")
    predicted = (
        nudges.join(sessions, on=["user_id", "at"], how="inner")
        .select("combination", "rule", "user_id", "session_id")
        .unique()
    )
    predicted = _with_any(predicted, ["combination"]).with_columns(p=pl.lit(True))
    evaluated = features.select("user_id", "session_id").unique()
    truth = labels.join(evaluated, on=["user_id", "session_id"], how="semi").select(LABEL_COLUMNS).unique()
    truth = _with_any(truth.with_columns(combination=pl.lit("")), ["combination"]).drop("combination")
    names = pl.DataFrame({"combination": list(combinations)}, schema={"combination": pl.String})
    truth = truth.join(names, how="cross").with_columns(t=pl.lit(True))
    both = predicted.join(
        truth, on=["combination", "rule", "user_id", "session_id"], how="full", coalesce=True
    ).with_columns(pl.col("p").fill_null(False), pl.col("t").fill_null(False))
    return both.group_by("combination", "rule", "user_id").agg(
        tp=(pl.col("p") & pl.col("t")).sum().cast(pl.Int64),
        fp=(pl.col("p") & ~pl.col("t")).sum().cast(pl.Int64),
        fn=(~pl.col("p") & pl.col("t")).sum().cast(pl.Int64),
    )


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _interval(values: np.ndarray) -> tuple[float | None, float | None]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None, None
    lo, hi = np.percentile(finite, [2.5, 97.5])
    return float(lo), float(hi)


def bootstrap_weights(users: int, samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """(samples × users): how often each user is drawn in each resample."""
    rng = np.random.default_rng(seed)
    if users == 0:
        return np.zeros((samples, 0))
    return rng.multinomial(users, [1.0 / users] * users, size=samples).astype(float)


def scores(
    counts: pl.DataFrame,
    users: Sequence[str],
    weights: np.ndarray,
    combinations: Sequence[str],
    rules: Sequence[str],
) -> pl.DataFrame:
    """combination, rule, tp, fp, fn, precision, recall, f1 and their bootstrap intervals."""
    index = {user: i for i, user in enumerate(users)}
    rows = []
    grouped = {key: frame for key, frame in counts.group_by("combination", "rule")}
    for combination in combinations:
        for rule in [*rules, ANY_RULE]:
            frame = grouped.get((combination, rule))
            vectors = {k: np.zeros(len(users)) for k in ("tp", "fp", "fn")}
            if frame is not None:
                at = np.array([index[u] for u in frame["user_id"].to_list()], dtype=int)
                for k in vectors:
                    np.add.at(vectors[k], at, frame[k].to_numpy())
            tp, fp, fn = (float(vectors[k].sum()) for k in ("tp", "fp", "fn"))
            precision = tp / (tp + fp) if tp + fp else None
            recall = tp / (tp + fn) if tp + fn else None
            f1 = (
                2 * precision * recall / (precision + recall)
                if precision and recall
                else (0.0 if precision is not None and recall is not None else None)
            )
            btp, bfp, bfn = (weights @ vectors[k] for k in ("tp", "fp", "fn"))
            p_lo, p_hi = _interval(_ratio(btp, btp + bfp))
            r_lo, r_hi = _interval(_ratio(btp, btp + bfn))
            rows.append(
                {
                    "combination": combination,
                    "rule": rule,
                    "tp": int(tp),
                    "fp": int(fp),
                    "fn": int(fn),
                    "precision": precision,
                    "recall": recall,
                    "f1": f1,
                    "precision_lo": p_lo,
                    "precision_hi": p_hi,
                    "recall_lo": r_lo,
                    "recall_hi": r_hi,
                }
            )
    schema = {
        "combination": pl.String,
        "rule": pl.String,
        "tp": pl.Int64,
        "fp": pl.Int64,
        "fn": pl.Int64,
        **{
            c: pl.Float64
            for c in ("precision", "recall", "f1", "precision_lo", "precision_hi", "recall_lo", "recall_hi")
        },
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def per_user(features: pl.DataFrame, nudges: pl.DataFrame, combinations: Sequence[str]) -> pl.DataFrame:
    """combination, user_id, active_days, nudges, nudged_days: every evaluated user, zeros included."""
    days = features.group_by("user_id").agg(active_days=pl.col("date").n_unique().cast(pl.Int64))
    names = pl.DataFrame({"combination": list(combinations)}, schema={"combination": pl.String})
    counted = nudges.group_by("combination", "user_id").agg(
        nudges=pl.len().cast(pl.Int64), nudged_days=pl.col("date").n_unique().cast(pl.Int64)
    )
    return (
        names.join(days, how="cross")
        .join(counted, on=["combination", "user_id"], how="left")
        .with_columns(pl.col("nudges").fill_null(0), pl.col("nudged_days").fill_null(0))
        .sort("combination", "user_id")
    )


def user_day_distribution(
    features: pl.DataFrame, nudges: pl.DataFrame, combinations: Sequence[str]
) -> pl.DataFrame:
    """combination, median, p90 and max of nudges per active user-day (days without a nudge count as 0)."""
    days = features.select("user_id", "date").unique()
    names = pl.DataFrame({"combination": list(combinations)}, schema={"combination": pl.String})
    counted = nudges.group_by("combination", "user_id", "date").agg(n=pl.len().cast(pl.Int64))
    every = (
        names.join(days, how="cross")
        .join(counted, on=["combination", "user_id", "date"], how="left")
        .with_columns(pl.col("n").fill_null(0))
    )
    return every.group_by("combination").agg(
        per_user_day_median=pl.col("n").median().cast(pl.Float64),
        per_user_day_p90=pl.col("n").quantile(0.9, "nearest").cast(pl.Float64),
        per_user_day_max=pl.col("n").max().cast(pl.Int64),
    )


def rate_intervals(users_table: pl.DataFrame, users: Sequence[str], weights: np.ndarray) -> pl.DataFrame:
    """combination, per_user_day_lo, per_user_day_hi: bootstrap interval of nudges per active user-day."""
    index = {user: i for i, user in enumerate(users)}
    rows = []
    for (combination,), frame in users_table.group_by("combination"):
        at = np.array([index[u] for u in frame["user_id"].to_list()], dtype=int)
        nudged = np.zeros(len(users))
        active = np.zeros(len(users))
        np.add.at(nudged, at, frame["nudges"].to_numpy())
        np.add.at(active, at, frame["active_days"].to_numpy())
        lo, hi = _interval(_ratio(weights @ nudged, weights @ active))
        rows.append({"combination": combination, "per_user_day_lo": lo, "per_user_day_hi": hi})
    schema = {"combination": pl.String, "per_user_day_lo": pl.Float64, "per_user_day_hi": pl.Float64}
    return pl.DataFrame(rows, schema=schema, orient="row")
