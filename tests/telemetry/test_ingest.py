"""``POST /api/v1/telemetry`` through the real app, real DB and real Parquet lake (contract §3.6, §4).

Checklist items 5, 7 and 74–90 are cited per test; 88 (kill -9) lives in test_crash.py.
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import delete, select, update

from devflow.accounts.models import ApiToken, User
from devflow.config import Settings
from devflow.db.engine import make_engine, make_session_factory
from devflow.lake.storage import LakeUnavailable
from devflow.telemetry.models import Session as TelemetrySession
from tests.conftest import VECTORS
from tests.support.accounts import create_user
from tests.support.lake import services_of
from tests.telemetry.payloads import SESSION_A, file_save, lake_sql, now_plus, post, vector_events

TS = "2026-05-14T09:12:08.829Z"
VECTOR_NAMES = sorted(p.name[len("telemetry-") : -len(".json")] for p in VECTORS.glob("telemetry-*.json"))


def _reasons(response: Any) -> list[tuple[int, str]]:
    body = response.json()
    return [(item["index"], item["reason"]) for item in body["rejected"]]


def test_every_vector_is_accepted_and_read_back_intact(client: TestClient[Any], settings: Settings) -> None:
    """#74 each client payload sample → 202, accepted_count = events.length, nothing rejected; every
    event is in the lake (DuckDB) with its raw JSON and typed columns intact."""
    user = create_user(settings)
    sent: list[dict[str, Any]] = []
    for name in VECTOR_NAMES:
        body = (VECTORS / f"telemetry-{name}.json").read_bytes()
        events = json.loads(body)["events"]
        response = client.post(
            "/api/v1/telemetry",
            content=body,
            headers={**user.token_headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 202, (name, response.text)
        assert response.json() == {
            "message": "Telemetry accepted",
            "accepted_count": len(events),
            "rejected_count": 0,
            "rejected": [],
        }
        sent += events
    rows = lake_sql(
        client,
        "SELECT raw, user_id, session_id, type, strftime(timestamp, '%Y-%m-%dT%H:%M:%S.%g'), workspace,"
        " file_path, file_lines, characters_added, affected_line_ranges, is_large_paste, from_file,"
        " to_module,"
        " switch_interval_seconds, is_rapid_context_switching, debug_type, terminal_shell_type,"
        " git_changed_files_count, git_branch, fingerprint, date FROM events_all",
    )
    assert len(rows) == len(sent)
    by_raw = {json.dumps(json.loads(r[0]), sort_keys=True): r for r in rows}
    for event in sent:
        canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        row = by_raw[json.dumps(event, sort_keys=True)]
        assert json.loads(row[0]) == event  # raw: every key, unknown ones included
        assert row[1] == str(user.id)
        assert row[2] == event["session_id"].lower()
        assert row[3] == event["type"]
        assert row[4] + "Z" == event["timestamp"]  # all vectors use the extension's UTC format
        assert row[5] == event["workspace"]
        assert row[6] == event.get("file", {}).get("path")
        assert row[7] == event.get("file", {}).get("lines")
        metrics = event.get("metrics", {})
        assert row[8] == metrics.get("characters_added")
        assert row[9] == metrics.get("affected_line_ranges")
        assert row[10] == metrics.get("is_large_paste")
        assert row[11] == (event.get("from") or {}).get("file")
        assert row[12] == (event.get("to") or {}).get("module")
        assert row[13] == metrics.get("switch_interval_seconds")
        assert row[14] == metrics.get("is_rapid_context_switching")
        assert row[15] == event.get("debug", {}).get("type")
        assert row[16] == event.get("terminal", {}).get("shell_type")
        assert row[17] == event.get("git", {}).get("changed_files_count")
        assert row[18] == event.get("git", {}).get("branch")
        assert row[19] == hashlib.sha256(canonical.encode()).hexdigest()  # §4.7
        assert row[20].isoformat() == event["timestamp"][:10]  # Hive partition = UTC date


def test_body_not_an_object(client: TestClient[Any], settings: Settings) -> None:
    """#75 ``[]`` (and other non-objects, or an absent body) → 400 body must be a JSON object."""
    user = create_user(settings)
    expected = {"error": "Validation failed", "message": "body must be a JSON object"}
    for body in ([], "x", None, 5):
        assert post(client, user.token_headers, body).json() == expected
    for headers in ({}, {"Content-Type": "text/plain"}):
        response = client.post(
            "/api/v1/telemetry", content=b'{"events":[1]}', headers={**user.token_headers, **headers}
        )
        assert (response.status_code, response.json()) == (400, expected)
    empty = client.post(
        "/api/v1/telemetry", content=b"", headers={**user.token_headers, "Content-Type": "application/json"}
    )
    assert (empty.status_code, empty.json()) == (400, expected)


