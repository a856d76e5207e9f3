"""Where the metric partitions live under the lake root, and how they are replaced.

* ``metrics_daily/date=YYYY-MM-DD/data.parquet`` — one row per (user, session, UTC date) with the
  day's totals (``path`` null) plus one row per (user, session, date, to_file) with its switch count.
  A user's day is the sum of its session rows; every path is kept, so ``top_files`` is exact.
* ``metrics_session/user_bucket=X/data.parquet`` — one row per session: its totals and the list of
  UTC ``dates`` it has metric events on (its per-file switch counts are its path rows in those daily
  partitions); ``X`` is the first hex digit of the user id, so one user's sessions are in one file
  and a pass rewrites at most 16 small session files.

Every row carries the line ``definition`` it was computed with.

**Atomic replacement.** A partition is always rewritten whole: the new content is written to a
temporary name in the same folder (``data.parquet.<random>.tmp``, never matched by ``*.parquet``),
fsynced, and renamed over ``data.parquet`` (:meth:`LakeStorage.write_parquet_atomic`; a single PUT on
an object store, see :func:`devflow.lake.partitions.replace_partition`). A reader therefore opens either
the old file or the new one, never a mix, and an emptied partition is deleted.
"""

from __future__ import annotations

import datetime as dt

METRICS_DAILY_DIR = "metrics_daily"
METRICS_SESSION_DIR = "metrics_session"
PARTITION_FILE = "data.parquet"


def daily_partition(day: dt.date | str) -> str:
    """Root-relative path of the daily metrics partition of ``day``."""
    text = day if isinstance(day, str) else day.isoformat()
    return f"{METRICS_DAILY_DIR}/date={text}/{PARTITION_FILE}"


def user_bucket(user_id: str) -> str:
    """The session-partition bucket of a user: the first hex digit of its id."""
    return user_id[:1].lower()


def session_partition(bucket: str) -> str:
    """Root-relative path of the session metrics partition of a user bucket."""
    return f"{METRICS_SESSION_DIR}/user_bucket={bucket}/{PARTITION_FILE}"
