"""Personas: how a synthetic developer works, and which insight rule a planted one should trip.

=========================== ====================================================== =========================
persona                     what it does                                           rule it should trip
=========================== ====================================================== =========================
``regular``                 the population: a few sessions a day, low churn,       none by design
                            rare rapid switching
``very_long_session``       starts the day with one session of 4¼–5½ hours         ``very_long_session``
``high_churn``              undoes most pastes and deletes blocks, but never more  ``high_churn``
                            lines than it adds on a day
``delete_heavy_rewriting``  deletes big blocks of lines, with no churn guard       ``delete_heavy_rewriting``
``rapid_context_switching`` jumps between files in bursts all day                  ``rapid_context_switching``
=========================== ====================================================== =========================

Persona names of planted users are the rule names of contract §7.2.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

REGULAR = "regular"
VERY_LONG_SESSION = "very_long_session"
HIGH_CHURN = "high_churn"
DELETE_HEAVY_REWRITING = "delete_heavy_rewriting"
RAPID_CONTEXT_SWITCHING = "rapid_context_switching"
#: The personas planted so that one insight rule fires for them (rule names of contract §7.2).
PLANTED_PERSONAS: tuple[str, ...] = (
    VERY_LONG_SESSION,
    HIGH_CHURN,
    DELETE_HEAVY_REWRITING,
    RAPID_CONTEXT_SWITCHING,
)


@dataclass(frozen=True, slots=True)
class PersonaProfile:
    """How a persona behaves on one day: its sessions and the odds of each kind of edit."""

    blocks: tuple[tuple[float, float], ...]  # (min, max) minutes of each working block, in order
    pause_max_min: float  # short pauses inside a block stay below the rotation gap
    rapid_burst: float  # chance per activity of a burst of rapid editor switches
    churn_cap: float | None  # today's deleted/added lines stay below this (None: no guard)
    block_delete: float  # chance per activity of deleting a block of lines
    block_delete_lines: tuple[int, int]  # (min, max) lines of one block deletion
    paste_undo: float  # chance that a paste is undone right away


# Focused developers pause briefly; the regular population wanders off a little longer.
_FOCUSED_PAUSE_MIN = 12.0
_REGULAR_PAUSE_MIN = 14.0
_LONG_SESSION_PAUSE_MIN = 20.0  # a marathon session has longer lulls, still under the rotation gap
# Background odds shared by the personas that are not about switching or deleting.
_RARE_BURST = 0.005
_REGULAR_BURST = 0.01
_SMALL_BLOCK_DELETE = 0.03
_SMALL_BLOCK_LINES = (2, 6)
_USUAL_PASTE_UNDO = 0.2
_PLANTED_CHURN_CAP = 0.3  # keeps personas not about churn clear of the high_churn rule

# The regular population's day: two main blocks, sometimes a late-afternoon and an evening one.
_REGULAR_BLOCKS: tuple[tuple[float, float], ...] = ((75.0, 150.0), (60.0, 140.0))
_AFTERNOON_BLOCK = (30.0, 75.0)  # after a long break
_AFTERNOON_BLOCK_CHANCE = 0.4
_EVENING_BLOCK = (15.0, 45.0)
_EVENING_BLOCK_CHANCE = 0.12
_REGULAR_CHURN_CAP = (0.1, 0.5)  # most developers keep churn low; some days are messier than others
_REGULAR_BLOCK_DELETE = 0.05
_REGULAR_PASTE_UNDO = 0.25

_PLANTED_PROFILES: dict[str, PersonaProfile] = {
    VERY_LONG_SESSION: PersonaProfile(
        blocks=((255, 330), (60, 120)),  # the first block alone passes four hours
        pause_max_min=_LONG_SESSION_PAUSE_MIN,
        rapid_burst=_RARE_BURST,
        churn_cap=_PLANTED_CHURN_CAP,
        block_delete=_SMALL_BLOCK_DELETE,
        block_delete_lines=_SMALL_BLOCK_LINES,
        paste_undo=_USUAL_PASTE_UNDO,
    ),
    RAPID_CONTEXT_SWITCHING: PersonaProfile(
        blocks=((60, 100), (50, 95), (40, 80)),
        pause_max_min=_FOCUSED_PAUSE_MIN,
        rapid_burst=0.35,  # a burst every few activities: the day's flagged switches pile up
        churn_cap=_PLANTED_CHURN_CAP,
        block_delete=_SMALL_BLOCK_DELETE,
        block_delete_lines=_SMALL_BLOCK_LINES,
        paste_undo=_USUAL_PASTE_UNDO,
    ),
    HIGH_CHURN: PersonaProfile(
        blocks=((70, 110), (60, 110)),
        pause_max_min=_FOCUSED_PAUSE_MIN,
        rapid_burst=_RARE_BURST,
        churn_cap=0.85,  # high churn, yet fewer lines deleted than added: not delete-heavy
        block_delete=0.35,
        block_delete_lines=(3, 12),
        paste_undo=0.9,  # almost every paste comes out again
    ),
    DELETE_HEAVY_REWRITING: PersonaProfile(
        blocks=((70, 110), (60, 110)),
        pause_max_min=_FOCUSED_PAUSE_MIN,
        rapid_burst=_RARE_BURST,
        churn_cap=None,  # deletions may outgrow additions: that is the rule
        block_delete=0.3,
        block_delete_lines=(8, 30),
        paste_undo=0.3,
    ),
}


def day_profile(persona: str, rng: random.Random) -> PersonaProfile:
    """The profile ``persona`` works with today; regular developers vary from day to day."""
    planted = _PLANTED_PROFILES.get(persona)
    if planted is not None:
        return planted
    blocks = list(_REGULAR_BLOCKS)
    if rng.random() < _AFTERNOON_BLOCK_CHANCE:
        blocks.append(_AFTERNOON_BLOCK)
    if rng.random() < _EVENING_BLOCK_CHANCE:
        blocks.append(_EVENING_BLOCK)
    return PersonaProfile(
        blocks=tuple(blocks),
        pause_max_min=_REGULAR_PAUSE_MIN,
        rapid_burst=_REGULAR_BURST,
        churn_cap=rng.uniform(*_REGULAR_CHURN_CAP),
        block_delete=_REGULAR_BLOCK_DELETE,
        block_delete_lines=_SMALL_BLOCK_LINES,
        paste_undo=_REGULAR_PASTE_UNDO,
    )
