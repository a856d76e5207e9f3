"""Contract §6.1–6.4 through the real API: the worked-example table for both line definitions,
ratios, exact top files, UTC buckets, session grain (checklist 96–98, 100–104)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient

from devflow.app import create_app
from devflow.config import Settings
from devflow.lake.storage import LakeStorage
from devflow.telemetry import EVENT_TYPES
from tests.metrics.events import (
    churn,
    editor_switch,
    file_save,
    run_etl_until_idle,
    send,
    switching,
    text_change,
)
from tests.support.accounts import TestUser, create_user

# (label, ranges, before, after, chars added, chars deleted, line-delta +/-, typing-heuristic +/-)
WORKED_EXAMPLES = [
    ("type one character", [(42, 42)], 88, 88, 1, 0, (0, 0), (1, 0)),
    ("press Enter", [(58, 58)], 142, 143, 5, 0, (1, 0), (1, 0)),
    ("paste 214 chars (6 lines)", [(42, 42)], 88, 94, 214, 0, (6, 0), (1, 0)),
    ("undo that paste", [(42, 48)], 94, 88, 0, 214, (0, 6), (0, 7)),
    ("paste 50 lines", [(10, 10)], 100, 150, 2100, 0, (50, 0), (1, 0)),
    ("replace lines 5-7 with 3 lines", [(5, 7)], 100, 100, 90, 80, (2, 2), (3, 3)),
    ("3-cursor edit", [(14, 14), (37, 37), (61, 61)], 120, 120, 27, 21, (0, 0), (3, 3)),
]

NO_EVENTS = dict.fromkeys(EVENT_TYPES, 0)


def _client(make_settings: Callable[..., Settings], admin: TestUser, **env: str) -> TestClient[Any]:
    return TestClient(
        app=create_app(make_settings(ADMIN_USER_IDS=str(admin.id), **env)), raise_server_exceptions=False
    )


def _session_totals(client: TestClient[Any], user: TestUser, query: str) -> dict[str, tuple[int, int]]:
    body = churn(client, user, query + "&grain=session")
    return {s["session_id"]: (s["total_lines_added"], s["total_lines_deleted"]) for s in body["sessions"]}


def test_worked_examples_of_6_1_for_both_definitions(make_settings: Callable[..., Settings]) -> None:
    """Every row of the §6.1 table, each in its own session, after a file_save giving `before`."""
    settings = make_settings()
    user = create_user(settings)
    sessions: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {}
    events = []
    for i, (_, ranges, before, after, added, deleted, delta, typing) in enumerate(WORKED_EXAMPLES):
        sid = str(uuid.uuid4())
        sessions[sid] = (delta, typing)
        events.append(file_save(f"2026-05-14T10:{i:02d}:00.000Z", sid, "src/app.ts", before))
        events.append(
            text_change(f"2026-05-14T10:{i:02d}:01.000Z", sid, "src/app.ts", after, ranges, added, deleted)
        )
    with _client(make_settings, user) as client:
        send(client, user, events)
        run_etl_until_idle(client, user)
        got = _session_totals(client, user, "from=2026-05-14&to=2026-05-14")
        assert got == {sid: delta for sid, (delta, _) in sessions.items()}
        assert churn(client, user, "from=2026-05-14&to=2026-05-14")["definition"] == "line-delta"
    with _client(make_settings, user, METRICS_LINE_COUNTING="typing-heuristic") as client:
        # Before the next pass, reads serve the stored (line-delta) figures, never zeros.
        got = _session_totals(client, user, "from=2026-05-14&to=2026-05-14")
        assert got == {sid: delta for sid, (delta, _) in sessions.items()}
        before = churn(client, user, "from=2026-05-14&to=2026-05-14")
        assert before["total_lines_added"] == sum(d[0] for d, _ in sessions.values()) > 0
        run_etl_until_idle(client, user)  # the definition changed: everything is recomputed
        got = _session_totals(client, user, "from=2026-05-14&to=2026-05-14")
        assert got == {sid: typing for sid, (_, typing) in sessions.items()}
        body = churn(client, user, "from=2026-05-14&to=2026-05-14")
        assert body["definition"] == "typing-heuristic"
        assert body["total_lines_added"] == sum(t[0] for _, t in sessions.values())


def test_fifty_line_paste_counts_50_under_line_delta_and_2_under_typing(
    make_settings: Callable[..., Settings],
) -> None:
    """Checklist #96."""
    settings = make_settings()
    user = create_user(settings)
    sid = str(uuid.uuid4())
    events = [
        text_change("2026-05-14T09:00:00.000Z", sid, "src/a.ts", 100, [(1, 1)], 1, 0),
        text_change("2026-05-14T09:00:05.000Z", sid, "src/a.ts", 150, [(10, 10)], 2100, 0),
    ]
    with _client(make_settings, user) as client:
        send(client, user, events)
        run_etl_until_idle(client, user)
        body = churn(client, user, "from=2026-05-14&to=2026-05-14")
        assert (body["total_lines_added"], body["definition"]) == (50, "line-delta")
    with _client(make_settings, user, METRICS_LINE_COUNTING="typing-heuristic") as client:
        run_etl_until_idle(client, user)
        body = churn(client, user, "from=2026-05-14&to=2026-05-14")
        assert (body["total_lines_added"], body["definition"]) == (2, "typing-heuristic")


