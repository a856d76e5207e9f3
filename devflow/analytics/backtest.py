"""Replay the insight rules over history for a grid of thresholds (``devflow backtest``).

The live scheduler (contract §7.1–7.2) wakes up every ``INSIGHT_CHECK_INTERVAL_SECONDS``, takes
the users active in the last ``INSIGHT_ACTIVITY_WINDOW_MINUTES``, drops those in cooldown,
computes their features (current session, today's metrics) and applies the rules. The backtest
does the same at every instant of a fixed cadence over a past date range, all at once:

1. **Per-event figures, once.** The metrics' own definition (:func:`devflow.metrics.event_metrics`,
   the transform the ETL stores) gives every de-duplicated ``text_change`` its line delta under the
   definition in force and every editor switch its counts. Nothing is re-implemented here.
2. **Features as of each instant**, vectorised with Polars as-of joins: the current session is the
   one of the user's latest event at or before the instant (its ``start_time`` is the session's
   first event), and today's metrics are cumulative sums over the user's UTC day up to the instant.
3. **Rules**: :func:`devflow.insights.rules.apply_rules` — the function the live pipeline calls —
   once per threshold combination.
4. **Cooldown**: a nudge creates a pending recommendation that blocks the user for
   ``INSIGHT_COOLDOWN_MINUTES`` (the recommendation gate of :class:`~devflow.insights.gates.CooldownPolicy`);
   nudges are assumed not acted on, so nothing else unblocks earlier. The template generator
   always recommends, so the evaluation gate never starts.

Output per combination: nudges in total and per rule, nudges per active user-day (a user-day is
active when the scheduler would have evaluated the user at least once that UTC day) with its
median, p90 and max over user-days and a bootstrap interval, the share of active user-days with at
least one nudge, and — when labels exist (``<lake>/labels.parquet`` from ``devflow generate``, or a
researcher's file) — precision, recall and F1 per rule (:mod:`devflow.analytics.scoring`). The
combination equal to the configured settings is marked ``current``. :mod:`devflow.analytics.runs`
writes each run to its own folder with a manifest.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final

import polars as pl

from devflow.analytics import scoring
from devflow.analytics.generate import LABELS_PATH
from devflow.analytics.lake import LakeRef, connect, lake_storage
from devflow.config import Settings
from devflow.insights import (
    RULES_BY_PRIORITY,
    CooldownPolicy,
    RuleThresholds,
    apply_rules,
    churn_ratio_expr,
    duration_minutes_expr,
)
from devflow.metrics import RAW_COLUMNS, event_metrics

if TYPE_CHECKING:
    import duckdb

UTC_US: Final = pl.Datetime("us", "UTC")

#: ``--set`` names (the environment variables of contract Appendix A) → RuleThresholds fields.
THRESHOLD_SETTINGS: Final[dict[str, str]] = {
    "RULE_VERY_LONG_SESSION_MIN": "very_long_session_min",
    "RULE_LONG_SESSION_MIN": "long_session_min",
    "RULE_DELETE_HEAVY_TOTAL": "delete_heavy_total",
    "RULE_HIGH_CHURN_RATIO": "high_churn_ratio",
    "RULE_RAPID_SWITCH_COUNT": "rapid_switch_count",
}
COOLDOWN_SETTING: Final = "INSIGHT_COOLDOWN_MINUTES"
GRID_SETTINGS: Final[tuple[str, ...]] = (*THRESHOLD_SETTINGS, COOLDOWN_SETTING)

FEATURE_SCHEMA: Final[dict[str, pl.DataType]] = {
    "user_id": pl.String(),
    "at": UTC_US,
    "date": pl.Date(),
    "session_id": pl.String(),
    "start_time": UTC_US,
    "last_event_at": UTC_US,
    "duration_minutes": pl.Int64(),
    "lines_added": pl.Int64(),
    "lines_deleted": pl.Int64(),
    "switch_count": pl.Int64(),
    "rapid_switch_count": pl.Int64(),
    "churn_ratio": pl.Float64(),
}


@dataclass(frozen=True, slots=True)
class Combination:
    """One point of the grid: the thresholds and the cooldown it replays with."""

    label: str
    values: dict[str, float]  # the --set names and their values at this point
    thresholds: RuleThresholds
    cooldown: timedelta


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """The summary (one row per combination), every nudge, and the features it was computed from."""

    summary: pl.DataFrame
    nudges: pl.DataFrame  # combination, user_id, at, date, rule
    features: pl.DataFrame  # FEATURE_SCHEMA: one row per (user, evaluation instant)
    date_from: date
    date_to: date
    cadence: timedelta
    #: combination, rule (the five and ``any``), tp, fp, fn, precision, recall, f1 and intervals;
    #: empty without labels
    scores: pl.DataFrame = field(default_factory=pl.DataFrame)
    per_user: pl.DataFrame = field(
        default_factory=pl.DataFrame
    )  # combination, user_id, active_days, nudges, …
    combos: tuple[Combination, ...] = ()
    labels_source: str | None = None  # where the labels came from, None without labels
    labels_count: int = 0
    activity_window: timedelta = timedelta(minutes=30)


def parse_grid(assignments: Sequence[str]) -> dict[str, list[float]]:
    """``["RULE_HIGH_CHURN_RATIO=0.3,0.4", …]`` → ``{"RULE_HIGH_CHURN_RATIO": [0.3, 0.4], …}``.

    Raises ``ValueError`` for an unknown name or a value that is not a finite number > 0.
    """
    grid: dict[str, list[float]] = {}
    for assignment in assignments:
        name, sep, raw = assignment.partition("=")
        name = name.strip().upper()
        if not sep or name not in GRID_SETTINGS:
            raise ValueError(f"--set expects NAME=v1,v2,… with NAME one of {', '.join(GRID_SETTINGS)}")
        values: list[float] = []
        for part in raw.split(","):
            try:
                value = float(part.strip())
            except ValueError:
                raise ValueError(f"{name}: {part.strip()!r} is not a number") from None
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name}: values must be finite numbers > 0")
            values.append(value)
        grid[name] = sorted(set(values))
    return grid


def combinations(grid: Mapping[str, Sequence[float]], settings: Settings) -> list[Combination]:
    """Every point of the grid; settings not in the grid keep their configured value."""
    base = RuleThresholds.from_settings(settings)
    base_cooldown = CooldownPolicy.from_settings(settings).cooldown
    names = [name for name in GRID_SETTINGS if name in grid]
    out: list[Combination] = []
    for point in itertools.product(*(grid[name] for name in names)):
        values = {name: float(value) for name, value in zip(names, point, strict=True)}
        thresholds = replace(
            base, **{THRESHOLD_SETTINGS[n]: v for n, v in values.items() if n in THRESHOLD_SETTINGS}
        )
        cooldown = (
            timedelta(minutes=values[COOLDOWN_SETTING]) if COOLDOWN_SETTING in values else base_cooldown
        )
        label = " ".join(f"{n}={_fmt(v)}" for n, v in values.items()) or "configured thresholds"
        out.append(Combination(label, values, thresholds, cooldown))
    return out


def _fmt(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


# --------------------------------------------------------------------------- features


def _event_frames(
    con: duckdb.DuckDBPyConnection, date_from: date, date_to: date, definition: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(activity, metric events) of every session with an event in the range, from the lake views.

    ``activity``: user_id, session_id, ts — every stored event (copies do not change min/max).
    ``metric events``: user_id, ts, lines_added, lines_deleted, switches, rapid — per event, by
    the metrics' own definition (``devflow.metrics.event_metrics``), so the baselines of a session
    reach back before the range.
    """
    params = {"lo": date_from - timedelta(days=1), "hi": date_to + timedelta(days=1)}
    columns = ", ".join(f'"{c}"' for c in RAW_COLUMNS)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE backtest_sessions AS "
        "SELECT DISTINCT session_id FROM events_all WHERE date BETWEEN $lo AND $hi",
        params,
    )
    try:
        raw = con.sql(
            f"SELECT {columns} FROM events_all "  # noqa: S608
            "WHERE session_id IN (SELECT session_id FROM backtest_sessions)"
        ).pl()
    finally:
        con.execute("DROP TABLE IF EXISTS backtest_sessions")
    activity = raw.select("user_id", "session_id", pl.col("timestamp").alias("ts"))
    metric_events = event_metrics(raw, definition).select(
        "user_id",
        pl.col("timestamp").alias("ts"),
        "lines_added",
        "lines_deleted",
        "switches",
        "rapid",
    )
    return activity, metric_events


