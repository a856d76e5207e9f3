"""Backtest runs on disk: one folder per run with a manifest, and the comparison of two runs.

``<root>/<UTC time>-<6 hex>/`` holds ``manifest.json`` (what was run: thresholds and grid, date
range, cadence, activity window, cooldowns, line definition, labels, code version),
``backtest.csv``/``backtest.parquet`` (one row per combination), ``scores.csv``/``scores.parquet``
(precision/recall/F1 per combination and rule, when labelled), ``per_user.parquet``,
``nudges.parquet`` and ``backtest.png``. Nothing is overwritten: every run gets a new folder.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl

from devflow.analytics.backtest import (
    GRID_SETTINGS,
    SHORT_NAMES,
    THRESHOLD_SETTINGS,
    BacktestResult,
    draw_chart,
)
from devflow.config import Settings
from devflow.insights import CooldownPolicy, RuleThresholds

MANIFEST = "manifest.json"


def code_version() -> dict[str, str | None]:
    """The package version and, in a git checkout, the commit (with ``-dirty`` for local changes)."""
    try:
        version: str | None = metadata.version("devflow")
    except metadata.PackageNotFoundError:
        version = None
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(  # noqa: S603
            ["git", "-C", str(here), "describe", "--always", "--dirty", "--abbrev=12"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"devflow": version, "git": commit or None}


def configured(settings: Settings) -> dict[str, float]:
    """The configured value of every setting a grid can vary."""
    thresholds = RuleThresholds.from_settings(settings)
    values = {name: float(getattr(thresholds, attr)) for name, attr in THRESHOLD_SETTINGS.items()}
    values["INSIGHT_COOLDOWN_MINUTES"] = CooldownPolicy.from_settings(settings).cooldown.total_seconds() / 60
    return values


def manifest(result: BacktestResult, settings: Settings, run_id: str) -> dict[str, Any]:
    """What the run replayed, enough to reproduce it."""
    grid: dict[str, list[float]] = {}
    for combo in result.combos:
        for name, value in combo.values.items():
            grid.setdefault(name, [])
            if value not in grid[name]:
                grid[name].append(value)
    current = [c.label for c, flag in zip(result.combos, result.summary["current"], strict=True) if flag]
    return {
        "run_id": run_id,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "date_from": result.date_from.isoformat(),
        "date_to": result.date_to.isoformat(),
        "cadence_minutes": result.cadence.total_seconds() / 60,
        "activity_window_minutes": result.activity_window.total_seconds() / 60,
        "grid": {name: sorted(values) for name, values in grid.items()},
        "configured": configured(settings),
        "cooldowns_minutes": sorted({c.cooldown.total_seconds() / 60 for c in result.combos}),
        "line_definition": settings.metrics_line_counting,
        "labels": {"source": result.labels_source, "count": result.labels_count},
        "combinations": [c.label for c in result.combos],
        "current": current[0] if current else None,
        "evaluations": result.features.height,
    }


def write_run(result: BacktestResult, root: Path, settings: Settings) -> Path:
    """Write the run into a new folder under ``root`` and return it."""
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    folder = root / run_id
    folder.mkdir(parents=True, exist_ok=False)
    result.summary.write_csv(folder / "backtest.csv")
    result.summary.write_parquet(folder / "backtest.parquet")
    if result.scores.height:
        result.scores.write_csv(folder / "scores.csv")
        result.scores.write_parquet(folder / "scores.parquet")
    result.per_user.write_parquet(folder / "per_user.parquet")
    result.nudges.write_parquet(folder / "nudges.parquet")
    draw_chart(result, folder / "backtest.png")
    (folder / MANIFEST).write_text(json.dumps(manifest(result, settings, run_id), indent=2) + "\n")
    return folder


def resolve_run(ref: str, root: Path) -> Path:
    """A run folder from a path or a run id under ``root`` (a unique prefix is enough)."""
    path = Path(ref)
    if (path / MANIFEST).exists():
        return path
    matches = sorted(p for p in root.glob(f"{ref}*") if (p / MANIFEST).exists()) if root.exists() else []
    if len(matches) == 1:
        return matches[0]
    raise ValueError(f"no single backtest run matches {ref!r} (looked in {root})")


def compare_runs(a: Path, b: Path) -> str:
    """What differs between two runs' manifests, and their shared combinations side by side."""
    ma, mb = (json.loads((p / MANIFEST).read_text()) for p in (a, b))
    lines = [f"A: {a.name}", f"B: {b.name}"]
    skip = {"run_id", "created_at", "combinations"}
    for key in sorted((set(ma) | set(mb)) - skip):
        if ma.get(key) != mb.get(key):
            lines.append(f"  {key}: A={json.dumps(ma.get(key))}  B={json.dumps(mb.get(key))}")
    if len(lines) == 2:
        lines.append("  same settings (manifests differ only in run id and time)")
    columns = ["nudges_per_active_user_day", "share_user_days_nudged", "precision", "recall", "f1"]
    # Combinations match on every threshold and the cooldown, grid or configured, so runs over
    # different grids line up wherever they replayed the same settings.
    frames = []
    for folder, meta in ((a, ma), (b, mb)):
        frame = pl.read_parquet(folder / "backtest.parquet")
        frame = frame.with_columns(
            pl.lit(float(meta["configured"][name])).alias(name)
            for name in GRID_SETTINGS
            if name not in frame.columns
        )
        frames.append(frame.with_columns(pl.col(name).cast(pl.Float64) for name in GRID_SETTINGS))
    sa, sb = frames
    keep = [c for c in columns if c in sa.columns and c in sb.columns]
    varying = [n for n in GRID_SETTINGS if n in ma.get("grid", {}) or n in mb.get("grid", {})]
    joined = (
        sa.select(*GRID_SETTINGS, *keep)
        .join(
            sb.select(*GRID_SETTINGS, *keep), on=list(GRID_SETTINGS), how="full", coalesce=True, suffix="_b"
        )
        .sort(varying or list(GRID_SETTINGS))
    )
    short = {
        "nudges_per_active_user_day": "per_day",
        "share_user_days_nudged": "share",
        "precision": "P",
        "recall": "R",
        "f1": "F1",
    }
    table = joined.select(
        *(pl.col(n).alias(SHORT_NAMES[n]) for n in varying),
        *(
            expr
            for c in keep
            for expr in (
                pl.col(c).round(3).alias(f"{short[c]} A"),
                pl.col(f"{c}_b").round(3).alias(f"{short[c]} B"),
            )
        ),
    )
    with pl.Config(
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_width_chars=120,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        tbl_formatting="ASCII_MARKDOWN",
    ):
        lines.append(str(table))
    return "\n".join(lines)
