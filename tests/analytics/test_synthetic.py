"""The synthetic generator: extension-shaped events (contract §4) with a consistent rhythm."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar.testing import TestClient

from devflow.analytics.synthetic import (
    LONG_SESSION,
    PLANTED_PERSONAS,
    RAPID_MIN_SWITCHES,
    RAPID_WINDOW_MS,
    REGULAR,
    SESSION_IDLE_ROTATION_MS,
    VERY_LONG_SESSION,
    SyntheticDataset,
    SyntheticSpec,
    extension_batches,
    generate,
    generate_user_day,
    plan_users,
)
from devflow.analytics.synthetic.schedule import DAY_START_JITTER_HOURS
from devflow.analytics.synthetic.users import MIN_REGULAR_USERS
from devflow.config import Settings
from tests.analytics.synthetic_sessions import observed_sessions
from tests.support.accounts import create_user

SPEC = SyntheticSpec(users=12, days=6, seed=11, end_date=date(2026, 5, 14))
#: A population month: enough sessions for the tails of the session-length distribution.
MONTH = SyntheticSpec(users=30, days=30, seed=2, end_date=date(2026, 5, 14))

BASE_KEYS = ("type", "timestamp", "workspace")
FILE_KEYS = ["name", "path", "absolute_path", "extension", "language", "workspace", "lines", "size_bytes"]
TEXT_METRIC_KEYS = [
    "characters_added",
    "characters_deleted",
    "change_count",
    "affected_line_ranges",
    "edit_duration_ms",
    "is_large_paste",
    "is_possible_rewrite",
    "is_possible_undo_cycle",
]


@pytest.fixture(scope="module")
def dataset() -> SyntheticDataset:
    return generate(SPEC)


@pytest.fixture(scope="module")
def month() -> SyntheticDataset:
    return generate(MONTH)


def _session_minutes(data: SyntheticDataset, persona: str) -> list[float]:
    """Every session's length (last event − first event) of the users with ``persona``."""
    return [
        session.minutes
        for user_day in data.days
        if user_day.user.persona == persona
        for session in observed_sessions(user_day).values()
    ]


def _ms(stamp: str) -> int:
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z")
    return int(moment.timestamp() * 1000)


def test_same_seed_gives_identical_events_and_another_seed_does_not(dataset: SyntheticDataset) -> None:
    again = generate(SPEC)
    assert [u.user_id for u in again.users] == [u.user_id for u in dataset.users]
    assert json.dumps([d.events for d in again.days]) == json.dumps([d.events for d in dataset.days])
    other = generate(SyntheticSpec(users=12, days=6, seed=12, end_date=SPEC.end_date))
    assert json.dumps([d.events for d in other.days]) != json.dumps([d.events for d in dataset.days])


def test_events_have_the_extension_shape_and_key_order(dataset: SyntheticDataset) -> None:
    """§4.2–4.4: base fields first, ``session_id`` last, all eight file keys, no nulls."""
    kinds: set[str] = set()
    for _, event in dataset.events():
        keys = list(event)
        assert tuple(keys[:3]) == BASE_KEYS and keys[-1] == "session_id"
        assert event["timestamp"].endswith("Z") and len(event["timestamp"]) == 24
        assert None not in event.values()
        kinds.add(event["type"])
        if event["type"] in ("text_change", "file_save"):
            assert list(event["file"]) == FILE_KEYS
            assert event["file"]["lines"] >= 1
        if event["type"] == "text_change":
            assert list(event["metrics"]) == TEXT_METRIC_KEYS
            assert event["metrics"]["change_count"] == len(event["metrics"]["affected_line_ranges"]) >= 1
            assert event["metrics"]["is_large_paste"] == (event["metrics"]["characters_added"] > 100)
        if event["type"] == "editor_switch":
            assert set(event["to"]) == {"file", "language", "module"}
            assert set(event["metrics"]) == {
                "switch_interval_seconds",
                "is_cross_module_switch",
                "is_rapid_context_switching",
            }
    assert kinds == {
        "text_change",
        "editor_switch",
        "file_save",
        "debug_session_start",
        "terminal_open",
        "git_activity",
    }


