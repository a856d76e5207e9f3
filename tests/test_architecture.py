"""The layers of README "Layout" hold: ``.importlinter``'s contracts are checked on every test run,
and they do break when a lower layer imports a higher one or two contexts import each other."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` over the ``devflow`` package found in ``project`` (a fresh interpreter, so that
    the package under test is the one on disk there)."""
    return subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"],
        cwd=project,
        env={"PYTHONPATH": str(project), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _inject(path: Path, line: str) -> None:
    text = path.read_text()
    marker = "from __future__ import annotations\n"
    path.write_text(text.replace(marker, marker + line + "\n", 1))


def test_a_lower_layer_or_a_context_cycle_breaks_them(tmp_path: Path) -> None:
    """Storage importing its producer, one context importing another's internals the wrong way round:
    the contracts must say so (otherwise the first test proves nothing)."""
    shutil.copytree(ROOT / "devflow", tmp_path / "devflow", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    _inject(tmp_path / "devflow" / "lake" / "storage.py", "import devflow.telemetry  # noqa")
    _inject(tmp_path / "devflow" / "accounts" / "service.py", "import devflow.insights  # noqa")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "devflow.lake.storage -> devflow.telemetry" in result.stdout
    assert "devflow.accounts.service -> devflow.insights" in result.stdout
    assert "BROKEN" in result.stdout
