"""The rule backtest on generated data with planted rule-tripping users (DESIGN flow 6)."""

from __future__ import annotations

import csv
import itertools
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from PIL import Image

from devflow.analytics.backtest import (
    GRID_SETTINGS,
    BacktestResult,
    combinations,
    cooldown_keep,
    parse_grid,
    run_backtest,
)
from devflow.analytics.generate import write_synthetic
from devflow.analytics.synthetic import PLANTED_PERSONAS, SyntheticSpec, dataset_labels, generate, plan_users
from devflow.config import Settings
from devflow.db.engine import make_engine, make_session_factory
from devflow.insights.gates import CooldownPolicy, apply_gates
from devflow.insights.rules import RULES_BY_PRIORITY
from devflow.lake.storage import LakeStorage
from devflow.metrics import RAW_COLUMNS, session_metrics_frames

SPEC = SyntheticSpec(users=12, days=7, seed=5, end_date=date(2026, 5, 14))
NOW = datetime(2026, 5, 16, tzinfo=UTC)
GRID = {
    "RULE_HIGH_CHURN_RATIO": [0.3, 0.4, 0.5],
    "RULE_LONG_SESSION_MIN": [90.0, 120.0, 150.0],
    "RULE_RAPID_SWITCH_COUNT": [20.0, 30.0],
}


@pytest.fixture()
def generated(settings: Settings) -> Settings:
    engine = make_engine(settings.database_url)
    try:
        write_synthetic(settings, SPEC, db=make_session_factory(engine), now=NOW)
    finally:
        engine.dispose()
    return settings


@pytest.fixture()
def result(generated: Settings) -> BacktestResult:
    return run_backtest(settings=generated, grid=GRID)


def test_looser_thresholds_never_yield_fewer_nudges(result: BacktestResult) -> None:
    """Every pair of grid points where one is at most the other on every threshold: the looser
    point has at least as many nudges (rules compare strictly greater-than)."""
    rows = result.summary.to_dicts()
    assert len(rows) == 3 * 3 * 2
    compared = 0
    for loose, tight in itertools.permutations(rows, 2):
        if all(loose[name] <= tight[name] for name in GRID):
            pair = (loose["combination"], tight["combination"])
            assert loose["nudges_total"] >= tight["nudges_total"], pair
            compared += 1
    assert compared > 30
    totals = result.summary["nudges_total"].to_list()
    assert totals[0] > totals[-1] > 0, "the grid spans a real range of nudge counts"


def test_planted_users_are_found_by_their_rule(result: BacktestResult) -> None:
    """At the configured thresholds each planted persona trips its own rule, and regular users trip
    the rules planted for very long sessions, delete-heavy rewriting or rapid switching only in
    sessions the generator labels for that rule (a regular developer's rare session past 4 h)."""
    planted = {u.persona: str(u.user_id) for u in plan_users(SPEC) if u.persona in PLANTED_PERSONAS}
    nudges = result.nudges.filter(
        pl.col("combination")
        == "RULE_LONG_SESSION_MIN=120 RULE_HIGH_CHURN_RATIO=0.4 RULE_RAPID_SWITCH_COUNT=30"
    )
    assert nudges.height > 0
    for persona, user_id in planted.items():
        mine = nudges.filter((pl.col("user_id") == user_id) & (pl.col("rule") == persona))
        assert mine.height >= 1, f"planted {persona} user not found"
    labelled = pl.DataFrame(
        [(label.session_id, label.rule) for label in dataset_labels(generate(SPEC))],
        schema=["session_id", "rule"],
        orient="row",
    )
    strays = (
        nudges.filter(
            pl.col("rule").is_in(["very_long_session", "delete_heavy_rewriting", "rapid_context_switching"])
            & ~pl.col("user_id").is_in(list(planted.values()))
        )
        .join(result.features.select("user_id", "at", "session_id"), on=["user_id", "at"])
        .join(labelled, on=["session_id", "rule"], how="anti")
    )
    assert strays.height == 0, strays


def test_nudges_respect_the_cooldown(result: BacktestResult) -> None:
    gaps = (
        result.nudges.sort("combination", "user_id", "at")
        .with_columns(pl.col("at").diff().over("combination", "user_id").alias("gap"))
        .drop_nulls("gap")
    )
    assert gaps.height > 0
    assert gaps["gap"].min() >= timedelta(minutes=45)  # type: ignore[operator]