def instant_features(
    activity: pl.DataFrame,
    metric_events: pl.DataFrame,
    date_from: date,
    date_to: date,
    *,
    cadence: timedelta = timedelta(minutes=10),
    activity_window: timedelta = timedelta(minutes=30),
) -> pl.DataFrame:
    """The rule inputs of every (user, instant) the scheduler would have evaluated. Pure.

    Instants are multiples of ``cadence`` (UTC) in [``date_from`` 00:00, ``date_to`` + 1 day);
    a user is evaluated at an instant when one of their events lies in (instant − window, instant].
    """
    if activity.is_empty():
        return pl.DataFrame(schema=FEATURE_SCHEMA)
    activity = activity.with_columns(pl.col("ts").cast(UTC_US)).sort("ts")
    start = datetime.combine(date_from, datetime.min.time(), UTC)
    end = datetime.combine(date_to + timedelta(days=1), datetime.min.time(), UTC)
    steps = math.ceil(activity_window / cadence) + 1
    floor = pl.col("ts").dt.truncate(cadence)
    first_tick = pl.when(floor == pl.col("ts")).then(floor).otherwise(floor + cadence)
    ticks = (
        activity.group_by("user_id", first_tick.alias("tick0"))
        .agg(pl.col("ts").max().alias("last_ts"))
        .with_columns(pl.int_ranges(0, steps).alias("k"))
        .explode("k")
        .with_columns((pl.col("tick0") + pl.col("k") * pl.lit(cadence)).alias("at"))
        .filter((pl.col("at") - pl.col("last_ts")) < activity_window)
        .filter((pl.col("at") >= start) & (pl.col("at") < end))
        .select("user_id", pl.col("at").cast(UTC_US))
        .unique()
        .sort("at")
    )
    session_start = activity.group_by("session_id").agg(pl.col("ts").min().alias("start_time"))
    current = ticks.join_asof(
        activity.select("user_id", "session_id", pl.col("ts").alias("last_event_at")),
        left_on="at",
        right_on="last_event_at",
        by="user_id",
        strategy="backward",
        check_sortedness=False,
    ).join(session_start, on="session_id", how="left")

    day = pl.col("ts").dt.date()
    cumulative = (
        metric_events.with_columns(pl.col("ts").cast(UTC_US))
        .sort("ts")
        .with_columns(day.alias("date"))
        .with_columns(
            pl.col(c).cast(pl.Int64).cum_sum().over("user_id", "date").alias(name)
            for c, name in (
                ("lines_added", "lines_added"),
                ("lines_deleted", "lines_deleted"),
                ("switches", "switch_count"),
                ("rapid", "rapid_switch_count"),
            )
        )
        .select("user_id", "date", "ts", "lines_added", "lines_deleted", "switch_count", "rapid_switch_count")
        .sort("ts")
    )
    today = ["lines_added", "lines_deleted", "switch_count", "rapid_switch_count"]
    return (
        current.with_columns(pl.col("at").dt.date().alias("date"))
        .sort("at")
        .join_asof(
            cumulative,
            left_on="at",
            right_on="ts",
            by=["user_id", "date"],
            strategy="backward",
            check_sortedness=False,
        )
        .with_columns(pl.col(c).fill_null(0) for c in today)
        .with_columns(
            duration_minutes_expr().alias("duration_minutes"), churn_ratio_expr().alias("churn_ratio")
        )
        .select(list(FEATURE_SCHEMA))
        .cast(FEATURE_SCHEMA)  # type: ignore[arg-type]
        .sort("user_id", "at")
    )


