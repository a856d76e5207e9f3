"""Where the metric partitions live under the lake root, and how they are replaced.

* ``metrics_daily/date=YYYY-MM-DD/data.parquet`` — one row per (user, session, UTC date) with the
  day's totals. A user's day is the sum of its session rows.
* ``metrics_file_switches/date=YYYY-MM-DD/data.parquet`` — one row per (user, session, UTC
  15-minute ``bucket_start``, to_file) with its switch count; every path is kept, so ``top_files``
  is exact, in UTC days and in any zone's days.
* ``metrics_quarter_hours/date=YYYY-MM-DD/data.parquet`` — the ``metrics_daily`` figures per (user,
  session, UTC 15-minute ``bucket_start``): every IANA offset is a multiple of 15 minutes, so a day
  in any zone (+05:45, 23 or 25 hours) is an exact sum of buckets (the ``tz`` reads).
* ``metrics_coding_time/date=YYYY-MM-DD/data.parquet`` — seconds of coding time per (user, session,
  UTC 15-minute ``bucket_start``, language, workspace, file); ``date`` is the bucket's UTC date.
* ``metrics_session/user_bucket=X/data.parquet`` — one row per session (every session with events):
  its totals, start, end, duration, active seconds, event counts per type and the list of UTC
  ``dates`` it has events or rows on (its rows in the dated datasets); ``X`` is the first hex digit
  of the user id, so one user's sessions are in one file and a pass rewrites at most 16 small files.

Every row carries the definition it was computed with: the line ``definition`` and, for coding
time and sessions, ``coding_gap_minutes``.

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
METRICS_FILE_SWITCHES_DIR = "metrics_file_switches"
METRICS_CODING_TIME_DIR = "metrics_coding_time"
METRICS_QUARTER_HOURS_DIR = "metrics_quarter_hours"
DATED_DIRS = (
    METRICS_DAILY_DIR,
    METRICS_FILE_SWITCHES_DIR,
    METRICS_CODING_TIME_DIR,
    METRICS_QUARTER_HOURS_DIR,
)
PARTITION_FILE = "data.parquet"


def daily_partition(day: dt.date | str) -> str:
    """Root-relative path of the daily metrics partition of ``day``."""
    text = day if isinstance(day, str) else day.isoformat()
    return f"{METRICS_DAILY_DIR}/date={text}/{PARTITION_FILE}"


def dated_partition(kind: str, day: dt.date | str) -> str:
    """Root-relative path of the ``kind`` partition (one of ``DATED_DIRS``) of ``day``."""
    text = day if isinstance(day, str) else day.isoformat()
    return f"{kind}/date={text}/{PARTITION_FILE}"


def user_bucket(user_id: str) -> str:
    """The session-partition bucket of a user: the first hex digit of its id."""
    return user_id[:1].lower()


def session_partition(bucket: str) -> str:
    """Root-relative path of the session metrics partition of a user bucket."""
    return f"{METRICS_SESSION_DIR}/user_bucket={bucket}/{PARTITION_FILE}"
