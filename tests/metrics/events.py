"""Builders of extension-shaped telemetry events for the metrics tests."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.support.accounts import TestUser


def text_change(
    ts: str,
    session_id: str,
    path: str,
    lines: int,
    ranges: list[tuple[int, int]],
    added: int,
    deleted: int,
    *,
    absolute_path: str | None = None,
) -> dict[str, Any]:
    """A ``text_change`` as the extension sends it."""
    return {
        "type": "text_change",
        "timestamp": ts,
        "workspace": "acme-web",
        "file": {
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "absolute_path": absolute_path if absolute_path is not None else f"/home/dev/acme-web/{path}",
            "extension": ".ts",
            "language": "typescript",
            "workspace": "acme-web",
            "lines": lines,
            "size_bytes": 40 * lines,
        },
        "metrics": {
            "characters_added": added,
            "characters_deleted": deleted,
            "change_count": len(ranges),
            "affected_line_ranges": [{"start": s, "end": e} for s, e in ranges],
            "edit_duration_ms": 120,
            "is_large_paste": added > 100,
            "is_possible_rewrite": False,
            "is_possible_undo_cycle": False,
        },
        "session_id": session_id,
    }


def file_save(ts: str, session_id: str, path: str, lines: int) -> dict[str, Any]:
    """A ``file_save`` carrying the document's line count."""
    return {
        "type": "file_save",
        "timestamp": ts,
        "workspace": "acme-web",
        "file": {
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "absolute_path": f"/home/dev/acme-web/{path}",
            "extension": ".ts",
            "language": "typescript",
            "workspace": "acme-web",
            "lines": lines,
            "size_bytes": 40 * lines,
        },
        "session_id": session_id,
    }


def editor_switch(
    ts: str, session_id: str, to_file: str, *, rapid: bool | None = False, from_file: str | None = None
) -> dict[str, Any]:
    """An ``editor_switch``; ``rapid=None`` leaves the required flag out (the event is rejected)."""
    metrics: dict[str, Any] = {"switch_interval_seconds": 4, "is_cross_module_switch": False}
    if rapid is not None:
        metrics["is_rapid_context_switching"] = rapid
    event: dict[str, Any] = {"type": "editor_switch", "timestamp": ts, "workspace": "acme-web"}
    if from_file is not None:
        event["from"] = {"file": from_file, "language": "typescript", "module": "src"}
    event["to"] = {"file": to_file, "language": "typescript", "module": "src"}
    event["metrics"] = metrics
    event["session_id"] = session_id
    return event


def send(client: TestClient[Any], user: TestUser, events: list[dict[str, Any]]) -> dict[str, Any]:
    """POST the events with the user's API token; asserts the 202."""
    response = client.post("/api/v1/telemetry", json={"events": events}, headers=user.token_headers)
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def run_etl_until_idle(
    client: TestClient[Any], admin: TestUser, max_passes: int = 200
) -> list[dict[str, int]]:
    """Manual ETL runs until one takes in nothing (the contract's "caught up" condition)."""
    passes = []
    for _ in range(max_passes):
        response = client.post("/api/v1/metrics/etl/run", headers=admin.jwt_headers)
        assert response.status_code == 200, response.text
        body: dict[str, int] = response.json()
        passes.append(body)
        if body["processed_count"] == 0:
            return passes
    raise AssertionError("ETL did not catch up")


def churn(client: TestClient[Any], user: TestUser, query: str) -> dict[str, Any]:
    """GET /metrics/churn?<query> with the user's JWT; asserts the 200."""
    response = client.get(f"/api/v1/metrics/churn?{query}", headers=user.jwt_headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def switching(client: TestClient[Any], user: TestUser, query: str) -> dict[str, Any]:
    """GET /metrics/context-switching?<query> with the user's JWT; asserts the 200."""
    response = client.get(f"/api/v1/metrics/context-switching?{query}", headers=user.jwt_headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
