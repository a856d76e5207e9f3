"""Server-side path privacy (issue 16): with ``redact-home`` no file of the lake or the spool holds the
vectors' home-directory user name, and the metrics equal those of ``keep`` for the same input."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from litestar.testing import TestClient

from devflow.config import Settings
from devflow.telemetry.privacy import hash_path, redact_home, redact_raw
from tests.metrics.events import churn, run_etl_until_idle, switching
from tests.support.accounts import TestUser, create_user
from tests.support.lake import services_of
from tests.telemetry.payloads import all_vector_events

NAME = b"dana"


def _events(salt: str) -> list[dict[str, Any]]:
    """Every vector event, in the salt's own sessions (a session belongs to one user)."""
    events = copy.deepcopy(all_vector_events())
    for event in events:
        event["session_id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, salt + event["session_id"]))
    return events


def _quarantined() -> dict[str, Any]:
    """An invalid event (no timestamp) whose paths carry the home directory, Windows style too."""
    return {
        "type": "file_save",
        "workspace": "acme-web",
        "file": {"absolute_path": "C:\\Users\\dana\\acme\\x.ts", "path": "/home/dana/projects/x.ts"},
    }


def _files_holding(root: Path, needle: bytes) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if path.suffix == ".parquet":
            data = repr(pq.read_table(path).to_pylist()).encode()
        if needle in data:
            found.append(str(path.relative_to(root)))
    return found


def _send_and_measure(
    client: TestClient[Any], user: TestUser, admin: TestUser, data_dir: Path, events: list[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    for _ in range(2):  # a re-sent batch: duplicate detection must still collapse it
        response = client.post(
            "/api/v1/telemetry", json={"events": [*events, _quarantined()]}, headers=user.token_headers
        )
        assert response.status_code == 202 and response.json()["rejected_count"] == 1, response.text
    spooled = [p for p in (data_dir / "spool").rglob("*") if p.is_file()]
    assert spooled, "the events should still be in the spool here"
    spool_hits = _files_holding(data_dir / "spool", NAME)
    run_etl_until_idle(client, admin)
    services = services_of(client)
    assert services.writer is not None
    services.writer.flush()
    query = "from=2026-05-01&to=2026-05-31"
    body = (churn(client, user, query), switching(client, user, query))
    return body, {"spool": spool_hits, "data": _files_holding(data_dir, NAME)}


def test_redact_home_stores_no_user_name_and_keeps_metrics_exact(
    make_client: Callable[..., TestClient[Any]], settings: Settings, tmp_path: Path
) -> None:
    admin = create_user(settings)
    results = {}
    for mode in ("keep", "redact-home", "hash"):
        user = create_user(settings, email=f"{mode}@example.com")
        data_dir = tmp_path / mode
        client = make_client(
            PATH_PRIVACY=mode,
            DEVFLOW_DATA_DIR=str(data_dir),
            ADMIN_USER_IDS=str(admin.id),
            DEVFLOW_LAKE_FLUSH_SECONDS="10",
            DEVFLOW_LAKE_FLUSH_MAX_BYTES=str(1 << 30),
        )
        results[mode] = _send_and_measure(client, user, admin, data_dir, _events(mode))
    (keep_churn, keep_switch), keep_hits = results["keep"]
    assert keep_hits["data"], "the keep run must store the name (else this test proves nothing)"
    assert keep_churn["total_lines_added"] > 0 and keep_switch["switch_count"] > 0
    for mode in ("redact-home", "hash"):
        (churn_body, switch_body), hits = results[mode]
        assert hits == {"spool": [], "data": []}, (mode, hits)
        assert churn_body == keep_churn, mode
        assert switch_body == keep_switch, mode


def test_a_user_may_choose_a_stricter_mode(
    make_client: Callable[..., TestClient[Any]], settings: Settings, tmp_path: Path
) -> None:
    admin = create_user(settings)
    user = create_user(settings, email="strict@example.com")
    data_dir = tmp_path / "strict"
    client = make_client(DEVFLOW_DATA_DIR=str(data_dir), ADMIN_USER_IDS=str(admin.id))
    response = client.patch("/api/v1/me/settings", json={"path_privacy": "hash"}, headers=user.jwt_headers)
    assert response.status_code == 200
    _, hits = _send_and_measure(client, user, admin, data_dir, _events("strict"))
    assert hits == {"spool": [], "data": []}


def test_redaction_functions() -> None:
    assert redact_home("/home/dana/projects/a.ts") == "~/projects/a.ts"
    assert redact_home("/Users/dana/a.ts") == "~/a.ts"
    assert redact_home("C:\\Users\\dana\\src\\a.ts") == "~/src/a.ts"
    assert redact_home("/usr/bin/bash") == "/usr/bin/bash"
    assert redact_home("src/a.ts") == "src/a.ts"
    assert redact_raw(b'{"p":"C:\\\\Users\\\\dana\\\\x","q":"/home/dana/y"}') == b'{"p":"~/x","q":"~/y"}'
    key = b"k" * 32
    assert hash_path("/home/dana/a.ts", key) == hash_path("/home/dana/a.ts", key)
    assert hash_path("/home/dana/a.ts", key) != hash_path("/home/dana/b.ts", key)
    assert hash_path("/home/dana/a.ts", key) != hash_path("/home/dana/a.ts", b"j" * 32)
    assert hash_path("src/a.ts", key) == "src/a.ts"