def test_events_missing_or_empty(client: TestClient[Any], settings: Settings) -> None:
    """#76 ``{}``, ``{"events":[]}``, non-array events → 400 events must be a non-empty array."""
    user = create_user(settings)
    for body in ({}, {"events": []}, {"events": None}, {"events": {"a": 1}}, {"events": "x"}):
        response = post(client, user.token_headers, body)
        assert response.status_code == 400
        assert response.json() == {
            "error": "Validation failed",
            "message": "events must be a non-empty array",
        }


def test_invalid_json_and_auth_order(client: TestClient[Any], settings: Settings) -> None:
    """#89 no credential with an invalid body → 401; a revoked token → 401. #5 and §3.6 order: bad
    JSON with a valid credential → 400 Invalid JSON, even when it starts like an array."""
    user = create_user(settings)
    headers = {"Content-Type": "application/json"}
    assert client.post("/api/v1/telemetry", content=b"{", headers=headers).status_code == 401
    for bad in (b"{", b"[1,", b'{"events":[1,}', b"\xff\xfe"):
        response = client.post("/api/v1/telemetry", content=bad, headers={**user.token_headers, **headers})
        assert (response.status_code, response.json()) == (400, {"error": "Invalid JSON"})
    engine = make_engine(settings.database_url)
    with make_session_factory(engine).begin() as tx:
        tx.execute(update(ApiToken).where(ApiToken.user_id == user.id).values(revoked_at=datetime.now(UTC)))
    engine.dispose()
    response = post(client, user.token_headers, {"events": [file_save()]})
    assert (response.status_code, response.json()) == (401, {"error": "Unauthorized"})


def test_without_top_level_fields_and_trailing_slash(client: TestClient[Any], settings: Settings) -> None:
    """#77 no top-level workspace/machine_timestamp/session → 202, all accepted; wrongly typed ones
    are ignored too; ``/telemetry/`` is the same route (§1.1)."""
    user = create_user(settings)
    events = vector_events("file_save")
    assert post(client, user.jwt_headers, {"events": events}).json()["accepted_count"] == len(events)
    odd = {"workspace": 5, "machine_timestamp": [], "session": "x", "events": events}
    assert post(client, user.jwt_headers, odd).json()["accepted_count"] == len(events)
    response = client.post("/api/v1/telemetry/", json={"events": events}, headers=user.jwt_headers)
    assert response.status_code == 202


def test_poison_batch(client: TestClient[Any], settings: Settings) -> None:
    """#78 three events, index 1 of type ``session_start`` → 202 2/1; quarantined, not stored."""
    user = create_user(settings)
    events = vector_events("mixed")[:3]
    events[1]["type"] = "session_start"
    response = post(client, user.token_headers, {"events": events})
    assert response.status_code == 202
    assert response.json() == {
        "message": "Telemetry accepted",
        "accepted_count": 2,
        "rejected_count": 1,
        "rejected": [{"index": 1, "reason": "unknown_type"}],
    }
    assert lake_sql(client, "SELECT batch_index FROM events ORDER BY 1") == [(0,), (2,)]
    quarantined = lake_sql(client, "SELECT user_id, batch_index, reason, raw FROM quarantine")
    assert len(quarantined) == 1
    assert quarantined[0][:3] == (str(user.id), 1, "unknown_type")
    assert json.loads(quarantined[0][3]) == events[1]