# --------------------------------------------------------------------------- rules and cooldown


def nudges_for(features: pl.DataFrame, combination: Combination) -> pl.DataFrame:
    """The nudges of one combination: the live rule function, then the pending-recommendation cooldown."""
    fired = apply_rules(features, combination.thresholds).filter(pl.col("rule").is_not_null())
    fired = fired.select("user_id", "at", "date", "rule").sort("user_id", "at")
    keep = cooldown_keep(fired["user_id"].to_list(), fired["at"].to_list(), combination.cooldown)
    return fired.filter(pl.Series(keep, dtype=pl.Boolean)).with_columns(
        pl.lit(combination.label).alias("combination")
    )


def cooldown_keep(user_ids: Sequence[str], instants: Sequence[datetime], cooldown: timedelta) -> list[bool]:
    """Which firing instants become nudges: a nudge blocks its user while ``now − created_at < cooldown``.

    Input sorted by (user, instant). Sequential by nature (each nudge depends on the previous
    one), but it only visits the instants where a rule fired.
    """
    keep: list[bool] = []
    last_user: str | None = None
    blocked_until: datetime | None = None
    for user, at in zip(user_ids, instants, strict=True):
        if user != last_user:
            last_user, blocked_until = user, None
        if blocked_until is None or at >= blocked_until:
            keep.append(True)
            blocked_until = at + cooldown
        else:
            keep.append(False)
    return keep