def test_line_counts_follow_the_ranges_so_line_delta_is_exact(dataset: SyntheticDataset) -> None:
    """§6.1: every baseline is consistent (0 ≤ k ≤ characters_added); pastes are ``[l–l]`` with
    lines +k, and their undo is ``[l–l+k]`` with lines −k."""
    pastes = undos = 0
    for user_day in dataset.days:
        baseline: dict[tuple[str, str], int] = {}
        for event in user_day.events:
            if event["type"] not in ("text_change", "file_save"):
                continue
            key = (event["session_id"], event["file"]["absolute_path"])
            lines = event["file"]["lines"]
            if event["type"] == "text_change" and key in baseline:
                metrics = event["metrics"]
                replaced = sum(r["end"] - r["start"] for r in metrics["affected_line_ranges"])
                k = lines - baseline[key] + replaced
                assert 0 <= k <= metrics["characters_added"], event
                (only,) = metrics["affected_line_ranges"][:1]
                if metrics["is_large_paste"] and only["start"] == only["end"]:
                    pastes += 1
                    assert lines - baseline[key] == k
                if metrics["is_possible_undo_cycle"]:
                    undos += 1
                    assert metrics["characters_added"] == 0
                    assert baseline[key] - lines == only["end"] - only["start"] > 0
            baseline[key] = lines
    assert pastes > 20 and undos > 2


def test_sessions_rotate_after_thirty_idle_minutes(dataset: SyntheticDataset) -> None:
    """Inside a session no gap reaches 30 min; a user's next session starts more than 30 min later.
    Most days have several sessions (a day of one marathon session has only one)."""
    several = 0
    for user_day in dataset.days:
        previous: tuple[str, int] | None = None
        for event in user_day.events:
            now = _ms(event["timestamp"])
            if previous is not None:
                gap = now - previous[1]
                assert gap >= 0
                if event["session_id"] == previous[0]:
                    assert gap < SESSION_IDLE_ROTATION_MS
                else:
                    assert gap > SESSION_IDLE_ROTATION_MS
            previous = (event["session_id"], now)
        assert len(user_day.session_ids) == len(set(user_day.session_ids)) >= 1
        assert user_day.session_ids == list(dict.fromkeys(e["session_id"] for e in user_day.events))
        several += len(user_day.session_ids) >= 2
    assert several > 0.9 * len(dataset.days)


def test_rapid_switching_flag_is_more_than_five_switches_in_sixty_seconds(dataset: SyntheticDataset) -> None:
    flagged = 0
    for user_day in dataset.days:
        times: dict[str, list[int]] = defaultdict(list)
        for event in user_day.events:
            if event["type"] != "editor_switch":
                continue
            now = _ms(event["timestamp"])
            window = [t for t in times[event["session_id"]] if t > now - RAPID_WINDOW_MS]
            times[event["session_id"]].append(now)
            expected = len(window) + 1 >= RAPID_MIN_SWITCHES
            assert event["metrics"]["is_rapid_context_switching"] is expected
            flagged += expected
    assert flagged > 30


def test_multi_root_and_absolute_paths_occur() -> None:
    data = generate(SyntheticSpec(users=30, days=3, seed=5, end_date=date(2026, 5, 13)))
    files = [e["file"] for _, e in data.events() if "file" in e]
    absolute = [f for f in files if f["path"].startswith(("/", "c:/"))]
    assert absolute, "files outside every folder have absolute paths"
    assert any(f["path"].startswith("c:/") and "\\" in f["absolute_path"] for f in absolute)
    assert any(f["workspace"] == "shared-lib" for f in files), "multi-root windows"
    assert any(f["extension"] == "" for f in files)


def test_planted_users_one_per_rule(dataset: SyntheticDataset) -> None:
    planted = dataset.planted
    assert set(planted) == set(PLANTED_PERSONAS)
    assert all(len(users) == 1 for users in planted.values())
    regular = [u for u in dataset.users if u.persona == "regular"]
    assert len(regular) == SPEC.users - len(PLANTED_PERSONAS)


def test_personas_are_planted_only_among_enough_regular_users() -> None:
    enough = len(PLANTED_PERSONAS) * 2 + MIN_REGULAR_USERS
    small = plan_users(SyntheticSpec(users=enough - 1, planted_per_rule=2))
    assert {u.persona for u in small} == {REGULAR}
    users = plan_users(SyntheticSpec(users=enough, planted_per_rule=2))
    assert [u.persona for u in users] == [p for p in PLANTED_PERSONAS for _ in (1, 2)] + [REGULAR] * 4