def test_timestamps(client: TestClient[Any], settings: Settings) -> None:
    """#79 no zone / Feb 30 → invalid_timestamp; now+2h → timestamp_in_future; now+30min and a
    +02:00 offset → accepted. #102 ``23:30-02:00`` is stored on the next UTC day."""
    user = create_user(settings)
    cases = [
        ("2026-05-12T10:00:00", "invalid_timestamp"),
        ("2026-02-30T10:00:00Z", "invalid_timestamp"),
        ("2026-05-12T10:00:60Z", "invalid_timestamp"),
        ("2026-05-12 10:00:00Z", "invalid_timestamp"),
        (now_plus(timedelta(hours=2)), "timestamp_in_future"),
        (now_plus(timedelta(minutes=30)), None),
        ("2026-05-12T10:00:00+02:00", None),
        ("2026-05-12T23:30:00-02:00", None),
        ("2026-05-12T10:00:00.123456789Z", None),
        ("2026-05-12t10:00:00z", None),
    ]
    events: list[Any] = [file_save(ts=ts) for ts, _ in cases] + [file_save(ts=5)]
    response = post(client, user.token_headers, {"events": events})
    expected = [(i, reason) for i, (_, reason) in enumerate(cases) if reason] + [
        (len(cases), "invalid_timestamp")
    ]
    assert _reasons(response) == expected
    stored = dict(
        lake_sql(
            client,
            "SELECT batch_index, strftime(timestamp, '%Y-%m-%d %H:%M:%S.%f') || '|' || date FROM events",
        )
    )
    assert stored[6] == "2026-05-12 08:00:00.000000|2026-05-12"
    assert stored[7] == "2026-05-13 01:30:00.000000|2026-05-13"
    assert stored[8] == "2026-05-12 10:00:00.123456|2026-05-12"


def test_session_id(client: TestClient[Any], settings: Settings) -> None:
    """#80 ``"abc"`` or missing session_id → invalid_session_id; upper-case UUIDs are stored lower-case."""
    user = create_user(settings)
    missing = file_save()
    del missing["session_id"]
    upper = file_save(session_id=SESSION_A.upper())
    response = post(
        client,
        user.token_headers,
        {"events": [file_save(session_id="abc"), missing, upper, file_save(session_id=5)]},
    )
    assert _reasons(response) == [
        (0, "invalid_session_id"),
        (1, "invalid_session_id"),
        (3, "invalid_session_id"),
    ]
    assert lake_sql(client, "SELECT session_id FROM events") == [(SESSION_A,)]