def is_current(combo: Combination, settings: Settings) -> bool:
    """Whether ``combo`` replays exactly the configured thresholds and cooldown."""
    return (
        combo.thresholds == RuleThresholds.from_settings(settings)
        and combo.cooldown == CooldownPolicy.from_settings(settings).cooldown
    )


def summarise(features: pl.DataFrame, nudges: pl.DataFrame, combos: Sequence[Combination]) -> pl.DataFrame:
    """One row per combination: thresholds, nudges (total, per rule), per active user-day, share."""
    active_days = features.select("user_id", "date").unique().height
    names = sorted({name for combo in combos for name in combo.values}, key=GRID_SETTINGS.index)
    rows = []
    for combo in combos:
        mine = nudges.filter(pl.col("combination") == combo.label)
        per_rule = dict(mine.group_by("rule").len().iter_rows())
        nudged_days = mine.select("user_id", "date").unique().height
        row: dict[str, object] = {"combination": combo.label}
        row.update({name: combo.values.get(name) for name in names})
        row["nudges_total"] = mine.height
        row.update({f"nudges_{rule}": int(per_rule.get(rule, 0)) for rule in RULES_BY_PRIORITY})
        row["users_nudged"] = mine["user_id"].n_unique()
        row["evaluations"] = features.height
        row["active_user_days"] = active_days
        row["nudges_per_active_user_day"] = mine.height / active_days if active_days else 0.0
        row["share_user_days_nudged"] = nudged_days / active_days if active_days else 0.0
        rows.append(row)
    schema: dict[str, pl.DataType] = {"combination": pl.String()}
    schema.update({name: pl.Float64() for name in names})
    schema.update({"nudges_total": pl.Int64()})
    schema.update({f"nudges_{rule}": pl.Int64() for rule in RULES_BY_PRIORITY})
    schema.update(
        {
            "users_nudged": pl.Int64(),
            "evaluations": pl.Int64(),
            "active_user_days": pl.Int64(),
            "nudges_per_active_user_day": pl.Float64(),
            "share_user_days_nudged": pl.Float64(),
        }
    )
    return pl.DataFrame(rows, schema=schema, orient="row")