def test_line_delta_baseline_crosses_days_and_ignores_other_files_and_sessions(
    make_settings: Callable[..., Settings],
) -> None:
    """The baseline is the latest earlier event of the same session and file key, even yesterday's;
    a baseline sent in a later batch (out of order) still applies after the ETL catches up."""
    settings = make_settings()
    user = create_user(settings)
    sid, other = str(uuid.uuid4()), str(uuid.uuid4())
    with _client(make_settings, user, METRICS_ETL_BATCH_SIZE="1") as client:
        send(client, user, [text_change("2026-05-14T00:10:00.000Z", sid, "src/a.ts", 130, [(5, 5)], 900, 0)])
        send(client, user, [text_change("2026-05-14T00:05:00.000Z", other, "src/a.ts", 10, [(1, 1)], 900, 0)])
        run_etl_until_idle(client, user)
        assert churn(client, user, "from=2026-05-14&to=2026-05-14")["total_lines_added"] == 0
        # the late baseline: yesterday, same session and file (absolute path is the key)
        send(client, user, [file_save("2026-05-13T23:55:00.000Z", sid, "src/a.ts", 100)])
        run_etl_until_idle(client, user)
        body = churn(client, user, "from=2026-05-13&to=2026-05-14")
        assert [e["lines_added"] for e in body["series"]] == [0, 30]


def test_undo_of_six_line_paste_under_line_delta(make_settings: Callable[..., Settings]) -> None:
    """Checklist #97."""
    settings = make_settings()
    user = create_user(settings)
    sid = str(uuid.uuid4())
    with _client(make_settings, user) as client:
        send(
            client,
            user,
            [
                file_save("2026-05-14T09:00:00.000Z", sid, "src/h.tsx", 94),
                text_change("2026-05-14T09:00:01.000Z", sid, "src/h.tsx", 88, [(42, 48)], 0, 214),
            ],
        )
        run_etl_until_idle(client, user)
        body = churn(client, user, "from=2026-05-14&to=2026-05-14")
        assert (body["total_lines_added"], body["total_lines_deleted"]) == (0, 6)


def test_ratios_capped_at_1_and_per_day(make_settings: Callable[..., Settings]) -> None:
    """Checklist #98."""
    settings = make_settings()
    user = create_user(settings)
    sid = str(uuid.uuid4())
    events = [
        file_save("2026-05-10T09:00:00.000Z", sid, "src/a.ts", 300),
        text_change("2026-05-10T09:00:01.000Z", sid, "src/a.ts", 400, [(1, 1)], 5000, 0),  # +100
        text_change("2026-05-10T09:00:02.000Z", sid, "src/a.ts", 150, [(1, 251)], 0, 9000),  # -250
        file_save("2026-05-11T09:00:00.000Z", sid, "src/b.ts", 300),
        text_change("2026-05-11T09:00:01.000Z", sid, "src/b.ts", 400, [(1, 1)], 5000, 0),  # +100
        text_change("2026-05-11T09:00:02.000Z", sid, "src/b.ts", 360, [(1, 41)], 0, 900),  # -40
    ]
    with _client(make_settings, user) as client:
        send(client, user, events)
        run_etl_until_idle(client, user)
        body = churn(client, user, "from=2026-05-10&to=2026-05-12")
    assert [(e["lines_added"], e["lines_deleted"], e["ratio"]) for e in body["series"]] == [
        (100, 250, 1),
        (100, 40, 0.4),
        (0, 0, None),
    ]
    assert (body["total_lines_added"], body["total_lines_deleted"], body["ratio"]) == (200, 290, 1)


