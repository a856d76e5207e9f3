"""The ETL's SQL, kept as plain files in ``sql/metrics/`` that an analyst can read and run."""

from __future__ import annotations

from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parents[2] / "sql" / "metrics"

LINE_DEFINITIONS = ("line-delta", "typing-heuristic")
SWITCH_DEFINITION = "editor-switch-count"


@cache
def sql_text(name: str) -> str:
    """The text of ``sql/metrics/<name>.sql``."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def lines_sql(definition: str) -> str:
    """The per-text_change line counting query of a line definition (contract §6.1)."""
    if definition not in LINE_DEFINITIONS:
        raise ValueError(f"unknown line definition {definition!r}")
    return sql_text(f"02_lines_{definition.replace('-', '_')}")
