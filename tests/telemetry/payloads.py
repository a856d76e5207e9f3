"""Payload and lake helpers for telemetry tests (real app, real writer, DuckDB over the lake)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
from litestar.testing import TestClient

from devflow.analytics.events_view import connect_lake
from tests.conftest import VECTORS
from tests.support.lake import services_of

SESSION_A = "3f9c2a71-8d4e-4b6a-9f12-6c0e5d8b7a43"


def vector_events(name: str) -> list[dict[str, Any]]:
    """The events of ``tests/vectors/telemetry-<name>.json``."""
    events: list[dict[str, Any]] = json.loads((VECTORS / f"telemetry-{name}.json").read_text())["events"]
    return events


def iso(moment: datetime) -> str:
    """The extension's timestamp format."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def file_save(
    session_id: str = SESSION_A, ts: str = "2026-05-14T09:12:08.829Z", **extra: Any
) -> dict[str, Any]:
    """A valid ``file_save`` event."""
    event: dict[str, Any] = {
        "type": "file_save",
        "timestamp": ts,
        "workspace": "acme-web",
        "file": {
            "name": "api.ts",
            "path": "src/api.ts",
            "absolute_path": "/home/dev/acme-web/src/api.ts",
            "extension": ".ts",
            "language": "typescript",
            "workspace": "acme-web",
            "lines": 10,
            "size_bytes": 200,
        },
        "session_id": session_id,
    }
    event.update(extra)
    return event


def lake_sql(client: TestClient[Any], sql: str) -> list[tuple[Any, ...]]:
    """Flush the app's writer, then run SQL over fresh lake views (``events`` de-duplicated,
    ``events_all``, ``quarantine``)."""
    services = services_of(client)
    assert services.writer is not None
    services.writer.flush()
    con: duckdb.DuckDBPyConnection = connect_lake(services.lake)
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()


def post(client: TestClient[Any], headers: dict[str, str], body: Any) -> Any:
    """POST a JSON body to /telemetry; return the response."""
    return client.post(
        "/api/v1/telemetry", content=json.dumps(body), headers={**headers, "Content-Type": "application/json"}
    )


def now_plus(delta: timedelta) -> str:
    """An extension-format timestamp relative to the real clock."""
    return iso(datetime.now(UTC) + delta)


_DELETE = object()
REPLACEMENTS: tuple[Any, ...] = (
    _DELETE, None, "", "x", 0, 1, -1, 1.0, 1.5, True, False, [], {}, [{"start": 1}], 2**63, -(2**63) - 1,
)  # fmt: skip


def all_vector_events() -> list[dict[str, Any]]:
    """The events of every ``tests/vectors/telemetry-*.json``, in file order."""
    names = sorted({path.stem.removeprefix("telemetry-") for path in VECTORS.glob("telemetry-*.json")})
    events: list[dict[str, Any]] = []
    for name in names:
        events += vector_events(name)
    return events


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path of a JSON value (objects and lists, leaves included)."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield (*prefix, i)
            yield from _paths(child, (*prefix, i))


def _mutated(event: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(event)
    target: Any = out
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        if isinstance(target, list):
            del target[path[-1]]
        else:
            target.pop(path[-1])
    else:
        target[path[-1]] = value
    return out


def field_variants() -> list[Any]:
    """Every vector event, and each with every field in turn removed, nulled or set to another JSON
    value (plus a few non-objects): the inputs both validation paths must agree on."""
    events = all_vector_events()
    assert len(events) >= 6
    variants: list[Any] = [*events, None, 5, "event", [], {}]
    for event in events:
        for path in _paths(event):
            for value in REPLACEMENTS:
                variants.append(_mutated(event, path, value))
        for parent in ("file", "metrics", "from", "to", "debug", "terminal", "git"):
            variants.append({**copy.deepcopy(event), parent: {"path": "p", "unexpected": 1}})
    return variants