def test_summary_columns_and_ratios(result: BacktestResult) -> None:
    summary = result.summary
    for rule in RULES_BY_PRIORITY:
        assert f"nudges_{rule}" in summary.columns
    for row in summary.iter_rows(named=True):
        assert row["nudges_total"] == sum(row[f"nudges_{rule}"] for rule in RULES_BY_PRIORITY)
        per_day = row["nudges_total"] / row["active_user_days"]
        assert row["nudges_per_active_user_day"] == pytest.approx(per_day)
        assert 0 < row["share_user_days_nudged"] <= 1
    active = result.features.select("user_id", "date").unique().height
    assert summary["active_user_days"].to_list() == [active] * summary.height


def test_features_as_of_an_instant_match_the_etl_on_the_events_up_to_it(generated: Settings) -> None:
    """Today's metrics at an instant are what the ETL computes from the events up to that instant
    (line-delta baselines included), and the session duration is first-to-last event so far."""
    result = run_backtest(settings=generated, date_from=date(2026, 5, 12), date_to=date(2026, 5, 13))
    features = result.features
    assert features["date"].min() == date(2026, 5, 12) and features["date"].max() == date(2026, 5, 13)
    storage = LakeStorage.from_url(generated.lake_url)
    tables = [storage.read_table(info.path) for info in storage.list_parquet("events")]
    events = pa.concat_tables(tables).select(list(RAW_COLUMNS))
    sample = features.filter(pl.col("lines_added") > 0).sort("user_id", "at").gather_every(97)
    assert sample.height >= 3
    for row in sample.iter_rows(named=True):
        mine = pc.equal(events["user_id"], row["user_id"])
        upto = events.filter(pc.and_(mine, pc.less_equal(events["timestamp"], row["at"])))
        day = session_metrics_frames(upto, "line-delta").session_day
        today = pl.from_arrow(day).filter(pl.col("date") == row["date"])  # type: ignore[union-attr]
        assert row["lines_added"] == today["lines_added"].sum()
        assert row["lines_deleted"] == today["lines_deleted"].sum()
        assert row["rapid_switch_count"] == today["rapid_switch_count"].sum()
        session = upto.filter(pc.equal(upto["session_id"], row["session_id"]))
        assert row["start_time"] == pc.min(session["timestamp"]).as_py()
        assert row["last_event_at"] == pc.max(upto["timestamp"]).as_py()


def test_cooldown_keep_matches_the_live_gate_policy() -> None:
    """The sequential cooldown equals evaluating the live gate (apply_gates) at every instant,
    with each nudge becoming the user's pending recommendation."""
    policy = CooldownPolicy()
    base = datetime(2026, 5, 12, 9, 0, tzinfo=UTC)
    instants = {"a": [0, 10, 20, 40, 50, 60, 100, 140, 150], "b": [5, 45, 55, 95]}
    users = [u for u in sorted(instants) for _ in instants[u]]
    times = [base + timedelta(minutes=m) for u in sorted(instants) for m in instants[u]]
    kept = cooldown_keep(users, times, policy.cooldown)
    pending: dict[str, datetime | None] = {"a": None, "b": None}
    expected = []
    for user, at in zip(users, times, strict=True):
        frame = pl.DataFrame(
            {
                "rec_created_at": [pending[user]],
                "rec_user_action": [None],
                "rec_acted_at": [None],
                "eval_called_at": [None],
                "eval_outcome": [None],
            },
            schema={
                "rec_created_at": pl.Datetime("us", "UTC"),
                "rec_user_action": pl.String,
                "rec_acted_at": pl.Datetime("us", "UTC"),
                "eval_called_at": pl.Datetime("us", "UTC"),
                "eval_outcome": pl.String,
            },
        )
        blocked = apply_gates(frame, at, policy)["gate"][0] is not None
        expected.append(not blocked)
        if not blocked:
            pending[user] = at
    assert kept == expected
    assert kept.count(True) == 6


