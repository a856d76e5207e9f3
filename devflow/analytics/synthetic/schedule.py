"""When a developer works: which days, when the day starts, how long each session lasts, the breaks.

A day starts at the user's habitual hour on their own wall clock (an IANA zone, daylight saving
included), so a developer in Berlin starts at the same local time before and after the clocks change
and one in Kathmandu works on a +05:45 rhythm.

A regular developer's sessions are log-normal: mostly 20–120 minutes, sometimes 2–4 hours and, across
a population, a few of 4–8 hours. Sessions are drawn until the day's focus time is spent, so a
marathon session leaves fewer sessions after it. A session lasts its planned length (the writer ends
it with a save), so the session-length distribution is the one drawn here, not an artefact of how
activities are spaced; backtesting a long-session threshold measures developers, not the generator.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, time, timedelta

from devflow.analytics.synthetic.extension import SESSION_IDLE_ROTATION_MS
from devflow.analytics.synthetic.personas import PersonaProfile
from devflow.analytics.synthetic.users import SyntheticUser

WEEKDAY_WORK_CHANCE = 0.93  # holidays, sick days, days spent away from the editor
WEEKEND_WORK_CHANCE = 0.5  # for the developers who work weekends at all
DAY_START_JITTER_HOURS = 0.5  # a day starts this much earlier or later than the user's habit
BREAK_EXTRA_MIN = (5.0, 60.0)  # a break lasts the rotation gap plus this: lunch, a meeting, the commute

SESSION_MEDIAN_MIN = 60.0  # a typical focused stretch
SESSION_LOG_SIGMA = 0.6  # spread of log-lengths: a right tail of long sessions, a thin one past 4 h
SESSION_MIN_MIN = 20.0  # shorter stretches are the evening check-ins below
SESSION_MAX_MIN = 480.0  # nobody stays in the editor longer than a working day without a break
DAY_FOCUS_MIN = (180.0, 360.0)  # minutes of sessions in a regular working day
MAX_SESSIONS_PER_DAY = 5
EVENING_SESSION_CHANCE = 0.12  # a quick look in the evening, after the day's sessions
EVENING_SESSION_MIN = (15.0, 45.0)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def works_on(user: SyntheticUser, day: date, rng: random.Random) -> bool:
    """Whether ``user`` works on local day ``day``."""
    if day.weekday() >= 5:
        return user.works_weekends and rng.random() < WEEKEND_WORK_CHANCE
    return rng.random() < WEEKDAY_WORK_CHANCE


def day_start_ms(user: SyntheticUser, day: date, rng: random.Random) -> int:
    """When ``user`` starts working on local day ``day`` (their habit, give or take
    :data:`DAY_START_JITTER_HOURS`, on their own wall clock), in epoch milliseconds."""
    jitter = rng.uniform(-DAY_START_JITTER_HOURS, DAY_START_JITTER_HOURS)
    # Adding to an aware datetime moves its wall clock; the zone then gives that moment's offset.
    start = datetime.combine(day, time(), user.zone) + timedelta(hours=user.start_hour + jitter)
    return (start - _EPOCH) // timedelta(milliseconds=1)


def session_minutes(rng: random.Random) -> float:
    """One regular session's planned length: log-normal, redrawn outside the plausible range."""
    while True:
        minutes = rng.lognormvariate(math.log(SESSION_MEDIAN_MIN), SESSION_LOG_SIGMA)
        if SESSION_MIN_MIN <= minutes <= SESSION_MAX_MIN:
            return minutes


def planned_sessions(profile: PersonaProfile, rng: random.Random) -> list[float]:
    """The planned minutes of each of today's sessions, in order."""
    if profile.sessions is not None:
        return [rng.uniform(low, high) for low, high in profile.sessions]
    focus = rng.uniform(*DAY_FOCUS_MIN)
    planned: list[float] = []
    while sum(planned) < focus and len(planned) < MAX_SESSIONS_PER_DAY:
        planned.append(session_minutes(rng))
    if rng.random() < EVENING_SESSION_CHANCE:
        planned.append(rng.uniform(*EVENING_SESSION_MIN))
    return planned


def after_break_ms(last_ms: int, rng: random.Random) -> int:
    """When the next session starts after a session whose last event was at ``last_ms``: the break
    is longer than the rotation gap, so the extension starts a new session id."""
    return last_ms + SESSION_IDLE_ROTATION_MS + int(rng.uniform(*BREAK_EXTRA_MIN) * 60_000)
