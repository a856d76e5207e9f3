"""When a developer works: which days, when the day starts, the breaks between sessions."""

from __future__ import annotations

import random
from datetime import date

from devflow.analytics.synthetic.extension import SESSION_IDLE_ROTATION_MS
from devflow.analytics.synthetic.users import SyntheticUser

WEEKDAY_WORK_CHANCE = 0.93  # holidays, sick days, days spent away from the editor
WEEKEND_WORK_CHANCE = 0.5  # for the developers who work weekends at all
DAY_START_JITTER_HOURS = 0.5  # a day starts this much earlier or later than the user's habit
BREAK_EXTRA_MIN = (5.0, 60.0)  # a break lasts the rotation gap plus this: lunch, a meeting, the commute
_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000


def works_on(user: SyntheticUser, day: date, rng: random.Random) -> bool:
    """Whether ``user`` works on local day ``day``."""
    if day.weekday() >= 5:
        return user.works_weekends and rng.random() < WEEKEND_WORK_CHANCE
    return rng.random() < WEEKDAY_WORK_CHANCE


def day_start_ms(user: SyntheticUser, day: date, rng: random.Random) -> int:
    """When ``user`` starts working on local day ``day``, in epoch milliseconds."""
    local_midnight_ms = (day - date(1970, 1, 1)).days * _DAY_MS
    jitter = rng.uniform(-DAY_START_JITTER_HOURS, DAY_START_JITTER_HOURS)
    return local_midnight_ms + int((user.start_hour + jitter) * _HOUR_MS) - user.utc_offset_hours * _HOUR_MS


def after_break_ms(last_ms: int, rng: random.Random) -> int:
    """When the next session starts after a session whose last event was at ``last_ms``: the break
    is longer than the rotation gap, so the extension starts a new session id."""
    return last_ms + SESSION_IDLE_ROTATION_MS + int(rng.uniform(*BREAK_EXTRA_MIN) * 60_000)
