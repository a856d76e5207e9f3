"""Export (issue 16): GET /me/export streams a ZIP of the caller's data; re-importing its Parquet into
DuckDB gives the lake's counts; API tokens get 403; ``devflow export`` writes the same archive."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
from litestar.testing import TestClient

from devflow.config import Settings
from tests.conftest import BASE_ENV
from tests.rights.conftest import build_two_user_lake, lake_rows


def _check_archive(data: bytes, tmp_path: Path, expected: dict[str, int], token: str) -> None:
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = set(archive.namelist())
    assert {"account.json", "database/api_tokens.json", "database/recommendations.json"} <= names
    assert {"lake/events.parquet", "lake/quarantine.parquet", "lake/events.ndjson"} <= names
    account = json.loads(archive.read("account.json"))
    assert account["email"] == "victim@example.com" and "password_hash" not in account
    tokens = json.loads(archive.read("database/api_tokens.json"))
    assert len(tokens) == 1 and "token_hash" not in tokens[0] and tokens[0]["token_prefix"] == token[4:10]
    text = data.decode("latin-1")
    assert token[4:] not in text and hashlib.sha256(token[4:].encode()).hexdigest() not in text
    archive.extractall(tmp_path / "x")
    con = duckdb.connect()
    for dataset, count in expected.items():
        parquet = tmp_path / "x" / "lake" / f"{dataset}.parquet"
        (n,) = con.execute("SELECT count(*) FROM read_parquet(?)", [str(parquet)]).fetchone() or (0,)
        assert n == count, dataset
    lines = (tmp_path / "x" / "lake" / "events.ndjson").read_text().splitlines()
    assert len(lines) == expected["events"] and json.loads(lines[0])["user_id"]


def test_export_matches_the_lake(
    make_client: Callable[..., TestClient[Any]], settings: Settings, tmp_path: Path
) -> None:
    world = build_two_user_lake(settings)
    expected = lake_rows(world.lake, str(world.victim.id))
    assert expected["events"] > 0 and expected["quarantine"] == 2 and expected["metrics_daily"] > 0
    client = make_client()
    assert client.get("/api/v1/me/export", headers=world.victim.token_headers).status_code == 403
    assert client.get("/api/v1/me/export").status_code == 401
    response = client.get("/api/v1/me/export", headers=world.victim.jwt_headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert "attachment" in response.headers["content-disposition"]
    _check_archive(response.content, tmp_path / "http", expected, world.victim.token)

    out = tmp_path / "cli.zip"
    env = {
        **os.environ,
        **BASE_ENV,
        "DATABASE_URL": settings.database_url,
        "DEVFLOW_DATA_DIR": str(settings.data_dir),
        "DEVFLOW_LAKE_URL": str(world.lake),
    }
    result = subprocess.run(
        [sys.executable, "-m", "devflow", "export", "--email", "victim@example.com", "--out", str(out)],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    _check_archive(out.read_bytes(), tmp_path / "cli", expected, world.victim.token)
