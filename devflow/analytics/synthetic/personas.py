"""Personas: how a synthetic developer works, and which insight rule a planted one should trip.

=========================== ==================================================== ===========================
persona                     what it does                                         rule it should trip
=========================== ==================================================== ===========================
``regular``                 the population: sessions mostly of 20–120 min,       none by design (its rare
                            sometimes 2–4 h, rarely 4–8 h (:mod:`.schedule`);    sessions past 4 h do trip
                            low churn, rare rapid switching                      ``very_long_session``)
``very_long_session``       starts the day with one session of 4¼–5½ hours,      ``very_long_session``
                            then a shorter one
``long_session``            two sessions of 2¼–3¾ hours a day: past the          ``long_session``, never
                            120-minute threshold, well below 240                 ``very_long_session``
``high_churn``              undoes most pastes and deletes blocks, but never     ``high_churn``
                            more lines than it adds on a day
``delete_heavy_rewriting``  deletes big blocks of lines, with no churn guard     ``delete_heavy_rewriting``
``rapid_context_switching`` acts often and flicks through files in long bursts,  ``rapid_context_switching``
                            so each session carries many flagged switches
=========================== ==================================================== ===========================

Persona names of planted users are the rule names of contract §7.2; :mod:`.labels` says which of
their sessions are expected to be nudged.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

REGULAR = "regular"
VERY_LONG_SESSION = "very_long_session"
LONG_SESSION = "long_session"
HIGH_CHURN = "high_churn"
DELETE_HEAVY_REWRITING = "delete_heavy_rewriting"
RAPID_CONTEXT_SWITCHING = "rapid_context_switching"
#: The personas planted so that one insight rule fires for them (rule names of contract §7.2).
PLANTED_PERSONAS: tuple[str, ...] = (
    VERY_LONG_SESSION,
    LONG_SESSION,
    HIGH_CHURN,
    DELETE_HEAVY_REWRITING,
    RAPID_CONTEXT_SWITCHING,
)


@dataclass(frozen=True, slots=True)
class PersonaProfile:
    """How a persona behaves on one day: its sessions and the odds of each kind of edit."""

    # (min, max) planned minutes of each session, in order; None: the population's habit (schedule)
    sessions: tuple[tuple[float, float], ...] | None
    pause_max_min: float  # short pauses inside a session stay below the rotation gap
    rapid_burst: float  # chance that an activity is a burst of rapid editor switches instead
    burst_switches: tuple[int, int]  # (min, max) switches of one burst
    churn_cap: float | None  # today's deleted/added lines stay below this (None: no guard)
    block_delete: float  # chance per activity of deleting a block of lines
    block_delete_lines: tuple[int, int]  # (min, max) lines of one block deletion
    paste_undo: float  # chance that a paste is undone right away
    pace: float = 1.0  # activities per hour, relative to the population


# Focused developers pause briefly; the regular population wanders off a little longer.
_FOCUSED_PAUSE_MIN = 12.0
_REGULAR_PAUSE_MIN = 14.0
_MARATHON_PAUSE_MIN = 20.0  # a marathon session has longer lulls, still under the rotation gap
# Background odds shared by the personas that are not about switching or deleting.
_RARE_BURST = 0.005
_REGULAR_BURST = 0.01
_BURST_SWITCHES = (7, 14)  # enough to pass the extension's rapid threshold for a few seconds
_SMALL_BLOCK_DELETE = 0.03
_SMALL_BLOCK_LINES = (2, 6)
_USUAL_PASTE_UNDO = 0.2
_PLANTED_CHURN_CAP = 0.3  # keeps personas not about churn clear of the high_churn rule

_REGULAR_CHURN_CAP = (0.1, 0.5)  # most developers keep churn low; some days are messier than others
_REGULAR_BLOCK_DELETE = 0.05
_REGULAR_PASTE_UNDO = 0.25

_PLANTED_PROFILES: dict[str, PersonaProfile] = {
    VERY_LONG_SESSION: PersonaProfile(
        sessions=((255, 330), (60, 120)),  # the first session alone passes four hours
        pause_max_min=_MARATHON_PAUSE_MIN,
        rapid_burst=_RARE_BURST,
        burst_switches=_BURST_SWITCHES,
        churn_cap=_PLANTED_CHURN_CAP,
        block_delete=_SMALL_BLOCK_DELETE,
        block_delete_lines=_SMALL_BLOCK_LINES,
        paste_undo=_USUAL_PASTE_UNDO,
    ),
    LONG_SESSION: PersonaProfile(
        # Clear of both thresholds (120 and 240 min) by more than a session's closing overrun.
        sessions=((135, 225), (135, 225)),
        pause_max_min=_REGULAR_PAUSE_MIN,
        rapid_burst=_RARE_BURST,
        burst_switches=_BURST_SWITCHES,
        churn_cap=_PLANTED_CHURN_CAP,
        block_delete=_SMALL_BLOCK_DELETE,
        block_delete_lines=_SMALL_BLOCK_LINES,
        paste_undo=_USUAL_PASTE_UNDO,
    ),
    RAPID_CONTEXT_SWITCHING: PersonaProfile(
        sessions=((60, 100), (50, 95), (40, 80)),
        pause_max_min=_FOCUSED_PAUSE_MIN,
        rapid_burst=0.5,  # every other activity is a burst: each session piles up flagged switches
        burst_switches=(10, 20),
        churn_cap=_PLANTED_CHURN_CAP,
        block_delete=_SMALL_BLOCK_DELETE,
        block_delete_lines=_SMALL_BLOCK_LINES,
        paste_undo=_USUAL_PASTE_UNDO,
        pace=1.5,  # restless: acts more often than the population
    ),
    HIGH_CHURN: PersonaProfile(
        sessions=((70, 110), (60, 110)),
        pause_max_min=_FOCUSED_PAUSE_MIN,
        rapid_burst=_RARE_BURST,
        burst_switches=_BURST_SWITCHES,
        churn_cap=0.85,  # high churn, yet fewer lines deleted than added: not delete-heavy
        block_delete=0.35,
        block_delete_lines=(3, 12),
        paste_undo=0.9,  # almost every paste comes out again
    ),
    DELETE_HEAVY_REWRITING: PersonaProfile(
        sessions=((70, 110), (60, 110)),
        pause_max_min=_FOCUSED_PAUSE_MIN,
        rapid_burst=_RARE_BURST,
        burst_switches=_BURST_SWITCHES,
        churn_cap=None,  # deletions may outgrow additions: that is the rule
        block_delete=0.3,
        block_delete_lines=(8, 30),
        paste_undo=0.3,
    ),
}


def day_profile(persona: str, rng: random.Random) -> PersonaProfile:
    """The profile ``persona`` works with today; regular developers' churn varies from day to day."""
    planted = _PLANTED_PROFILES.get(persona)
    if planted is not None:
        return planted
    return PersonaProfile(
        sessions=None,
        pause_max_min=_REGULAR_PAUSE_MIN,
        rapid_burst=_REGULAR_BURST,
        burst_switches=_BURST_SWITCHES,
        churn_cap=rng.uniform(*_REGULAR_CHURN_CAP),
        block_delete=_REGULAR_BLOCK_DELETE,
        block_delete_lines=_SMALL_BLOCK_LINES,
        paste_undo=_REGULAR_PASTE_UNDO,
    )