def test_regular_sessions_are_mostly_short_with_a_long_tail(month: SyntheticDataset) -> None:
    """Mostly under two hours, sometimes 2–4 h, a few past four hours across the population, none
    past eight; and lengths spread over the whole range where a long-session threshold is tuned."""
    minutes = _session_minutes(month, REGULAR)
    assert len(minutes) > 1000
    assert sum(m < 120 for m in minutes) > 0.75 * len(minutes)
    assert sum(120 <= m < 240 for m in minutes) > 0.05 * len(minutes)
    assert 0 < sum(m >= 240 for m in minutes) < 0.03 * len(minutes)
    assert max(minutes) < 8 * 60 + 5  # a session may end a little after its planned end
    for low in range(150, 240, 30):
        assert any(low < m <= low + 30 for m in minutes), f"no session of {low}–{low + 30} min"


def test_long_session_persona_sessions_last_130_to_230_minutes(month: SyntheticDataset) -> None:
    """Past RULE_LONG_SESSION_MIN (120), never past RULE_VERY_LONG_SESSION_MIN (240)."""
    minutes = _session_minutes(month, LONG_SESSION)
    assert len(minutes) > 20
    assert all(130 <= m <= 230 for m in minutes), sorted(minutes)


def test_very_long_session_persona_starts_each_day_past_four_hours(month: SyntheticDataset) -> None:
    days = [d for d in month.days if d.user.persona == VERY_LONG_SESSION]
    assert len(days) > 10
    for user_day in days:
        first = observed_sessions(user_day)[user_day.session_ids[0]]
        assert first.minutes > 240


def test_generated_payloads_are_accepted_by_the_api(settings: Settings, client: TestClient[Any]) -> None:
    """Checklist 74: every generated event is a valid client event (202, nothing rejected)."""
    user = create_user(settings)
    data = generate(SyntheticSpec(users=10, days=2, seed=3, end_date=date(2026, 5, 12)))
    sent = 0
    for user_day in data.days[:6]:
        for payload in extension_batches(user_day.events):
            response = client.post("/api/v1/telemetry", json=payload, headers=user.token_headers)
            assert response.status_code == 202, response.text
            body = response.json()
            assert body["rejected"] == [] and body["accepted_count"] == len(payload["events"])
            sent += body["accepted_count"]
    assert sent == sum(len(d.events) for d in data.days[:6]) > 0


def test_users_live_in_real_time_zones() -> None:
    users = plan_users(SyntheticSpec(users=40, seed=9))
    zones = {u.time_zone for u in users}
    assert len(zones) >= 8
    for user in users:
        assert user.zone.key == user.time_zone  # ZoneInfo raises on a name it does not know


@pytest.mark.parametrize(
    ("zone", "first_day", "utc_offsets"),
    [
        # the clocks go forward on 2026-03-29 (CET -> CEST)
        ("Europe/Berlin", date(2026, 3, 16), {timedelta(hours=1), timedelta(hours=2)}),
        # the clocks go back on 2026-11-01 (EDT -> EST)
        ("America/New_York", date(2026, 10, 19), {timedelta(hours=-4), timedelta(hours=-5)}),
        ("Asia/Kathmandu", date(2026, 5, 4), {timedelta(hours=5, minutes=45)}),
    ],
)
def test_a_day_starts_within_the_users_local_working_hours(
    zone: str, first_day: date, utc_offsets: set[timedelta]
) -> None:
    """The first event of each local working day is the user's habitual start on their own wall
    clock, give or take the day's jitter: daylight saving changes and +05:45 included."""
    spec = SyntheticSpec(users=12, days=1, seed=4)
    user = replace(plan_users(spec)[6], time_zone=zone)
    seen_offsets = set()
    worked = 0
    for offset in range(28):
        day = first_day + timedelta(days=offset)
        user_day = generate_user_day(spec, user, day)
        if not user_day.events:
            continue
        worked += 1
        start = datetime.fromtimestamp(user_day.timestamps_ms[0] / 1000, UTC).astimezone(ZoneInfo(zone))
        assert start.date() == day
        local_hour = start.hour + start.minute / 60 + start.second / 3600
        assert abs(local_hour - user.start_hour) <= DAY_START_JITTER_HOURS + 1e-6, (day, start)
        seen_offsets.add(start.utcoffset())
    assert worked >= 15
    assert seen_offsets == utc_offsets