def enrich(
    summary: pl.DataFrame,
    features: pl.DataFrame,
    nudges: pl.DataFrame,
    combos: Sequence[Combination],
    settings: Settings,
    labels: pl.DataFrame | None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(summary with ``current``, the per-user-day distribution, intervals and the ``any``-rule
    scores; the per-rule scores; the per-user table)."""
    names = [c.label for c in combos]
    users = sorted(set(features["user_id"].to_list()))
    weights = scoring.bootstrap_weights(len(users))
    per_user = scoring.per_user(features, nudges, names)
    summary = (
        summary.with_columns(pl.Series("current", [is_current(c, settings) for c in combos], pl.Boolean))
        .join(
            scoring.user_day_distribution(features, nudges, names),
            on="combination",
            how="left",
            maintain_order="left",
        )
        .join(
            scoring.rate_intervals(per_user, users, weights),
            on="combination",
            how="left",
            maintain_order="left",
        )
    )
    if labels is None:
        return summary, pl.DataFrame(), per_user
    counts = scoring.per_user_counts(features, nudges, labels, names)
    scores = scoring.scores(counts, users, weights, names, RULES_BY_PRIORITY)
    overall = scores.filter(pl.col("rule") == scoring.ANY_RULE).drop("rule", "tp", "fp", "fn")
    summary = summary.join(overall, on="combination", how="left", maintain_order="left")
    return summary, scores, per_user


def load_labels(
    lake: LakeRef, settings: Settings, labels: Path | str | None
) -> tuple[pl.DataFrame | None, str | None]:
    """The labels to score against: ``labels`` when given, else ``<lake>/labels.parquet`` if any."""
    if labels is not None:
        return scoring.read_labels(labels), str(labels)
    storage = lake_storage(lake, settings)
    if not storage.exists(LABELS_PATH):
        return None, None
    frame = pl.from_arrow(storage.read_table(LABELS_PATH))
    assert isinstance(frame, pl.DataFrame)
    return frame.select(pl.col(c).cast(pl.String) for c in scoring.LABEL_COLUMNS).unique(), storage.uri(
        LABELS_PATH
    )


def run_backtest(
    lake: LakeRef = None,
    *,
    settings: Settings | None = None,
    grid: Mapping[str, Sequence[float]] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    cadence: timedelta | None = None,
    labels: Path | str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BacktestResult:
    """Replay the rules over ``[date_from, date_to]`` (default: every day in the lake) for each
    point of ``grid`` (``{"RULE_HIGH_CHURN_RATIO": [0.3, 0.4, 0.5], …}``; default: the configured
    thresholds only). The cadence defaults to ``INSIGHT_CHECK_INTERVAL_SECONDS``. Nudges are scored
    against ``labels`` (a Parquet/CSV file) or, by default, the lake's ``labels.parquet`` if any.
    ``progress(done, total)`` is called after each step (reading, features, each combination, scoring).
    """
    report = progress or (lambda done, total: None)
    settings = settings or Settings.from_env()
    storage = lake_storage(lake, settings)
    cadence = cadence or timedelta(seconds=settings.insight_check_interval_seconds)
    con = connect(storage)
    try:
        if date_from is None or date_to is None:
            lo, hi = con.sql("SELECT min(date), max(date) FROM events_all").fetchall()[0]
            today = datetime.now(UTC).date()
            date_from = date_from or lo or today
            date_to = date_to or hi or today
        activity, metric_events = _event_frames(con, date_from, date_to, settings.metrics_line_counting)
    finally:
        con.close()
    combos = combinations(grid or {}, settings)
    steps = len(combos) + 3
    report(1, steps)
    features = instant_features(
        activity,
        metric_events,
        date_from,
        date_to,
        cadence=cadence,
        activity_window=timedelta(minutes=settings.insight_activity_window_minutes),
    )
    report(2, steps)
    frames = []
    for done, combo in enumerate(combos, start=3):
        frames.append(nudges_for(features, combo))
        report(done, steps)
    nudges = (
        pl.concat(frames)
        if frames
        else pl.DataFrame(
            schema={
                "user_id": pl.String,
                "at": UTC_US,
                "date": pl.Date,
                "rule": pl.String,
                "combination": pl.String,
            }
        )
    )
    nudges = nudges.select("combination", "user_id", "at", "date", "rule")
    label_frame, label_source = load_labels(lake, settings, labels)
    summary, scores, per_user = enrich(
        summarise(features, nudges, combos), features, nudges, combos, settings, label_frame
    )
    report(steps, steps)
    return BacktestResult(
        summary=summary,
        nudges=nudges,
        features=features,
        date_from=date_from,
        date_to=date_to,
        cadence=cadence,
        scores=scores,
        per_user=per_user,
        combos=tuple(combos),
        labels_source=label_source,
        labels_count=0 if label_frame is None else label_frame.height,
        activity_window=timedelta(minutes=settings.insight_activity_window_minutes),
    )


def backtest(
    lake: LakeRef = None,
    *,
    settings: Settings | None = None,
    grid: Mapping[str, Sequence[float]] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    cadence: timedelta | None = None,
) -> pl.DataFrame:
    """The summary of :func:`run_backtest` as a Polars DataFrame (one row per combination)."""
    return run_backtest(
        lake, settings=settings, grid=grid, date_from=date_from, date_to=date_to, cadence=cadence
    ).summary


# --------------------------------------------------------------------------- outputs


def write_outputs(result: BacktestResult, out_dir: Path) -> dict[str, Path]:
    """Write ``backtest.csv``, ``backtest.parquet``, ``nudges.parquet`` and ``backtest.png``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "csv": out_dir / "backtest.csv",
        "parquet": out_dir / "backtest.parquet",
        "nudges": out_dir / "nudges.parquet",
        "png": out_dir / "backtest.png",
    }
    result.summary.write_csv(paths["csv"])
    result.summary.write_parquet(paths["parquet"])
    result.nudges.write_parquet(paths["nudges"])
    draw_chart(result, paths["png"])
    return paths


