"""Recommendations API of contract §3.8: pending, list, trigger, action."""

from __future__ import annotations

import re
from typing import Any, Final, Literal

import anyio.to_thread
import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.status_codes import HTTP_200_OK, HTTP_409_CONFLICT

from devflow.accounts import Principal
from devflow.http.body import read_json_body
from devflow.http.openapi import Param, api_doc, response_spec
from devflow.insights.pipeline import MODES, Insights, Mode, evaluate_user
from devflow.insights.recommendations import ACTIONS, RecommendationItem, act_on, recommendations_of
from devflow.kernel.errors import NotFound, ValidationFailed
from devflow.kernel.jsontext import ABSENT

DEFAULT_LIMIT: Final = 20
MAX_LIMIT: Final = 100
MAX_BIGINT: Final = 9_223_372_036_854_775_807
_DIGITS: Final = re.compile(r"[0-9]+")

MODE_MESSAGE: Final = "mode must be one of real, force, demo"
ACTION_MESSAGE: Final = "action must be one of accepted, dismissed, snoozed"
LIMIT_MESSAGE: Final = "limit must be a positive integer"
ID_MESSAGE: Final = "id must be a positive integer"


def _positive_integer(raw: str) -> int | None:
    """Digits only (ASCII) with a value ≥ 1; absurdly long values saturate instead of overflowing."""
    if not _DIGITS.fullmatch(raw):
        return None
    significant = raw.lstrip("0")
    if not significant:
        return None
    if len(significant) > 19:  # beyond any BIGINT; int() of huge strings is also slow or refused
        return MAX_BIGINT + 1
    return int(significant)


class PendingOut(msgspec.Struct, frozen=True):
    recommendation: RecommendationItem | None


class ListOut(msgspec.Struct, frozen=True):
    recommendations: list[RecommendationItem]


class ActionOut(msgspec.Struct, frozen=True):
    id: int
    user_action: Literal["accepted", "dismissed", "snoozed"]


class TriggerIn(msgspec.Struct):
    """``POST /recommendations/trigger``: the body is optional; absent, ``{}`` or null mean ``real``."""

    mode: Literal["real", "force", "demo"] | None = None


class ActionIn(msgspec.Struct):
    action: Literal["accepted", "dismissed", "snoozed"]


_Unset = msgspec.UnsetType


class TriggerOut(msgspec.Struct, omit_defaults=True):
    """What the evaluation did: ``{skipped, reason}``, ``{skipped, rule, state_type, recommendation_id}``
    (real/force) or ``{skipped, mode, recommendation_id}`` (demo); §3.8."""

    skipped: bool
    reason: Literal["cooldown", "no_session", "no_rule_fired", "llm_failed"] | _Unset = msgspec.UNSET
    mode: Literal["demo"] | _Unset = msgspec.UNSET
    rule: str | _Unset = msgspec.UNSET
    state_type: str | _Unset = msgspec.UNSET
    recommendation_id: int | _Unset | None = msgspec.UNSET


_MODE_400 = f'`{{"error":"Invalid JSON"}}` or `{{"error":"Validation failed","message":"{MODE_MESSAGE}"}}`'
_ID_PARAM = Param(
    "recommendation_id",
    {"type": "string", "pattern": "^[0-9]*[1-9][0-9]*$"},
    f"Digits only, ≥ 1; else 400 `{ID_MESSAGE}`",
)


@get(
    "/recommendations/pending",
    operation_id="recommendations_pending",
    tags=["recommendations"],
    **api_doc(auth="either"),
)
async def pending_recommendation(
    insights: NamedDependency[Insights], principal: NamedDependency[Principal]
) -> PendingOut:
    """The caller's pending recommendation, or ``null`` (never 404)."""
    items = await anyio.to_thread.run_sync(
        lambda: recommendations_of(insights, principal.user_id, pending=True, limit=1)
    )
    return PendingOut(recommendation=items[0] if items else None)


def _parse_limit(request: Request[Any, Any, Any]) -> int:
    values = request.query_params.getall("limit", [])
    if not values:
        return DEFAULT_LIMIT
    value = _positive_integer(values[0]) if len(values) == 1 else None
    if value is None:
        raise ValidationFailed(LIMIT_MESSAGE)
    return min(value, MAX_LIMIT)