def test_parse_grid_and_combinations(settings: Settings) -> None:
    grid = parse_grid(["RULE_HIGH_CHURN_RATIO=0.5,0.3,0.4", "insight_cooldown_minutes=30,60"])
    assert grid == {"RULE_HIGH_CHURN_RATIO": [0.3, 0.4, 0.5], "INSIGHT_COOLDOWN_MINUTES": [30.0, 60.0]}
    combos = combinations(grid, settings)
    assert len(combos) == 6
    assert combos[0].thresholds.high_churn_ratio == 0.3
    assert combos[0].thresholds.long_session_min == settings.rule_long_session_min
    assert combos[-1].cooldown == timedelta(minutes=60)
    for bad in ("RULE_NOPE=1", "RULE_HIGH_CHURN_RATIO", "RULE_HIGH_CHURN_RATIO=x", "RULE_LONG_SESSION_MIN=0"):
        with pytest.raises(ValueError):
            parse_grid([bad])
    assert set(GRID_SETTINGS) >= set(grid)


def test_cli_generate_then_backtest_writes_table_csv_parquet_and_png(tmp_path: Path) -> None:
    """``devflow generate`` and ``devflow backtest`` as a researcher runs them."""
    env = {
        **os.environ,
        "DEVFLOW_DATA_DIR": str(tmp_path / "cli-data"),
        "JWT_SECRET": "cli-secret-which-is-long-enough-for-hs256",
        "LOG_LEVEL": "warning",
    }
    env.pop("DATABASE_URL", None)
    devflow = [sys.executable, "-m", "devflow"]
    gen = subprocess.run(
        [*devflow, "generate", "--users", "9", "--days", "3", "--seed", "2", "--end-date", "2026-05-13"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert gen.returncode == 0, gen.stderr
    assert "planted very_long_session" in gen.stdout
    out = tmp_path / "bt"
    bt = subprocess.run(
        [
            *devflow,
            "backtest",
            "--set",
            "RULE_HIGH_CHURN_RATIO=0.3,0.5",
            "--set",
            "RULE_LONG_SESSION_MIN=90,120",
            "--out",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert bt.returncode == 0, bt.stderr
    assert "2026-05-" in bt.stdout and "per_day" in bt.stdout
    table = [line for line in bt.stdout.splitlines() if line.startswith("|")]
    assert len(table) > 6 and max(len(line) for line in table) <= 120
    assert not any("★" in line for line in table) and "not on this grid" in bt.stdout  # churn 0.4 is not
    [run] = list(out.iterdir())
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["grid"] == {"RULE_LONG_SESSION_MIN": [90.0, 120.0], "RULE_HIGH_CHURN_RATIO": [0.3, 0.5]}
    assert manifest["configured"]["RULE_LONG_SESSION_MIN"] == 120.0
    assert manifest["cooldowns_minutes"] == [45.0] and manifest["cadence_minutes"] == 10.0
    assert manifest["labels"]["count"] > 0 and manifest["code_version"]["devflow"]
    with (run / "backtest.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4
    assert pl.read_parquet(run / "backtest.parquet")["nudges_total"].to_list() == [
        int(r["nudges_total"]) for r in rows
    ]
    assert {"precision", "recall", "f1", "per_user_day_p90"} <= set(rows[0])
    scores = pl.read_parquet(run / "scores.parquet")
    assert scores.height == 4 * 6 and scores["recall"].drop_nulls().len() > 0
    png = (run / "backtest.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    grid = ["--set", "RULE_LONG_SESSION_MIN=90,120,150,240", "--set", "RULE_HIGH_CHURN_RATIO=0.3,0.4,0.5"]
    big = subprocess.run(
        [*devflow, "backtest", *grid, "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert big.returncode == 0, big.stderr
    marked = [line for line in big.stdout.splitlines() if line.startswith("|") and "★" in line]
    assert len(marked) == 1 and "120" in marked[0] and "0.4" in marked[0]  # the configured point
    [second] = [p for p in out.iterdir() if p != run]
    with Image.open(second / "backtest.png") as image:  # a heatmap: as wide as a few columns, not 12 bars
        assert image.width < 1800
    compared = subprocess.run(
        [*devflow, "backtest", "--compare", run.name, second.name, "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert compared.returncode == 0, compared.stderr
    assert "grid: A=" in compared.stdout and "per_day A" in compared.stdout
    bad = subprocess.run(
        [*devflow, "backtest", "--set", "RULE_NOPE=1"], env=env, capture_output=True, text=True, check=False
    )
    assert bad.returncode == 2 and "RULE_NOPE" not in bad.stdout


def test_backtest_of_an_empty_lake_reports_zero_nudges(settings: Settings) -> None:
    result = run_backtest(settings=settings, grid={"RULE_HIGH_CHURN_RATIO": [0.3, 0.5]})
    assert result.features.height == 0 and result.nudges.height == 0
    assert result.summary["nudges_total"].to_list() == [0, 0]
    assert result.summary["share_user_days_nudged"].to_list() == [0.0, 0.0]


def test_long_session_persona_is_caught_at_120_minutes_and_not_at_240(generated: Settings) -> None:
    """The planted long-session persona works 130–230-minute sessions: every one of its labelled
    sessions gets a ``long_session`` nudge at 120 min (recall 1), none at 240 min (recall 0), and
    the scores are the labels' own arithmetic."""
    result = run_backtest(settings=generated, grid={"RULE_LONG_SESSION_MIN": [120.0, 240.0]})
    assert result.labels_source is not None and result.labels_count > 0
    scores = result.scores.filter(pl.col("rule") == "long_session").sort("combination")
    at_120, at_240 = scores.row(0, named=True), scores.row(1, named=True)
    assert (
        at_120["combination"] == "RULE_LONG_SESSION_MIN=120"
        and at_240["combination"] == "RULE_LONG_SESSION_MIN=240"
    )
    assert at_120["tp"] > 0 and at_120["fn"] == 0 and at_120["recall"] == 1.0
    assert at_240["tp"] == 0 and at_240["recall"] == 0.0 and at_240["fn"] == at_120["tp"]
    for row in (at_120,):
        assert row["precision"] == pytest.approx(row["tp"] / (row["tp"] + row["fp"]))
        assert row["precision_lo"] <= row["precision"] <= row["precision_hi"]
    persona = next(u for u in plan_users(SPEC) if u.persona == "long_session")
    caught = result.nudges.filter(
        (pl.col("rule") == "long_session") & (pl.col("user_id") == str(persona.user_id))
    )
    assert set(caught["combination"]) == {"RULE_LONG_SESSION_MIN=120"}
    current = result.summary.filter(pl.col("current"))
    assert current["combination"].to_list() == ["RULE_LONG_SESSION_MIN=120"]  # the configured default
    summary = result.summary.row(0, named=True)
    assert summary["per_user_day_median"] <= summary["per_user_day_p90"] <= summary["per_user_day_max"]
    assert summary["per_user_day_lo"] <= summary["nudges_per_active_user_day"] <= summary["per_user_day_hi"]


def test_a_researchers_labels_file_replaces_the_generators(generated: Settings, tmp_path: Path) -> None:
    """``labels=`` (CSV here) is scored instead of ``labels.parquet``: TP + FN per rule is the number
    of its labelled sessions the backtest evaluated, and TP + FP the sessions nudged by that rule."""
    result = run_backtest(settings=generated)
    evaluated = result.features.select("user_id", "session_id", "at")
    nudged = (
        result.nudges.join(evaluated, on=["user_id", "at"]).select("user_id", "session_id", "rule").unique()
    )
    mine = (
        nudged.filter(pl.col("rule") == "high_churn")
        .head(3)
        .vstack(
            evaluated.select("user_id", "session_id")
            .unique()
            .head(2)
            .with_columns(rule=pl.lit("long_session"))
        )
    )
    path = tmp_path / "mine.csv"
    mine.write_csv(path)
    own = run_backtest(settings=generated, labels=path)
    assert own.labels_source == str(path) and own.labels_count == mine.unique().height
    for rule in ("high_churn", "long_session"):
        row = own.scores.filter(pl.col("rule") == rule).row(0, named=True)
        assert row["tp"] + row["fn"] == mine.filter(pl.col("rule") == rule).unique().height
        assert row["tp"] + row["fp"] == nudged.filter(pl.col("rule") == rule).height