#: Axis labels of the chart: the --set names are too long to print under every bar.
SHORT_NAMES: Final[dict[str, str]] = {
    "RULE_VERY_LONG_SESSION_MIN": "very_long",
    "RULE_LONG_SESSION_MIN": "long",
    "RULE_DELETE_HEAVY_TOTAL": "delete_total",
    "RULE_HIGH_CHURN_RATIO": "churn",
    "RULE_RAPID_SWITCH_COUNT": "rapid",
    "INSIGHT_COOLDOWN_MINUTES": "cooldown",
}

RULE_COLOURS: Final[dict[str, str]] = {
    "very_long_session": "#7b3294",
    "long_session": "#c2a5cf",
    "delete_heavy_rewriting": "#d7191c",
    "high_churn": "#fdae61",
    "rapid_context_switching": "#2c7bb6",
}


HEATMAP_ABOVE: Final = 9  # more combinations than this: a heatmap, bars would not be readable


def _axis_label(row: dict[str, object], names: Sequence[str], sep: str) -> str:
    return sep.join(f"{SHORT_NAMES[name]}={_fmt(float(row[name]))}" for name in names)  # type: ignore[arg-type]


def draw_chart(result: BacktestResult, path: Path) -> None:
    """Up to :data:`HEATMAP_ABOVE` combinations: a stacked bar per combination (nudges per active
    user-day, split by rule) and the share of active user-days with a nudge on a second axis.
    More: heatmaps of nudges per active user-day (and F1 when labelled), the last grid axis across.
    The configured combination is marked (★). Needs matplotlib (the ``analytics`` extra)."""
    if result.summary.height > HEATMAP_ABOVE:
        _draw_heatmap(result, path)
    else:
        _draw_bars(result, path)


