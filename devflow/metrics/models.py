"""ETL bookkeeping: one row per finished pass (watermarks in ingestion order), and which lake files
each pass took in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from devflow.db.base import Base, BigIntPK, UTCDateTime, utcnow


class EtlRun(Base):
    __tablename__ = "etl_runs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Highest lake_files.seq taken in by this pass.
    last_file_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    watermark_before: Mapped[int] = mapped_column(BigInteger, default=0)
    watermark_after: Mapped[int] = mapped_column(BigInteger, default=0)
    processed_count: Mapped[int] = mapped_column(BigInteger, default=0)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    definition: Mapped[str] = mapped_column(String(32), default="line-delta")


class EtlFile(Base):
    """A registered event file that an ETL pass has taken in.

    A "highest seq seen" watermark alone could skip files: on PostgreSQL two writers may commit
    their registrations out of sequence order (seq 11 visible before seq 10), so a pass that read
    up to 11 would never see 10. Recording every taken file makes "not yet taken" an anti-join.
    """

    __tablename__ = "etl_files"

    file_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    run_id: Mapped[int] = mapped_column(BigInteger, index=True)
    ingested_rows: Mapped[int] = mapped_column(BigInteger, default=0)
