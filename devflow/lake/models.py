"""Bookkeeping of the lake in the database: which event files exist, in ingestion order.

The ETL's watermarks (contract §3.7) are cumulative row counts over this registry.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from devflow.db.base import Base, BigIntPK, UTCDateTime, utcnow


class LakeFile(Base):
    """An immutable Parquet file of raw events, registered after it was renamed into place."""

    __tablename__ = "lake_files"

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # "events" | "quarantine"
    path: Mapped[str] = mapped_column(String(512), unique=True)  # relative to the lake root
    partition_date: Mapped[str] = mapped_column(String(10), index=True)
    row_count: Mapped[int] = mapped_column(Integer)
    # Ingestion rows of this file that count towards the watermark (0 for compaction outputs).
    ingested_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when compaction replaced the file; readers skip files that are superseded.
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
