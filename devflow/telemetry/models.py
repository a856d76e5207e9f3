"""Database model of the telemetry context: sessions (events themselves live in the lake)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from devflow.db.base import Base, UTCDateTime, utcnow


class Session(Base):
    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_user_last_event", "user_id", "last_event_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # client-supplied session_id
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    start_time: Mapped[datetime] = mapped_column(UTCDateTime)
    last_event_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