def test_required_fields(client: TestClient[Any], settings: Settings) -> None:
    """#81 text_change without metrics.is_large_paste, file_save without file.path; #101 editor_switch
    without is_rapid_context_switching; #126 missing or non-object containers by their own path; the
    §4.6 order and reason paths for the other checks."""
    user = create_user(settings)
    text_change = vector_events("text_change")[0]
    switch = vector_events("editor_switch")[0]
    git = vector_events("git_activity")[0]

    def variant(base: dict[str, Any], path: str, value: Any = ...) -> dict[str, Any]:
        event = copy.deepcopy(base)
        *parents, key = path.split(".")
        target = event
        for parent in parents:
            target = target[parent]
        if value is ...:
            del target[key]
        else:
            target[key] = value
        return event

    cases: list[tuple[Any, str]] = [
        (variant(text_change, "metrics.is_large_paste"), "missing_field:metrics.is_large_paste"),
        (variant(file_save(), "file.path"), "missing_field:file.path"),
        (
            variant(switch, "metrics.is_rapid_context_switching"),
            "missing_field:metrics.is_rapid_context_switching",
        ),
        (variant(text_change, "metrics.is_large_paste", None), "missing_field:metrics.is_large_paste"),
        (variant(text_change, "metrics.is_large_paste", 1), "invalid_field:metrics.is_large_paste"),
        (variant(text_change, "metrics.characters_added", 1.5), "invalid_field:metrics.characters_added"),
        (variant(text_change, "metrics.characters_added", "1"), "invalid_field:metrics.characters_added"),
        (variant(text_change, "metrics.characters_added", True), "invalid_field:metrics.characters_added"),
        (variant(text_change, "metrics.characters_added", 2**63), "invalid_field:metrics.characters_added"),
        (variant(text_change, "metrics.characters_added", 10**30), "invalid_field:metrics.characters_added"),
        (
            variant(text_change, "metrics.affected_line_ranges", [{"start": 1, "end": 1.5}]),
            "invalid_field:metrics.affected_line_ranges[0].end",
        ),
        (
            variant(text_change, "metrics.affected_line_ranges", [{"start": 1, "end": 2}, {"end": 3}]),
            "missing_field:metrics.affected_line_ranges[1].start",
        ),
        (
            variant(text_change, "metrics.affected_line_ranges", [7]),
            "invalid_field:metrics.affected_line_ranges[0]",
        ),
        # contract 1.1 (#126): a required container is reported by its own path
        (variant(text_change, "metrics"), "missing_field:metrics"),
        (variant(text_change, "metrics", None), "missing_field:metrics"),
        (variant(text_change, "metrics", 5), "invalid_field:metrics"),
        (variant(text_change, "metrics", [1]), "invalid_field:metrics"),
        (variant(file_save(), "file", "x"), "invalid_field:file"),
        (variant(file_save(), "file"), "missing_field:file"),
        (variant(switch, "metrics"), "missing_field:metrics"),
        (variant(text_change, "file.lines", 0), "invalid_field:file.lines"),
        (variant(text_change, "file.language", 3), "invalid_field:file.language"),
        (variant(text_change, "workspace"), "missing_field:workspace"),
        (variant(text_change, "workspace", 3), "invalid_field:workspace"),
        # check 6 (workspace) comes before check 7 (type-specific fields)
        (variant(variant(text_change, "workspace"), "metrics"), "missing_field:workspace"),
        # required (check 7) before optional (check 8)
        (
            variant(variant(text_change, "file.language", 3), "metrics.change_count"),
            "missing_field:metrics.change_count",
        ),
        (
            variant(switch, "metrics.switch_interval_seconds", "8"),
            "invalid_field:metrics.switch_interval_seconds",
        ),
        (variant(switch, "from", "x"), "invalid_field:from"),
        (variant(switch, "to.module", 5), "invalid_field:to.module"),
        (variant(git, "git.changed_files_count", -1), "invalid_field:git.changed_files_count"),
        (variant(git, "git"), "missing_field:git"),
        (variant(git, "git", 5), "invalid_field:git"),
        (variant(git, "git.branch", False), "invalid_field:git.branch"),
        (
            {"type": "terminal_open", "timestamp": TS, "workspace": "w", "session_id": SESSION_A},
            "missing_field:terminal",
        ),
        (
            {
                "type": "debug_session_start",
                "timestamp": TS,
                "workspace": "w",
                "debug": {"name": "x"},
                "session_id": SESSION_A,
            },
            "missing_field:debug.type",
        ),
        ("not an event", "not_an_object"),
        (None, "not_an_object"),
        ({"type": 5, "session_id": "abc"}, "unknown_type"),  # check 2 before check 3
        ({"type": "file_save", "session_id": "abc", "timestamp": "x"}, "invalid_session_id"),
    ]
    response = post(client, user.token_headers, {"events": [event for event, _ in cases]})
    assert response.status_code == 202
    assert _reasons(response) == [(i, reason) for i, (_, reason) in enumerate(cases)]
    assert lake_sql(client, "SELECT count(*) FROM events_all") == [(0,)]
    assert lake_sql(client, "SELECT count(*) FROM quarantine") == [(len(cases),)]


