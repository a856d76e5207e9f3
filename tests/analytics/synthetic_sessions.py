"""Per-session figures recomputed from a user-day's events alone, to check the generator's own
bookkeeping against the data: duration, line-delta totals (contract §6.1) and flagged switches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from devflow.analytics.synthetic import UserDay


@dataclass(slots=True)
class ObservedSession:
    first_ms: int
    last_ms: int
    lines_added: int = 0
    lines_deleted: int = 0
    rapid_switches: int = 0

    @property
    def minutes(self) -> float:
        return (self.last_ms - self.first_ms) / 60_000

    @property
    def utc_date(self) -> date:
        return datetime.fromtimestamp(self.first_ms / 1000, UTC).date()


def event_ms(stamp: str) -> int:
    return int(datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000)


def observed_sessions(user_day: UserDay) -> dict[str, ObservedSession]:
    """Session id → its figures, from the events' timestamps, file lines and ranges only."""
    sessions: dict[str, ObservedSession] = {}
    baseline: dict[tuple[str, str], int] = {}
    for event in user_day.events:
        ms = event_ms(event["timestamp"])
        sid = event["session_id"]
        session = sessions.setdefault(sid, ObservedSession(ms, ms))
        session.last_ms = max(session.last_ms, ms)
        kind = event["type"]
        if kind == "editor_switch" and event["metrics"]["is_rapid_context_switching"]:
            session.rapid_switches += 1
        if kind not in ("text_change", "file_save"):
            continue
        key = (sid, event["file"]["absolute_path"])
        lines = event["file"]["lines"]
        if kind == "text_change":
            metrics = event["metrics"]
            replaced = sum(r["end"] - r["start"] for r in metrics["affected_line_ranges"])
            session.lines_deleted += replaced
            if key in baseline:
                k = lines - baseline[key] + replaced
                if 0 <= k <= metrics["characters_added"]:
                    session.lines_added += k
        baseline[key] = lines
    return sessions
