"""The server-drawn charts' geometry: bars on one scale above and below a shared baseline."""

from __future__ import annotations

import datetime as dt

import pytest

from devflow.web.charts import CHART_HEIGHT, DayValues, bar_chart, nice_step

DAY = dt.date(2026, 5, 14)


def test_bars_share_one_scale_around_the_baseline() -> None:
    values = [DayValues(DAY, up=30, down=10), DayValues(DAY + dt.timedelta(days=1), up=15, down=0)]
    chart = bar_chart(
        values,
        up_kind="added",
        down_kind="deleted",
        highlight_kind="x",
        up_title="lines added",
        down_title="lines deleted",
    )
    added = [b for b in chart.bars if b.kind == "added"]
    deleted = [b for b in chart.bars if b.kind == "deleted"]
    assert [round(b.height / added[0].height, 6) for b in added] == [1.0, 0.5]
    assert round(deleted[0].height / added[0].height, 6) == round(10 / 30, 6)
    assert all(b.y + b.height == pytest.approx(chart.baseline) for b in added)
    assert deleted[0].y == pytest.approx(chart.baseline)
    assert 0 < chart.baseline < CHART_HEIGHT
    assert added[0].x == pytest.approx(7.5) and added[0].width == pytest.approx(35.0)  # 2 slots of 50 %
    assert added[0].title == "14 May 2026: 30 lines added"
    assert [t.label for t in chart.ticks] == ["10", "20", "30", "−10"]
    assert not chart.empty


def test_an_empty_range_draws_no_bars_and_long_ranges_thin_their_labels() -> None:
    quiet = bar_chart([DayValues(DAY, up=0)], up_kind="a", up_title="")
    assert quiet.empty and quiet.bars == () and quiet.ticks == ()
    month = [DayValues(DAY + dt.timedelta(days=i), up=i) for i in range(30)]
    chart = bar_chart(month, up_kind="a", up_title="")
    assert len(chart.days) <= 7 and chart.days[0].text == "14 May"
    assert [d.minor for d in chart.days[:3]] == [False, True, False]


def test_highlighted_part_is_drawn_over_its_bar() -> None:
    chart = bar_chart(
        [DayValues(DAY, up=8, highlight=2)],
        up_kind="switches",
        down_kind="switches",
        highlight_kind="rapid",
        up_title="context switches",
        highlight_title="rapid switches",
    )
    switches, rapid = chart.bars
    assert rapid.kind == "rapid" and rapid.height == pytest.approx(switches.height / 4)
    assert rapid.y + rapid.height == pytest.approx(switches.y + switches.height)


@pytest.mark.parametrize(("span", "step"), [(0, 1.0), (3, 1.0), (30, 10.0), (45, 20.0), (1200, 500.0)])
def test_nice_steps(span: float, step: float) -> None:
    assert nice_step(span) == step