def test_optional_fields(client: TestClient[Any], settings: Settings) -> None:
    """#82 git_activity without branch, terminal_open without shell_type, editor_switch without from,
    ``file.extension`` ``""`` → accepted; ``null`` optional fields count as absent; 1.0 is an integer."""
    user = create_user(settings)
    git = vector_events("git_activity")[0]
    git["git"].pop("branch", None)
    terminal = vector_events("terminal_open")[0]
    terminal["terminal"].pop("shell_type", None)
    switch = vector_events("editor_switch")[0]
    switch.pop("from", None)
    saved = file_save()
    saved["file"]["extension"] = ""
    nulls = file_save()
    nulls["file"].update({"language": None, "lines": None})
    switch_null = vector_events("editor_switch")[1]
    switch_null["from"] = None
    whole = vector_events("text_change")[0]
    whole["metrics"]["characters_added"] = 1.0
    events = [git, terminal, switch, saved, nulls, switch_null, whole]
    response = post(client, user.token_headers, {"events": events})
    assert response.json()["accepted_count"] == len(events), response.text
    rows = lake_sql(
        client, "SELECT batch_index, git_branch, terminal_shell_type, from_file, file_extension FROM events"
    )
    assert sorted(rows)[:4] == [(0, None, None, None, None), (1, None, None, None, None),
                                (2, None, None, None, None), (3, None, None, None, "")]  # fmt: skip
    assert lake_sql(client, "SELECT characters_added FROM events WHERE batch_index = 6") == [(1,)]


def test_session_ownership_conflict(client: TestClient[Any], settings: Settings) -> None:
    """#83 A posts B's session_id plus a new session → 202; A's events for B's session are rejected
    with session_ownership_conflict, the rest is stored, and B's session is unchanged."""
    alice, bob = create_user(settings), create_user(settings)
    bob_session = str(uuid.uuid4())
    assert (
        post(
            client, bob.token_headers, {"events": [file_save(bob_session, "2026-05-14T10:00:00.000Z")]}
        ).status_code
        == 202
    )
    alice_session = str(uuid.uuid4())
    events = [
        file_save(alice_session, "2026-05-14T10:01:00.000Z"),
        file_save(bob_session, "2026-05-14T08:00:00.000Z"),
        file_save(alice_session, "2026-05-14T10:02:00.000Z"),
        file_save(bob_session.upper(), "2026-05-14T12:00:00.000Z"),
    ]
    response = post(client, alice.token_headers, {"events": events})
    assert response.status_code == 202
    assert response.json()["accepted_count"] == 2
    assert _reasons(response) == [(1, "session_ownership_conflict"), (3, "session_ownership_conflict")]
    engine = make_engine(settings.database_url)
    with make_session_factory(engine)() as db:
        bob_row = db.get(TelemetrySession, uuid.UUID(bob_session))
        alice_row = db.get(TelemetrySession, uuid.UUID(alice_session))
    engine.dispose()
    assert bob_row is not None and alice_row is not None
    assert bob_row.user_id == bob.id and alice_row.user_id == alice.id
    assert (bob_row.start_time, bob_row.last_event_at) == (datetime(2026, 5, 14, 10, tzinfo=UTC),) * 2
    stored = lake_sql(client, "SELECT user_id, session_id, count(*) FROM events GROUP BY ALL ORDER BY 1, 2")
    assert sorted(stored) == sorted([(str(bob.id), bob_session, 1), (str(alice.id), alice_session, 2)])
    reasons = lake_sql(client, "SELECT user_id, batch_index, reason FROM quarantine ORDER BY 2")
    assert reasons == [
        (str(alice.id), 1, "session_ownership_conflict"),
        (str(alice.id), 3, "session_ownership_conflict"),
    ]


def test_rejected_list_capped(client: TestClient[Any], settings: Settings) -> None:
    """#84 150 invalid events + 1 valid → rejected_count 150, 100 entries in ascending order, 1 accepted."""
    user = create_user(settings)
    events: list[Any] = [{"type": "nope"}] * 150 + [file_save()]
    body = post(client, user.token_headers, {"events": events}).json()
    assert (body["accepted_count"], body["rejected_count"], len(body["rejected"])) == (1, 150, 100)
    assert [item["index"] for item in body["rejected"]] == list(range(100))
    assert lake_sql(client, "SELECT count(*) FROM quarantine") == [(150,)]


