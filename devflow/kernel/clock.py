"""Time: the clock every context reads (injectable, so tests move time instead of sleeping), and the
few conversions between instants, epoch microseconds and the contract's timestamp format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class Clock(Protocol):
    """Returns the current instant (timezone-aware, UTC)."""

    def __call__(self) -> datetime: ...


def utc_now() -> datetime:
    """The wall clock, UTC: the production :class:`Clock`."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to (tests, replays)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or utc_now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` and return the new instant."""
        self.now += delta
        return self.now


def epoch_us(moment: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact, no float rounding)."""
    return (moment - EPOCH) // _MICROSECOND


def from_epoch_us(micros: int) -> datetime:
    """An aware UTC datetime from microseconds since the Unix epoch."""
    return EPOCH + timedelta(microseconds=micros)


def iso_ms(value: datetime | None) -> str | None:
    """``2026-05-14T09:41:07.512Z``: UTC with exactly three fractional digits (contract §1.7)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
