"""Every notebook in ``notebooks/`` runs top to bottom against a small generated lake."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from devflow.analytics.generate import write_synthetic
from devflow.analytics.synthetic import SyntheticSpec
from devflow.config import Settings
from devflow.db.engine import make_engine, make_session_factory
from devflow.lake.storage import LakeStorage
from devflow.metrics.etl import EtlEnv, run_pass

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))

#: Per notebook, the cells (by their ``check:`` tag) whose result must be a non-empty table, and
#: text each cell's output must contain.
KEY_OUTPUTS: dict[str, dict[str, list[str]]] = {
    "01_explore_events": {
        "check:size": ["events", "duplicate_copies"],
        "check:local-weekdays": ["user_days"],
        "check:languages": ["language"],
        "check:sessions": ["mean", "max"],
    },
    "02_metrics_and_churn": {
        "check:users": ["username", "time_zone"],
        "check:daily": ["churn_ratio"],
        "check:per-user": ["days_over_churn_threshold"],
    },
    "03_tune_rule_thresholds": {
        "check:summary": ["★", "per_day", "churn", "F1"],
        "check:scores": ["long_session", "high_churn", "any", "recall"],
        "check:who": ["configured: ", "users nudged: ", "username"],
    },
}
SHAPE = re.compile(r"shape: \((\d+), (\d+)\)")


def _text(cell: Any) -> tuple[str, str]:
    """(the cell's printed output, its result as plain text)."""
    printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    result = "".join(
        o["data"].get("text/plain", "") for o in cell.outputs if o.output_type == "execute_result"
    )
    return printed, result


@pytest.fixture()
def notebook_env(settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A generated lake with its metrics, and the environment a notebook reads its Settings from."""
    engine = make_engine(settings.database_url)
    try:
        db = make_session_factory(engine)
        spec = SyntheticSpec(users=10, days=4, seed=8, end_date=date(2026, 5, 14))
        write_synthetic(settings, spec, db=db, now=datetime(2026, 5, 16, tzinfo=UTC))
        run_pass(EtlEnv(settings, db, LakeStorage.from_url(settings.lake_url)), take_all=True)
    finally:
        engine.dispose()
    # The kernel is a child process: it inherits these and builds the same Settings.
    monkeypatch.setenv("DEVFLOW_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("JWT_SECRET", "notebook-secret-which-is-long-enough")
    monkeypatch.setenv("LOG_LEVEL", "warning")
    monkeypatch.delenv("DEVFLOW_LAKE_URL", raising=False)
    return settings


def test_there_are_notebooks_stored_without_outputs() -> None:
    assert len(NOTEBOOKS) >= 3
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        for cell in book.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path: Path, notebook_env: Settings) -> None:
    book = nbformat.read(path, as_version=4)
    client = NotebookClient(
        book,
        kernel_name="python3",  # the venv's ipykernel: jupyter_client starts it with this interpreter
        timeout=180,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    outputs = [o for cell in book.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    expected = KEY_OUTPUTS[path.stem]
    tagged = {tag: cell for cell in book.cells for tag in cell.metadata.get("tags", []) if tag in expected}
    assert set(tagged) == set(expected), f"{path.name}: tagged cells missing"
    for tag, needles in expected.items():
        printed, result = _text(tagged[tag])
        shape = SHAPE.search(result)
        assert shape is not None, f"{path.name} {tag}: no table"
        assert int(shape.group(1)) > 0, f"{path.name} {tag}: empty table"
        for needle in needles:
            assert needle in printed + result, f"{path.name} {tag}: {needle!r} missing"
    if path.stem == "03_tune_rule_thresholds":
        printed, _ = _text(tagged["check:who"])
        nudged = re.search(r"users nudged: (\d+) of (\d+)", printed)
        assert nudged is not None and 0 < int(nudged.group(1)) <= int(nudged.group(2))