def _draw_heatmap(result: BacktestResult, path: Path) -> None:
    from matplotlib.figure import Figure

    summary = result.summary
    names = [name for name in GRID_SETTINGS if name in summary.columns]
    across, down = names[-1], names[:-1]
    columns = sorted(set(summary[across].to_list()))
    row_keys: list[tuple[float, ...]] = []
    for row in summary.iter_rows(named=True):
        key = tuple(float(row[n]) for n in down)
        if key not in row_keys:
            row_keys.append(key)
    panels = [("nudges_per_active_user_day", "nudges per active user-day", "viridis")]
    if "f1" in summary.columns:
        panels.append(("f1", "F1 against the labels (any rule)", "magma"))
    fig = Figure(
        figsize=(min(16.0, 3 + 1.1 * len(columns) * len(panels)), 2.5 + 0.45 * len(row_keys)), dpi=110
    )
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (column, title, cmap) in zip(axes, panels, strict=True):
        grid = [[float("nan")] * len(columns) for _ in row_keys]
        marks: list[tuple[int, int]] = []
        for row in summary.iter_rows(named=True):
            i = row_keys.index(tuple(float(row[n]) for n in down))
            j = columns.index(row[across])
            value = row[column]
            grid[i][j] = float(value) if value is not None else float("nan")
            if row.get("current"):
                marks.append((i, j))
        image = ax.imshow(grid, cmap=cmap, aspect="auto")
        fig.colorbar(image, ax=ax, shrink=0.8)
        for i, cells in enumerate(grid):
            for j, value in enumerate(cells):
                star = "★ " if (i, j) in marks else ""
                light = value == value and float(image.norm(value)) > 0.6  # NaN != NaN: empty cell
                colour = "black" if light else "white"
                ax.text(j, i, f"{star}{value:.2f}", ha="center", va="center", fontsize=7, color=colour)
        ax.set_xticks(
            range(len(columns)), [f"{SHORT_NAMES[across]}={_fmt(float(c))}" for c in columns], fontsize=8
        )
        labels = [
            " ".join(f"{SHORT_NAMES[n]}={_fmt(v)}" for n, v in zip(down, key, strict=True))
            for key in row_keys
        ]
        ax.set_yticks(range(len(row_keys)), labels or [""], fontsize=8)
        ax.set_title(title, fontsize=10)
    fig.suptitle(
        f"Rule backtest {result.date_from} – {result.date_to}, every "
        f"{int(result.cadence.total_seconds() // 60)} min, cooldown applied (★ = configured)"
    )
    fig.tight_layout()
    fig.savefig(path)


