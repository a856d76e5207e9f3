"""``/dashboard``: a range's lines, churn, context switches, the day-by-day charts and the
recommendations with their answers. The figures are the API's own bodies
(:func:`devflow.metrics.churn_body` / :func:`devflow.metrics.context_switching_body`), so the page
always shows what ``GET /api/v1/metrics/*`` returns for the same range."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template

from devflow.accounts import Accounts, user_time_zone
from devflow.insights import ACTIONS, Insights, RecommendationItem, act_on, recommendations_of
from devflow.kernel.errors import AlreadyDone, NotFound, ValidationFailed
from devflow.metrics import (
    Metrics,
    MetricsQuery,
    churn_body,
    coding_time_body,
    context_switching_body,
    daily_query,
    valid_zone,
    with_zone,
)
from devflow.web.charts import BarChart, DayValues, bar_chart
from devflow.web.rendering import SECURITY_HEADERS, page_context
from devflow.web.session import AnyRequest, current_viewer, redirect, sign_in_first

RECOMMENDATIONS_SHOWN = 10
TOP_FILES_SHOWN = 10
DEFAULT_RANGE = "7d"
# Preset ranges: label and number of UTC days ending today.
PRESETS: dict[str, tuple[str, int]] = {"today": ("Today", 1), "7d": ("7 days", 7), "30d": ("30 days", 30)}
CUSTOM = "custom"
ACTION_LABELS = {"accepted": "Accept", "snoozed": "Snooze", "dismissed": "Dismiss"}
# How an answered recommendation reads; "expired" is set when a newer one replaced it unanswered.
ANSWER_LABELS = {
    "accepted": "You accepted this.",
    "snoozed": "You snoozed this.",
    "dismissed": "You dismissed this.",
    "expired": "Replaced by a newer recommendation.",
}


@dataclass(frozen=True, slots=True)
class RangeChoice:
    """The range the page shows: a preset or a custom ``from``..``to`` (UTC days)."""

    key: str
    from_text: str
    to_text: str

    @property
    def query_string(self) -> str:
        """The page's query for this range (links back to it after an action)."""
        if self.key == CUSTOM:
            return urlencode({"range": CUSTOM, "from": self.from_text, "to": self.to_text})
        return urlencode({"range": self.key})


def _text(params: Any, name: str) -> str:
    value = params.get(name)
    return value if isinstance(value, str) else ""  # absent, or a file in a multipart form


def choose_range(params: Any, today: dt.date) -> RangeChoice:
    """The range named by ``range`` (``today``, ``7d``, ``30d``, ``custom`` with ``from``/``to``)."""
    key = _text(params, "range") or DEFAULT_RANGE
    if key == CUSTOM:
        return RangeChoice(CUSTOM, _text(params, "from"), _text(params, "to"))
    if key not in PRESETS:
        key = DEFAULT_RANGE
    days = PRESETS[key][1]
    return RangeChoice(key, (today - dt.timedelta(days=days - 1)).isoformat(), today.isoformat())


@dataclass(frozen=True, slots=True)
class DashboardFigures:
    churn: dict[str, Any]
    switching: dict[str, Any]
    recommendations: list[RecommendationItem]
    lines_chart: BarChart
    switches_chart: BarChart
    coding_seconds: float
    zone: str  # the days' time zone: the user's stored one, else UTC (as the API without ``tz``)


