"""Recommendations as the user sees and answers them (contract §3.8): the API and the built-in
dashboard page read and act on them through these functions."""

from __future__ import annotations

import uuid
from typing import Any, Final

import msgspec
from sqlalchemy import select, update

from devflow.insights.models import Recommendation, WorkflowState
from devflow.insights.pipeline import Insights
from devflow.kernel.clock import iso_ms
from devflow.kernel.errors import AlreadyDone, NotFound, NotPermitted

ACTIONS: Final[tuple[str, ...]] = ("accepted", "dismissed", "snoozed")


class EvidenceItem(msgspec.Struct, frozen=True):
    """One cited figure: ``metric: value`` under the extension's "Why?" button."""

    metric: str
    value: float | str | None  # JSON numbers: integers included (``int | float`` would be two oneOf branches)


def _evidence(code_context: Any) -> list[EvidenceItem]:
    """``code_context.evidence`` when it is an array of ``{metric, value}`` objects, else ``[]``."""
    items = code_context.get("evidence") if isinstance(code_context, dict) else None
    if not isinstance(items, list):
        return []
    out: list[EvidenceItem] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("metric"), str):
            return []
        value = item.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float | str | None):
            return []
        out.append(EvidenceItem(metric=item["metric"], value=value))
    return out


class RecommendationItem(msgspec.Struct, frozen=True):
    """One recommendation as both clients read it (§3.8)."""

    id: int
    state_type: str
    confidence_score: float
    recommendation_type: str
    recommendation_text: str
    reasoning: str | None
    user_action: str | None
    created_at: str
    evidence: list[EvidenceItem]


def _item(rec: Recommendation, state: WorkflowState) -> RecommendationItem:
    reasoning = rec.code_context.get("reasoning") if isinstance(rec.code_context, dict) else None
    return RecommendationItem(
        id=int(rec.id),
        state_type=state.state_type,
        confidence_score=round(float(state.confidence_score), 2),
        recommendation_type=rec.recommendation_type,
        recommendation_text=rec.recommendation_text,
        reasoning=reasoning if isinstance(reasoning, str) else None,
        user_action=rec.user_action,
        created_at=iso_ms(rec.created_at) or "",
        evidence=_evidence(rec.code_context),
    )


def recommendations_of(
    insights: Insights, user_id: uuid.UUID, *, pending: bool, limit: int
) -> list[RecommendationItem]:
    """The user's newest ``limit`` recommendations (ties: higher id first); only unanswered ones with
    ``pending``. Blocking."""
    query = (
        select(Recommendation, WorkflowState)
        .join(WorkflowState, WorkflowState.id == Recommendation.workflow_state_id)
        .where(Recommendation.user_id == user_id)
        .order_by(Recommendation.created_at.desc(), Recommendation.id.desc())
        .limit(limit)
    )
    if pending:
        query = query.where(Recommendation.user_action.is_(None))
    with insights.db() as db:
        return [_item(rec, state) for rec, state in db.execute(query)]


def act_on(insights: Insights, user_id: uuid.UUID, recommendation_id: int, action: str) -> None:
    """Record the user's answer (one of :data:`ACTIONS`): steps 5–8 of the action endpoint — existence,
    ownership, state, then an atomic conditional update, so one of two concurrent answers wins. Blocking."""
    with insights.db() as db, db.begin():
        row = db.execute(
            select(Recommendation.user_id, Recommendation.user_action).where(
                Recommendation.id == recommendation_id
            )
        ).first()
        if row is None:
            raise NotFound("Recommendation not found")
        if row.user_id != user_id:
            raise NotPermitted("Forbidden")
        if row.user_action is not None:
            raise AlreadyDone("Recommendation already acted on")
        result = db.execute(
            update(Recommendation)
            .where(Recommendation.id == recommendation_id, Recommendation.user_action.is_(None))
            .values(user_action=action, acted_at=insights.clock())
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise AlreadyDone("Recommendation already acted on")
