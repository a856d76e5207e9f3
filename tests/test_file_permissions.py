"""Issue 10, defect 10: the data dir is private (folders 0700, files 0600) whatever the umask was."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from devflow.app import create_app
from devflow.cli import main
from devflow.config import Settings
from tests.support.accounts import create_user
from tests.telemetry.payloads import vector_events


@pytest.fixture()
def operator_umask() -> Iterator[None]:
    """The usual operator umask (022); restored afterwards."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


def test_data_dir_database_secret_spool_and_lake_are_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, operator_umask: None
) -> None:
    data = tmp_path / "fresh"
    for name in ("DATABASE_URL", "DB_HOST", "JWT_SECRET", "DEVFLOW_LAKE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEVFLOW_DATA_DIR", str(data))
    assert main(["db", "upgrade"]) == 0  # what `devflow serve` does first
    os.umask(0o022)  # as if another process of the operator's started with their umask
    settings = Settings.from_env(
        {"DEVFLOW_DATA_DIR": str(data), "METRICS_ETL_ENABLED": "false", "INSIGHTS_ENABLED": "false"}
    )
    with TestClient(app=create_app(settings)) as client:
        user = create_user(settings.with_dev_secret())
        response = client.post(
            "/api/v1/telemetry", json={"events": vector_events("file_save")}, headers=user.token_headers
        )
        assert response.status_code == 202
    modes = _modes(data)
    assert any(name.endswith(".parquet") for name in modes), modes  # the lake was written
    assert {"devflow.sqlite3", "jwt_secret", "lake", "spool"} <= set(modes)
    for name, mode in modes.items():
        assert mode & 0o077 == 0, f"{name} is {oct(mode)}"
        assert mode == (0o700 if (data / name).is_dir() else 0o600), f"{name} is {oct(mode)}"


def test_a_stricter_umask_is_kept(tmp_path: Path, operator_umask: None) -> None:
    from devflow.kernel.files import restrict_new_files

    os.umask(0o277)
    restrict_new_files()
    try:
        (tmp_path / "f").write_text("x")
        assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o400
    finally:
        os.umask(0o022)