def test_top_files_exact_over_the_range_ties_by_path(make_settings: Callable[..., Settings]) -> None:
    """Checklist #100."""
    settings = make_settings()
    user = create_user(settings)
    events = []
    for day in (10, 11, 12):
        sid = str(uuid.uuid4())
        for f in range(20):
            for k in range(2):
                events.append(
                    editor_switch(f"2026-05-{day}T10:{f:02d}:{k:02d}.000Z", sid, f"d{day}/f{f:02d}.ts")
                )
        events.append(editor_switch(f"2026-05-{day}T11:00:00.000Z", sid, "zz/target.ts"))
    with _client(make_settings, user) as client:
        send(client, user, events)
        run_etl_until_idle(client, user)
        one_day = switching(client, user, "from=2026-05-11&to=2026-05-11&top_n=20")
        assert "zz/target.ts" not in [f["path"] for f in one_day["top_files"]]
        assert len(one_day["top_files"]) == 20
        body = switching(client, user, "from=2026-05-10&to=2026-05-12&top_n=20")
        default = switching(client, user, "from=2026-05-10&to=2026-05-12")
    assert body["top_files"][0] == {"path": "zz/target.ts", "count": 3}
    rest = body["top_files"][1:]
    assert [f["path"] for f in rest] == sorted(f"d{d}/f{f:02d}.ts" for d in (10, 11, 12) for f in range(20))[
        :19
    ]
    assert all(f["count"] == 2 for f in rest)
    assert len(default["top_files"]) == 10 and default["top_files"][0]["path"] == "zz/target.ts"
    assert body["switch_count"] == 123


def test_rapid_flag_and_rejected_switch(make_settings: Callable[..., Settings]) -> None:
    """Checklist #101."""
    settings = make_settings()
    user = create_user(settings)
    sid = str(uuid.uuid4())
    with _client(make_settings, user) as client:
        result = send(
            client,
            user,
            [
                editor_switch("2026-05-14T10:00:00.000Z", sid, "a.ts", rapid=True),
                editor_switch("2026-05-14T10:00:01.000Z", sid, "b.ts", rapid=False),
                editor_switch("2026-05-14T10:00:02.000Z", sid, "c.ts", rapid=None),
                editor_switch("2026-05-14T10:00:03.000Z", sid, "", rapid=False),
            ],
        )
        assert result["rejected"] == [
            {"index": 2, "reason": "missing_field:metrics.is_rapid_context_switching"}
        ]
        run_etl_until_idle(client, user)
        body = switching(client, user, "from=2026-05-14&to=2026-05-14")
    assert (body["switch_count"], body["rapid_switch_count"]) == (3, 1)
    assert body["top_files"] == [{"path": "a.ts", "count": 1}, {"path": "b.ts", "count": 1}]


def test_utc_day_bucket(make_settings: Callable[..., Settings]) -> None:
    """Checklist #102."""
    settings = make_settings()
    user = create_user(settings)
    with _client(make_settings, user) as client:
        send(client, user, [editor_switch("2026-05-12T23:30:00-02:00", str(uuid.uuid4()), "a.ts")])
        run_etl_until_idle(client, user)
        body = switching(client, user, "from=2026-05-12&to=2026-05-13")
    assert [e["switch_count"] for e in body["series"]] == [0, 1]


