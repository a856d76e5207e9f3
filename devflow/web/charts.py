"""Day-by-day bar charts drawn on the server as SVG geometry (no script, no chart library).

Horizontal positions are percentages of the chart's width and vertical ones are pixels, so a chart
fills a phone or a laptop screen without stretching its text. The template turns a :class:`BarChart`
into ``<rect>`` and ``<text>`` elements; each bar carries a ``<title>`` for hover and screen readers,
and the page also offers the same figures as a table.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

CHART_HEIGHT = 200  # px
_TOP = 18  # room for the highest tick label
_BOTTOM = 22  # room for the day labels
_BAR_SHARE = 0.7  # of a day's slot; the rest is the gap between bars
_MAX_DAY_LABELS = 7


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: ``x``/``width`` in % of the chart width, ``y``/``height`` in px from the top."""

    x: float
    width: float
    y: float
    height: float
    kind: str  # CSS class: added, deleted, switches, rapid
    title: str


@dataclass(frozen=True, slots=True)
class Tick:
    """A horizontal grid line at ``y`` px with its value."""

    y: float
    label: str


@dataclass(frozen=True, slots=True)
class DayLabel:
    x: float  # % of the width, centre of the day's slot
    text: str
    minor: bool  # every other label: hidden on narrow screens


@dataclass(frozen=True, slots=True)
class BarChart:
    """Everything the template draws for one chart."""

    height: int
    baseline: float
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    days: tuple[DayLabel, ...]
    empty: bool


@dataclass(frozen=True, slots=True)
class DayValues:
    """One day of a chart: an upward value, a downward one (0 for none) and the part of the upward
    value drawn in a stronger colour (rapid switches among all switches)."""

    day: dt.date
    up: int
    down: int = 0
    highlight: int = 0


def nice_step(span: float, target_ticks: int = 3) -> float:
    """A 1, 2 or 5 × 10ⁿ step that cuts ``span`` into about ``target_ticks`` parts."""
    if span <= 0:
        return 1.0
    raw = span / target_ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return max(1.0, factor * magnitude)
    return max(1.0, 10 * magnitude)  # pragma: no cover - the loop always returns


def _day_labels(days: Sequence[dt.date], slot: float) -> tuple[DayLabel, ...]:
    every = max(1, math.ceil(len(days) / _MAX_DAY_LABELS))
    shown = [(i, day) for i, day in enumerate(days) if i % every == 0]
    return tuple(
        DayLabel(x=(i + 0.5) * slot, text=f"{day.day} {day:%b}", minor=n % 2 == 1)
        for n, (i, day) in enumerate(shown)
    )


def bar_chart(
    values: Sequence[DayValues],
    *,
    up_kind: str,
    up_title: str,
    down_kind: str = "down",
    down_title: str = "",
    highlight_kind: str = "highlight",
    highlight_title: str = "",
) -> BarChart:
    """Bars above a baseline for ``up``, below it for ``down``, on one shared scale."""
    n = max(1, len(values))
    slot = 100.0 / n
    width = slot * _BAR_SHARE
    top_value = max((v.up for v in values), default=0)
    bottom_value = max((v.down for v in values), default=0)
    plot = CHART_HEIGHT - _TOP - _BOTTOM
    total = top_value + bottom_value
    empty = total == 0
    scale = plot / total if total else 0.0
    baseline = _TOP + (top_value * scale if total else plot / 2)
    bars: list[Bar] = []
    for i, v in enumerate(values):
        x = i * slot + (slot - width) / 2
        label = f"{v.day.day} {v.day:%b %Y}"
        if v.up:
            bars.append(
                Bar(x, width, baseline - v.up * scale, v.up * scale, up_kind, f"{label}: {v.up:,} {up_title}")
            )
        if v.highlight:
            bars.append(
                Bar(
                    x,
                    width,
                    baseline - v.highlight * scale,
                    v.highlight * scale,
                    highlight_kind,
                    f"{label}: {v.highlight:,} {highlight_title}",
                )
            )
        if v.down:
            bars.append(
                Bar(x, width, baseline, v.down * scale, down_kind, f"{label}: {v.down:,} {down_title}")
            )
    ticks: list[Tick] = []
    if not empty:
        step = nice_step(max(top_value, bottom_value))
        k = 1
        while k * step <= top_value:
            ticks.append(Tick(baseline - k * step * scale, f"{int(k * step):,}"))
            k += 1
        k = 1
        while k * step <= bottom_value:
            ticks.append(Tick(baseline + k * step * scale, f"−{int(k * step):,}"))
            k += 1
    return BarChart(
        height=CHART_HEIGHT,
        baseline=baseline,
        bars=tuple(bars),
        ticks=tuple(ticks),
        days=_day_labels([v.day for v in values], slot),
        empty=empty,
    )
