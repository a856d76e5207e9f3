"""Database models of the insights context: workflow states, recommendations, generator calls."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from devflow.db.base import Base, BigIntPK, UTCDateTime, utcnow

PortableJSON = JSON().with_variant(JSONB(), "postgresql")


class WorkflowState(Base):
    __tablename__ = "workflow_states"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sessions.id", ondelete="SET NULL"))
    state_type: Mapped[str] = mapped_column(String(32))
    confidence_score: Mapped[Decimal] = mapped_column(Numeric(3, 2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Recommendation(Base):
    __tablename__ = "recommendations"
    __table_args__ = (
        Index("ix_recommendations_user_created", "user_id", "created_at"),
        # The one-pending-recommendation invariant (contract §7.2), enforced by the database too.
        Index(
            "uq_recommendations_one_pending",
            "user_id",
            unique=True,
            postgresql_where=text("user_action IS NULL"),
            sqlite_where=text("user_action IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    workflow_state_id: Mapped[int] = mapped_column(ForeignKey("workflow_states.id", ondelete="CASCADE"))
    recommendation_type: Mapped[str] = mapped_column(String(32))
    recommendation_text: Mapped[str] = mapped_column(Text)
    code_context: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    user_action: Mapped[str | None] = mapped_column(String(16))
    acted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InsightEvaluation(Base):
    """One generator call and its outcome (recommendation / normal / failed): the evaluation gate."""

    __tablename__ = "insight_evaluations"
    __table_args__ = (Index("ix_insight_evaluations_user_called", "user_id", "called_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    called_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(16))


class EvaluationLease(Base):
    """Who evaluates a user until when: a claim that lives outside any transaction, so no pooled
    connection is held while the model is called."""

    __tablename__ = "evaluation_leases"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