@get(
    "/recommendations",
    operation_id="recommendations_list",
    tags=["recommendations"],
    **api_doc(
        auth="either",
        errors=(400,),
        error_texts={400: f'`{{"error":"Validation failed","message":"{LIMIT_MESSAGE}"}}`'},
        query=(
            Param(
                "limit",
                {"type": "string", "pattern": "^[0-9]*[1-9][0-9]*$", "default": str(DEFAULT_LIMIT)},
                f"Digits only, ≥ 1; values above {MAX_LIMIT} are clamped to {MAX_LIMIT}",
            ),
        ),
    ),
)
async def list_recommendations(
    request: Request[Any, Any, Any],
    insights: NamedDependency[Insights],
    principal: NamedDependency[Principal],
) -> ListOut:
    """The caller's recommendations with any ``user_action``, newest first (ties: higher id first)."""
    limit = _parse_limit(request)
    items = await anyio.to_thread.run_sync(
        lambda: recommendations_of(insights, principal.user_id, pending=False, limit=limit)
    )
    return ListOut(recommendations=items)


@post(
    "/recommendations/trigger",
    operation_id="recommendations_trigger",
    tags=["recommendations"],
    status_code=HTTP_200_OK,
    **api_doc(
        auth="either",
        body=TriggerIn,
        error_texts={400: _MODE_400},
        responses={
            200: response_spec("Evaluated, or skipped by a gate (`skipped`, `reason`)", TriggerOut),
            409: response_spec(
                'Demo mode without a session: `{"skipped":true,"reason":"no_session"}`', TriggerOut
            ),
        },
    ),
)
async def trigger_recommendation(
    request: Request[Any, Any, Any],
    insights: NamedDependency[Insights],
    principal: NamedDependency[Principal],
) -> Response[TriggerOut]:
    """Evaluate the caller now in ``real`` (default), ``force`` or ``demo`` mode (§7.2)."""
    body = await read_json_body(request)
    mode: Mode = "real"
    if body is not ABSENT:
        if not isinstance(body, dict):
            raise ValidationFailed(MODE_MESSAGE)
        raw = body.get("mode")
        if raw is not None:
            if not isinstance(raw, str) or raw not in MODES:
                raise ValidationFailed(MODE_MESSAGE)
            mode = raw  # type: ignore[assignment]
    result = await anyio.to_thread.run_sync(evaluate_user, insights, principal.user_id, mode)
    status = HTTP_409_CONFLICT if (mode == "demo" and result.skipped) else HTTP_200_OK
    return Response(content=msgspec.convert(result.body(), TriggerOut), status_code=status)


@post(
    "/recommendations/{recommendation_id:str}/action",
    operation_id="recommendations_action",
    tags=["recommendations"],
    status_code=HTTP_200_OK,
    **api_doc(
        auth="either",
        body=ActionIn,
        body_required=True,
        errors=(403, 404, 409),
        error_texts={
            400: f'`{{"error":"Invalid JSON"}}`, or `{{"error":"Validation failed","message":…}}` with '
            f'"{ACTION_MESSAGE}" (the body is checked first) or "{ID_MESSAGE}"',
            403: '`{"error":"Forbidden"}`: another user\'s recommendation, or a cookie request '
            "from a foreign "
            "`Origin`",
            404: '`{"error":"Recommendation not found"}`',
            409: '`{"error":"Recommendation already acted on"}`',
        },
        path=(_ID_PARAM,),
    ),
)
async def act_on_recommendation(
    request: Request[Any, Any, Any],
    insights: NamedDependency[Insights],
    principal: NamedDependency[Principal],
    recommendation_id: FromPath[str],
) -> ActionOut:
    """Accept, dismiss or snooze a recommendation; exactly one of two concurrent actions wins."""
    body = await read_json_body(request)
    # The body is checked before the id (§3.8).
    action = body.get("action") if isinstance(body, dict) else None
    if body is not ABSENT and not isinstance(body, dict):
        action = None
    if not isinstance(action, str) or action not in ACTIONS:
        raise ValidationFailed(ACTION_MESSAGE)
    numeric_id = _positive_integer(recommendation_id)
    if numeric_id is None:
        raise ValidationFailed(ID_MESSAGE)
    if numeric_id > MAX_BIGINT:
        raise NotFound("Recommendation not found")
    await anyio.to_thread.run_sync(act_on, insights, principal.user_id, numeric_id, action)
    return ActionOut(id=numeric_id, user_action=action)  # type: ignore[arg-type]


ROUTES: Final = [pending_recommendation, list_recommendations, trigger_recommendation, act_on_recommendation]