def test_large_batches(client: TestClient[Any], settings: Settings) -> None:
    """#85 5,000 text_change events (~3.5 MB) → 202; 10,000 → 202; 10,001 → 413 with its message.
    Bodies over 1 MiB are accepted on this route; over 16 MiB → 413."""
    user = create_user(settings)
    template = vector_events("text_change")[0]
    start = datetime(2026, 5, 14, 9, tzinfo=UTC)

    def batch(n: int) -> list[dict[str, Any]]:
        events = []
        for i in range(n):
            event = copy.deepcopy(template)
            event["timestamp"] = (start + timedelta(milliseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%f")[
                :-3
            ] + "Z"
            events.append(event)
        return events

    body = json.dumps({"events": batch(5000)}).encode()
    assert len(body) > 1024 * 1024
    response = client.post(
        "/api/v1/telemetry", content=body, headers={**user.token_headers, "Content-Type": "application/json"}
    )
    assert (response.status_code, response.json()["accepted_count"]) == (202, 5000)
    assert post(client, user.token_headers, {"events": batch(10_000)}).json()["accepted_count"] == 10_000
    too_many = post(client, user.token_headers, {"events": [1] * 10_001})
    assert (too_many.status_code, too_many.json()) == (
        413,
        {"error": "Payload too large", "message": "events must contain at most 10000 items"},
    )
    assert lake_sql(client, "SELECT count(*) FROM events") == [(10_000,)]  # the 5,000 are a subset


def test_body_limits(client: TestClient[Any], settings: Settings) -> None:
    """#5 ``{"events":[`` → 400 Invalid JSON. #7 a 17 MiB body → 413; a 15 MiB valid batch → 202
    (the route's limit is 16 MiB, not the 1 MiB default)."""
    user = create_user(settings)
    headers = {**user.token_headers, "Content-Type": "application/json"}
    response = client.post("/api/v1/telemetry", content=b'{"events":[', headers=headers)
    assert (response.status_code, response.json()) == (400, {"error": "Invalid JSON"})
    huge = b'{"events":["' + b"x" * (17 * 1024 * 1024) + b'"]}'
    response = client.post("/api/v1/telemetry", content=huge, headers=headers)
    assert (response.status_code, response.json()) == (413, {"error": "Payload too large"})
    events = []
    for i in range(100):
        event = file_save(ts=f"2026-05-14T09:00:{i % 60:02d}.{i:03d}Z")
        event["blob"] = "y" * (155 * 1024)  # unknown key: kept in raw
        events.append(event)
    body = json.dumps({"events": events}).encode()
    assert 15 * 1024 * 1024 <= len(body) < 16 * 1024 * 1024
    response = client.post("/api/v1/telemetry", content=body, headers=headers)
    assert (response.status_code, response.json()["accepted_count"]) == (202, 100)


def test_resend_is_deduplicated(client: TestClient[Any], settings: Settings) -> None:
    """#86 the same batch twice → both 202 with the same accepted_count; the de-duplicated view holds
    each event once (the first copy), duplicates inside one batch collapse too."""
    user = create_user(settings)
    events = vector_events("mixed")
    first = post(client, user.token_headers, {"events": events}).json()
    second = post(client, user.token_headers, {"events": events}).json()
    assert first["accepted_count"] == second["accepted_count"] == len(events)
    distinct = len({json.dumps(e, sort_keys=True) for e in events})
    assert lake_sql(client, "SELECT count(*) FROM events") == [(distinct,)]
    assert lake_sql(client, "SELECT count(*) FROM events_all") == [(2 * len(events),)]
    # the kept copy is the first one in ingestion order
    assert lake_sql(client, "SELECT count(DISTINCT batch_id) FROM events") == [(1,)]
    post(client, user.token_headers, {"events": events + events[:3]})
    assert lake_sql(client, "SELECT count(*) FROM events") == [(distinct,)]


def test_session_span_widens(client: TestClient[Any], settings: Settings) -> None:
    """#87 batch 1: S at 10:00 and 10:05; batch 2: S at 09:50 and 10:20 → start 09:50, last 10:20;
    a later batch inside the span changes nothing."""
    user = create_user(settings)
    sid = str(uuid.uuid4())
    for stamps in (("10:00", "10:05"), ("09:50", "10:20"), ("10:01", "10:02")):
        events = [file_save(sid, f"2026-05-14T{hm}:00.000Z") for hm in stamps]
        assert post(client, user.token_headers, {"events": events}).status_code == 202
    engine = make_engine(settings.database_url)
    with make_session_factory(engine)() as db:
        row = db.execute(select(TelemetrySession).where(TelemetrySession.id == uuid.UUID(sid))).scalar_one()
    engine.dispose()
    assert row.user_id == user.id
    assert row.start_time == datetime(2026, 5, 14, 9, 50, tzinfo=UTC)
    assert row.last_event_at == datetime(2026, 5, 14, 10, 20, tzinfo=UTC)


def test_unknown_keys_preserved(client: TestClient[Any], settings: Settings) -> None:
    """#90 an extra key (``metrics.focus_duration_ms``) → accepted and kept in the stored raw event;
    non-ASCII text round-trips, and the fingerprint is §4.7's even with floats."""
    user = create_user(settings)
    event = vector_events("text_change")[0]
    event["metrics"]["focus_duration_ms"] = 1234
    event["future_field"] = {"nested": [1, 2.5, 1e-05, "ünï ✓ 😀"]}
    event["file"]["path"] = "src/Überschrift 😀.tsx"
    assert post(client, user.token_headers, {"events": [event]}).json()["accepted_count"] == 1
    [(raw, fp, path)] = lake_sql(client, "SELECT raw, fingerprint, file_path FROM events")
    assert json.loads(raw) == event
    assert json.loads(raw)["metrics"]["focus_duration_ms"] == 1234
    assert path == "src/Überschrift 😀.tsx"
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert fp == hashlib.sha256(canonical.encode()).hexdigest()


def test_deleted_user_jwt_404(client: TestClient[Any], settings: Settings) -> None:
    """§3.6 step 6: a JWT caller whose user row is gone → 404 User not found (after the body checks,
    which come first); nothing is stored."""
    user = create_user(settings)
    engine = make_engine(settings.database_url)
    with make_session_factory(engine).begin() as tx:
        tx.execute(delete(User).where(User.id == user.id))
    engine.dispose()
    assert post(client, user.jwt_headers, {}).status_code == 400
    response = post(client, user.jwt_headers, {"events": [file_save()]})
    assert (response.status_code, response.json()) == (404, {"error": "User not found"})
    assert lake_sql(client, "SELECT count(*) FROM events_all") == [(0,)]


@pytest.mark.parametrize("origin", ["http://localhost:5173"])
def test_errors_and_202_carry_cors(client: TestClient[Any], settings: Settings, origin: str) -> None:
    """Every telemetry answer (202 and errors) is JSON with the contract's CORS headers (§1.6)."""
    user = create_user(settings)
    for body, status in (({"events": [file_save()]}, 202), ([], 400)):
        response = post(client, {**user.token_headers, "Origin": origin}, body)
        assert response.status_code == status
        assert response.headers["access-control-allow-origin"] == origin
        assert response.headers["content-type"].startswith("application/json")


def test_lake_outage_answers_503_and_loses_nothing(make_client: Any, settings: Settings) -> None:
    """When the lake keeps failing, acknowledged batches wait in the spool; once the backlog is full
    the route answers 503 (the client resends) instead of buffering without bound; after the lake
    recovers every acknowledged event reaches it."""
    client = make_client(DEVFLOW_LAKE_FLUSH_MAX_BYTES="2000", DEVFLOW_LAKE_FLUSH_SECONDS="10")
    user = create_user(settings)
    services = services_of(client)
    assert services.writer is not None
    blocker = Path(services.lake.full_path("events"))
    if blocker.exists():
        blocker.rmdir()
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a folder")  # every Parquet write under events/ now fails
    events = vector_events("mixed")
    assert post(client, user.token_headers, {"events": events}).status_code == 202  # durable in the spool
    with pytest.raises(LakeUnavailable):
        services.writer.flush()
    response = post(client, user.token_headers, {"events": events})
    assert (response.status_code, response.json()) == (503, {"error": "Service unavailable"})
    assert "retry-after" in response.headers
    blocker.unlink()
    services.writer.flush()
    assert post(client, user.token_headers, {"events": events}).status_code == 202
    assert lake_sql(client, "SELECT count(*) FROM events_all") == [(2 * len(events),)]
