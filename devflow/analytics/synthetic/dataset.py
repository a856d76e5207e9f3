"""User-days and whole datasets: the generator's entry points."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from devflow.analytics.synthetic.day_writer import DayWriter, SessionSummary
from devflow.analytics.synthetic.personas import day_profile
from devflow.analytics.synthetic.schedule import after_break_ms, day_start_ms, planned_sessions, works_on
from devflow.analytics.synthetic.spec import SyntheticSpec
from devflow.analytics.synthetic.users import SyntheticUser, plan_users, planted_users


@dataclass(slots=True)
class UserDay:
    """The events of one user's local working day, oldest first (several sessions)."""

    user: SyntheticUser
    day: date
    events: list[dict[str, Any]]
    session_ids: list[str] = field(default_factory=list)
    timestamps_ms: list[int] = field(default_factory=list)  # each event's time, epoch milliseconds
    sessions: list[SessionSummary] = field(default_factory=list)  # in the order of session_ids


@dataclass(slots=True)
class SyntheticDataset:
    """Everything :func:`generate` produced, with the planted users for tests to check."""

    spec: SyntheticSpec
    users: list[SyntheticUser]
    days: list[UserDay]

    @property
    def planted(self) -> dict[str, list[SyntheticUser]]:
        """Persona (rule name) → the users planted to trip that rule."""
        return planted_users(self.users)

    def events(self) -> Iterator[tuple[SyntheticUser, dict[str, Any]]]:
        """Every (user, event) pair, user-day by user-day."""
        for user_day in self.days:
            for event in user_day.events:
                yield user_day.user, event

    @property
    def event_count(self) -> int:
        """Total number of events."""
        return sum(len(d.events) for d in self.days)


def generate_user_day(spec: SyntheticSpec, user: SyntheticUser, day: date) -> UserDay:
    """The events of ``user`` on local day ``day`` (empty on a day off). Deterministic."""
    rng = random.Random(f"devflow-day:{spec.seed}:{user.index}:{day.isoformat()}")
    if not works_on(user, day, rng):
        return UserDay(user=user, day=day, events=[])
    profile = day_profile(user.persona, rng)
    writer = DayWriter(user, rng, profile)
    ms = day_start_ms(user, day, rng)
    for minutes in planned_sessions(profile, rng):
        ms = after_break_ms(writer.session(ms, minutes, spec.intensity), rng)
    return UserDay(
        user=user,
        day=day,
        events=writer.events,
        session_ids=writer.session_ids,
        timestamps_ms=writer.stamps,
        sessions=writer.sessions,
    )


def day_range(spec: SyntheticSpec) -> list[date]:
    """The local days a spec covers, oldest first."""
    return [spec.end_date - timedelta(days=offset) for offset in range(spec.days - 1, -1, -1)]


def iter_user_days(spec: SyntheticSpec, users: list[SyntheticUser] | None = None) -> Iterator[UserDay]:
    """Every user's days in order (day by day, then user by user); days off are skipped."""
    users = plan_users(spec) if users is None else users
    for day in day_range(spec):
        for user in users:
            user_day = generate_user_day(spec, user, day)
            if user_day.events:
                yield user_day


def generate(spec: SyntheticSpec) -> SyntheticDataset:
    """The whole dataset in memory (tests and notebooks); ``devflow generate`` streams instead."""
    users = plan_users(spec)
    return SyntheticDataset(spec=spec, users=users, days=list(iter_user_days(spec, users)))