def test_session_grain_selection_order_and_isolation(make_settings: Callable[..., Settings]) -> None:
    """Checklist #103, #104."""
    settings = make_settings()
    user, other = create_user(settings), create_user(settings)
    s_first, s_same_a, s_same_b = "00000000-0000-4000-8000-000000000001", str(uuid.uuid4()), str(uuid.uuid4())
    s_before, s_saves_only, s_late = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    events = [
        editor_switch("2026-05-10T10:00:00.000Z", s_same_a, "a.ts", rapid=True),
        editor_switch("2026-05-10T10:00:00.000Z", s_same_b, "b.ts"),
        editor_switch("2026-05-10T08:00:00.000Z", s_first, "c.ts"),
        editor_switch("2026-05-12T08:00:00.000Z", s_first, "c.ts"),  # outside the range: still counted
        editor_switch("2026-05-09T23:00:00.000Z", s_before, "d.ts"),  # started before the range
        editor_switch("2026-05-10T01:00:00.000Z", s_before, "d.ts"),
        file_save("2026-05-10T02:00:00.000Z", s_saves_only, "e.ts", 10),  # no text_change/switch
        editor_switch("2026-05-11T23:59:59.999Z", s_late, "f.ts"),
    ]
    with _client(make_settings, user) as client:
        send(client, user, events)
        send(client, other, [editor_switch("2026-05-10T09:00:00.000Z", str(uuid.uuid4()), "x.ts")])
        run_etl_until_idle(client, user)
        body = switching(client, user, "from=2026-05-10&to=2026-05-11&grain=session&top_n=1")
        daily = switching(client, user, "from=2026-05-10&to=2026-05-10")
        theirs = switching(client, other, "from=2026-05-10&to=2026-05-10")
    assert body["grain"] == "session" and set(body) == {"sessions", "definition", "from", "to", "grain"}
    same = sorted([s_same_a, s_same_b])
    assert [s["session_id"] for s in body["sessions"]] == [s_first, *same, s_late]
    first = body["sessions"][0]
    assert first == {
        "session_id": s_first,
        "switch_count": 2,
        "rapid_switch_count": 0,
        "top_files": [{"path": "c.ts", "count": 2}],
        # Contract 1.1's additive session fields: two days apart, so no active time.
        "started_at": "2026-05-10T08:00:00.000Z",
        "ended_at": "2026-05-12T08:00:00.000Z",
        "duration_seconds": 172800.0,
        "active_seconds": 0.0,
        "event_counts": {**NO_EVENTS, "editor_switch": 2},
    }
    assert daily["switch_count"] == 4  # s_first, both same-time sessions, s_before's 01:00 switch
    assert theirs["switch_count"] == 1 and theirs["top_files"] == [{"path": "x.ts", "count": 1}]


@pytest.mark.parametrize("definition", ["line-delta", "typing-heuristic"])
def test_session_grain_churn_covers_all_days(make_settings: Callable[..., Settings], definition: str) -> None:
    settings = make_settings()
    user = create_user(settings)
    sid = str(uuid.uuid4())
    events = [
        file_save("2026-05-10T23:59:00.000Z", sid, "src/a.ts", 10),
        text_change("2026-05-11T00:01:00.000Z", sid, "src/a.ts", 14, [(3, 3)], 80, 0),
        text_change("2026-05-11T00:02:00.000Z", sid, "src/a.ts", 12, [(3, 5)], 0, 30),
    ]
    with _client(make_settings, user, METRICS_LINE_COUNTING=definition) as client:
        send(client, user, events)
        run_etl_until_idle(client, user)
        body = churn(client, user, "from=2026-05-10&to=2026-05-10&grain=session")
    expected = (4, 2) if definition == "line-delta" else (1, 3)
    assert body["sessions"] == [
        {
            "session_id": sid,
            "ratio": expected[1] / expected[0] if expected[1] < expected[0] else 1,
            "total_lines_added": expected[0],
            "total_lines_deleted": expected[1],
            # Gaps of 2 and 1 minutes: all of the session is active time.
            "started_at": "2026-05-10T23:59:00.000Z",
            "ended_at": "2026-05-11T00:02:00.000Z",
            "duration_seconds": 180.0,
            "active_seconds": 180.0,
            "event_counts": {**NO_EVENTS, "file_save": 1, "text_change": 2},
        }
    ]


def test_a_changed_coding_gap_rebuilds_the_partitions(make_settings: Callable[..., Settings]) -> None:
    """The partitions record the coding-time gap: a pass under another gap recomputes everything."""
    settings = make_settings()
    user = create_user(settings)
    sid = str(uuid.uuid4())
    events = [
        file_save("2026-05-14T10:00:00.000Z", sid, "src/app.ts", 3),
        file_save("2026-05-14T10:07:00.000Z", sid, "src/app.ts", 3),
    ]
    with _client(make_settings, user) as client:
        send(client, user, events)
        run_etl_until_idle(client, user)
    storage = LakeStorage.from_url(settings.lake_url)
    assert _coded_seconds(storage) == 420.0
    with _client(make_settings, user, CODING_TIME_GAP_MINUTES="5") as client:
        passes = run_etl_until_idle(client, user)
        assert passes[0]["processed_count"] == 0
    assert _coded_seconds(storage) == 0.0  # 7 minutes is now a break


def _coded_seconds(storage: LakeStorage) -> float:
    return sum(
        float(sum(storage.read_table(f.path)["seconds"].to_pylist()))
        for f in storage.list_parquet("metrics_coding_time")
    )