def _figures(
    metrics: Metrics, insights: Insights, user_id: uuid.UUID, query: MetricsQuery
) -> DashboardFigures:
    churn = churn_body(metrics, user_id, query)
    switching = context_switching_body(metrics, user_id, query)
    coding = coding_time_body(metrics, user_id, query, query.zone or "UTC")
    recommendations = recommendations_of(insights, user_id, pending=False, limit=RECOMMENDATIONS_SHOWN)
    lines = [
        DayValues(dt.date.fromisoformat(day["date"]), up=day["lines_added"], down=day["lines_deleted"])
        for day in churn["series"]
    ]
    switches = [
        DayValues(
            dt.date.fromisoformat(day["date"]), up=day["switch_count"], highlight=day["rapid_switch_count"]
        )
        for day in switching["series"]
    ]
    return DashboardFigures(
        churn=churn,
        switching=switching,
        recommendations=recommendations,
        lines_chart=bar_chart(
            lines, up_kind="added", up_title="lines added", down_kind="deleted", down_title="lines deleted"
        ),
        switches_chart=bar_chart(
            switches,
            up_kind="switches",
            up_title="context switches",
            highlight_kind="rapid",
            highlight_title="rapid switches",
        ),
        coding_seconds=coding.total_seconds,
        zone=query.zone or "UTC",
    )


@get("/dashboard", name="dashboard")
async def dashboard_page(
    request: AnyRequest,
    accounts: NamedDependency[Accounts],
    metrics: NamedDependency[Metrics],
    insights: NamedDependency[Insights],
) -> Response[Any]:
    """The signed-in user's metrics and recommendations for the chosen range."""
    viewer = await current_viewer(request, accounts)
    if viewer is None:
        return sign_in_first(request)
    stored = await anyio.to_thread.run_sync(user_time_zone, accounts.db, viewer.user_id)
    zone = stored if stored and valid_zone(stored) else None  # the API's days without ``tz``
    today = accounts.clock().astimezone(zoneinfo.ZoneInfo(zone or "UTC")).date()
    choice = choose_range(request.query_params, today)
    context = page_context(
        viewer=viewer,
        choice=choice,
        presets=PRESETS,
        today=today.isoformat(),
        action_labels=ACTION_LABELS,
        coding_gap=f"{metrics.settings.coding_time_gap_minutes:g}",
        answer_labels=ANSWER_LABELS,
        figures=None,
        error=None,
    )
    try:
        query = with_zone(daily_query(choice.from_text, choice.to_text, top_n=TOP_FILES_SHOWN), zone)
    except ValidationFailed as exc:
        context["error"] = _range_problem(exc)
        return Template("dashboard.html", context=context, status_code=400, headers=SECURITY_HEADERS)
    context["figures"] = await anyio.to_thread.run_sync(_figures, metrics, insights, viewer.user_id, query)
    return Template("dashboard.html", context=context, headers=SECURITY_HEADERS)


def _range_problem(exc: ValidationFailed) -> str:
    message = exc.message or ""
    if "required" in message or "YYYY-MM-DD" in message:
        return "Choose a start and an end date."
    if "<=" in message:
        return "The start date must not be after the end date."
    return "Choose a range of at most 366 days."


_MAX_BIGINT = 9_223_372_036_854_775_807


def _recommendation_id(raw: str) -> int:
    """A stored recommendation id (a positive BIGINT), else 404: the database never sees the rest."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or not 1 <= int(raw) <= _MAX_BIGINT:
        raise NotFound("Recommendation not found")
    return int(raw)


@post("/dashboard/recommendations/{recommendation_id:str}", name="recommendation_action")
async def recommendation_action(
    request: AnyRequest,
    accounts: NamedDependency[Accounts],
    insights: NamedDependency[Insights],
    recommendation_id: FromPath[str],
) -> Response[Any]:
    """Accept, snooze or dismiss one of the user's recommendations, then back to the same range."""
    viewer = await current_viewer(request, accounts)
    if viewer is None:
        return sign_in_first(request, "/dashboard")
    numeric_id = _recommendation_id(recommendation_id)
    form = await request.form()
    action = form.get("action")
    if not isinstance(action, str) or action not in ACTIONS:
        raise ValidationFailed("action must be one of accepted, dismissed, snoozed")
    back = choose_range(form, accounts.clock().astimezone(dt.UTC).date())
    try:
        await anyio.to_thread.run_sync(act_on, insights, viewer.user_id, numeric_id, action)
    except AlreadyDone:
        pass  # answered meanwhile (another tab, the editor): the page shows the answer that won
    return redirect(f"/dashboard?{back.query_string}#recommendation-{numeric_id}")
