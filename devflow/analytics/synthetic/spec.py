"""What to generate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class SyntheticSpec:
    """What to generate. ``end_date`` is the last local working day (inclusive)."""

    users: int = 20
    days: int = 7
    seed: int = 0
    end_date: date = date(2026, 5, 14)
    planted_per_rule: int = 1  # users per planted persona (only when there are enough users)
    intensity: float = 1.0  # scales how often developers act (events per hour)
