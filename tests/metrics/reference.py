"""An independent, row-by-row reference of contract §6 used to check the ETL's results."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Totals:
    lines_added: int = 0
    lines_deleted: int = 0
    switch_count: int = 0
    rapid_switch_count: int = 0
    files: Counter[str] = field(default_factory=Counter)


def _ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC)


def reference(
    accepted: list[tuple[str, dict[str, Any]]], definition: str, zone: str = "UTC"
) -> tuple[dict[tuple[str, str], Totals], dict[str, Totals]]:
    """Daily totals per (user_id, YYYY-MM-DD in ``zone``) and per-session totals of accepted events,
    given in ingestion order as (user_id, event)."""
    tz = zoneinfo.ZoneInfo(zone)
    seen: set[tuple[str, str]] = set()
    events: list[tuple[dt.datetime, int, str, dict[str, Any]]] = []
    for order, (user_id, event) in enumerate(accepted):
        key = (event["session_id"].lower(), json.dumps(event, sort_keys=True, separators=(",", ":")))
        if key in seen:
            continue
        seen.add(key)
        events.append((_ts(event["timestamp"]), order, user_id, event))
    events.sort(key=lambda item: (item[0], item[1]))
    daily: dict[tuple[str, str], Totals] = {}
    sessions: dict[str, Totals] = {}
    baselines: dict[tuple[str, str], int] = {}
    for when, _, user_id, event in events:
        sid = event["session_id"].lower()
        day = daily.setdefault((user_id, when.astimezone(tz).date().isoformat()), Totals())
        ses = sessions.setdefault(sid, Totals())
        kind = event["type"]
        if kind == "editor_switch":
            rapid = event["metrics"]["is_rapid_context_switching"] is True
            to = (event.get("to") or {}).get("file")
            for t in (day, ses):
                t.switch_count += 1
                t.rapid_switch_count += int(rapid)
                if isinstance(to, str) and to:
                    t.files[to] += 1
            continue
        if kind not in ("text_change", "file_save"):
            continue
        file = event["file"]
        key = (sid, file.get("absolute_path") or file["path"])
        lines = file.get("lines")
        if kind == "text_change":
            m = event["metrics"]
            ranges = [r for r in m.get("affected_line_ranges") or [] if r["end"] >= r["start"]]
            r_breaks = sum(r["end"] - r["start"] for r in ranges)
            touched = sum(r["end"] - r["start"] + 1 for r in ranges)
            if definition == "line-delta":
                deleted = r_breaks
                added = 0
                if key in baselines and isinstance(lines, int):
                    k = lines - baselines[key] + r_breaks
                    added = k if 0 <= k <= m["characters_added"] else 0
            else:
                added = touched if m["characters_added"] > 0 else 0
                deleted = touched if m["characters_deleted"] > 0 else 0
            for t in (day, ses):
                t.lines_added += added
                t.lines_deleted += deleted
        if isinstance(lines, int):
            baselines[key] = lines
    return daily, sessions


BUCKET = dt.timedelta(minutes=15)
CodingKey = tuple[str, str, dt.datetime, str | None, str | None, str | None]


@dataclass
class SessionFacts:
    started_at: dt.datetime
    ended_at: dt.datetime
    active_seconds: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)


def _attributes(event: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """The language, workspace and file key an interval starting at ``event`` is attributed to."""
    file = event.get("file") or {}
    to = event.get("to") or {}
    language = file.get("language") or to.get("language")
    workspace = file.get("workspace") or event.get("workspace")
    key = file.get("absolute_path") or file.get("path") or to.get("file") or None
    return language, workspace, key


def coding_reference(
    accepted: list[tuple[str, dict[str, Any]]], gap_minutes: float = 10
) -> tuple[dict[CodingKey, float], dict[str, SessionFacts]]:
    """Coding seconds per (user, session, UTC 15-minute bucket start, language, workspace, file) and
    per-session facts, walking each session's de-duplicated events in (timestamp, ingestion) order
    one interval at a time and cutting it at every bucket boundary."""
    seen: set[tuple[str, str]] = set()
    by_session: dict[str, list[tuple[dt.datetime, int, str, dict[str, Any]]]] = {}
    for order, (user_id, event) in enumerate(accepted):
        sid = event["session_id"].lower()
        key = (sid, json.dumps(event, sort_keys=True, separators=(",", ":")))
        if key in seen:
            continue
        seen.add(key)
        by_session.setdefault(sid, []).append((_ts(event["timestamp"]), order, user_id, event))
    coding: dict[CodingKey, float] = {}
    facts: dict[str, SessionFacts] = {}
    gap = dt.timedelta(minutes=gap_minutes)
    for sid, events in by_session.items():
        events.sort(key=lambda item: (item[0], item[1]))
        info = facts[sid] = SessionFacts(started_at=events[0][0], ended_at=events[-1][0])
        for _, _, _, event in events:
            info.counts[event["type"]] += 1
        for (when, _, user_id, event), (after, _, _, _) in itertools.pairwise(events):
            if after - when > gap or after == when:
                continue
            info.active_seconds += (after - when).total_seconds()
            cursor = when
            while cursor < after:
                floor = cursor.replace(minute=cursor.minute - cursor.minute % 15, second=0, microsecond=0)
                piece_end = min(after, floor + BUCKET)
                bucket_key = (user_id, sid, floor, *_attributes(event))
                coding[bucket_key] = coding.get(bucket_key, 0.0) + (piece_end - cursor).total_seconds()
                cursor = piece_end
    return coding, facts