def _draw_bars(result: BacktestResult, path: Path) -> None:
    """The stacked bars of :func:`draw_chart`."""
    # A bare Figure needs no pyplot backend: it does not disturb a notebook's inline plots.
    from matplotlib.figure import Figure

    summary = result.summary
    names = [name for name in GRID_SETTINGS if name in summary.columns]
    labels = [
        ("★ configured\n" if row.get("current") else "") + (_axis_label(row, names, "\n") or "configured")
        for row in summary.iter_rows(named=True)
    ]
    width = max(8.0, 0.9 * len(labels) + 4)
    fig = Figure(figsize=(width, 6.5), dpi=110)
    ax = fig.subplots()
    days = summary["active_user_days"].to_list()
    bottom = [0.0] * summary.height
    positions = list(range(summary.height))
    for rule in RULES_BY_PRIORITY:
        counts = summary[f"nudges_{rule}"].to_list()
        heights = [c / d if d else 0.0 for c, d in zip(counts, days, strict=True)]
        ax.bar(positions, heights, bottom=bottom, color=RULE_COLOURS[rule], label=rule.replace("_", " "))
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set_ylabel("nudges per active user-day")
    ax.set_xticks(positions, labels, fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    share = ax.twinx()
    share.plot(
        positions,
        [100 * s for s in summary["share_user_days_nudged"].to_list()],
        color="black",
        marker="o",
        label="user-days with ≥ 1 nudge (%)",
    )
    share.set_ylabel("user-days with ≥ 1 nudge (%)")
    share.set_ylim(0, 100)
    handles, legend_names = ax.get_legend_handles_labels()
    more_handles, more_names = share.get_legend_handles_labels()
    ax.set_ylim(0, max([*bottom, 0.1]) * 1.1)
    ax.set_xlabel("threshold combination")
    ax.legend(
        handles + more_handles,
        legend_names + more_names,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        ncol=3,
        fontsize=9,
        frameon=False,
    )
    ax.set_title(
        f"Rule backtest {result.date_from} – {result.date_to}, every "
        f"{int(result.cadence.total_seconds() // 60)} min, cooldown applied"
    )
    fig.tight_layout()
    fig.savefig(path)


def format_table(summary: pl.DataFrame, width: int = 120) -> str:
    """The summary as a plain-text table that fits ``width`` columns: one line per combination
    (★ = the configured one), its grid values, nudges per active user-day with its bootstrap
    interval, the per-user-day median/p90/max, the share of nudged user-days, and precision,
    recall and F1 (any rule) when labelled. Every column is in the CSV."""
    names = [name for name in GRID_SETTINGS if name in summary.columns]
    exprs: list[pl.Expr] = [
        pl.when(pl.col("current")).then(pl.lit("★")).otherwise(pl.lit("")).alias(" ")
        if "current" in summary.columns
        else pl.lit("").alias(" ")
    ]
    exprs += [pl.col(n).alias(SHORT_NAMES[n]) for n in names]
    exprs.append(pl.col("nudges_per_active_user_day").round(3).alias("per_day"))
    if "per_user_day_lo" in summary.columns:
        exprs.append(
            pl.format("{}–{}", pl.col("per_user_day_lo").round(2), pl.col("per_user_day_hi").round(2)).alias(
                "95% CI"
            )
        )
        exprs.append(
            pl.format(
                "{}/{}/{}",
                pl.col("per_user_day_median").cast(pl.Int64),
                pl.col("per_user_day_p90").cast(pl.Int64),
                pl.col("per_user_day_max"),
            ).alias("p50/p90/max")
        )
    exprs.append(pl.col("share_user_days_nudged").round(3).alias("share"))
    exprs.append(pl.col("users_nudged").alias("users"))
    for column, short in (("precision", "P"), ("recall", "R"), ("f1", "F1")):
        if column in summary.columns:
            exprs.append(pl.col(column).round(2).alias(short))
    shown = summary.select(exprs)
    with pl.Config(
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_width_chars=width,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        tbl_formatting="ASCII_MARKDOWN",
    ):
        return str(shown)


def format_scores(scores: pl.DataFrame, summary: pl.DataFrame, width: int = 120) -> str:
    """Precision, recall and F1 per rule for the configured combination (or the first one)."""
    if scores.is_empty():
        return "no labels: precision and recall need <lake>/labels.parquet or --labels FILE"
    current = (
        summary.filter(pl.col("current"))["combination"].to_list() if "current" in summary.columns else []
    )
    chosen = current[0] if current else summary["combination"][0]
    shown = scores.filter(pl.col("combination") == chosen).select(
        "rule",
        "tp",
        "fp",
        "fn",
        pl.col("precision").round(2).alias("P"),
        pl.format("{}–{}", pl.col("precision_lo").round(2), pl.col("precision_hi").round(2)).alias(
            "P 95% CI"
        ),
        pl.col("recall").round(2).alias("R"),
        pl.format("{}–{}", pl.col("recall_lo").round(2), pl.col("recall_hi").round(2)).alias("R 95% CI"),
        pl.col("f1").round(2).alias("F1"),
    )
    title = ("configured" if current else "first combination") + f": {chosen}"
    with pl.Config(
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_width_chars=width,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        tbl_formatting="ASCII_MARKDOWN",
    ):
        return f"per rule, {title}\n{shown}"
