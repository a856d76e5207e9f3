"""Vectorised synthetic raw events (``EVENT_SCHEMA``) for ETL benchmarks and load tests.

Built column by column with NumPy/Arrow (millions of rows per second), never event by event. The
rows are plausible for the metrics (text changes with line counts and ranges, saves, switches with
rapid flags) and carry unique fingerprints; other columns are null and ``raw`` is ``{}``.
"""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.orm import Session, sessionmaker

from devflow.lake.partitions import WrittenFile, write_partitioned
from devflow.lake.registry import register_files
from devflow.lake.storage import LakeStorage
from devflow.telemetry import EVENTS_TABLE, event_schema, line_range_type

_TYPES = np.array(["text_change", "editor_switch", "file_save"])


def synthetic_events(
    n: int,
    *,
    user_ids: list[str],
    start: dt.date,
    days: int,
    sessions_per_user_day: int = 3,
    files_per_user: int = 40,
    seed: int = 0,
) -> pa.Table:
    """``n`` events spread over ``user_ids`` × ``days`` days from ``start`` (UTC), sorted by user and time."""
    rng = np.random.default_rng(seed)
    n_users = len(user_ids)
    user_idx = rng.integers(0, n_users, n)
    day_idx = rng.integers(0, days, n)
    sess_idx = rng.integers(0, sessions_per_user_day, n)
    # Session ids derive deterministically from (user, day, slot) and the seed.
    slot = (user_idx * days + day_idx) * sessions_per_user_day + sess_idx
    n_slots = n_users * days * sessions_per_user_day
    session_pool = pa.array([str(uuid.UUID(int=i * 2654435761 + 1, version=4)) for i in range(n_slots)])
    base_us = int(dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC).timestamp() * 1_000_000)
    seconds = sess_idx * 3 * 3600 + rng.integers(0, 2 * 3600, n)  # sessions are ~2 h apart
    ts_us = base_us + day_idx.astype(np.int64) * 86_400_000_000 + seconds.astype(np.int64) * 1_000_000
    ts_us += rng.integers(0, 1000, n) * 1000
    order = np.lexsort((ts_us, user_idx))
    user_idx, slot, ts_us = user_idx[order], slot[order], ts_us[order]
    kinds = rng.choice(3, n, p=[0.55, 0.3, 0.15])
    is_tc, is_sw, is_fs = kinds == 0, kinds == 1, kinds == 2
    has_file = is_tc | is_fs
    file_no = rng.integers(0, files_per_user, n)
    paths = pa.array([f"src/module{i % 7}/file{i}.ts" for i in range(files_per_user)])
    file_path = paths.take(pa.array(file_no))
    abs_prefix = pa.array(["/home/dev/project/"] * n)
    abs_path = pc.binary_join_element_wise(abs_prefix, file_path, "")
    null_unless_file = pa.array(~has_file)
    lines = rng.integers(1, 800, n)
    start_line = rng.integers(1, 400, n)
    span = rng.choice(np.array([0, 0, 0, 1, 2, 5]), n)
    ranges_struct = pa.StructArray.from_arrays(
        [pa.array(start_line), pa.array(start_line + span)], fields=list(line_range_type())
    )
    ranges = pa.ListArray.from_arrays(
        pa.array(np.arange(n + 1, dtype=np.int32)), ranges_struct, mask=pa.array(~is_tc)
    )
    received = pa.array(
        np.full(n, int(dt.datetime.now(dt.UTC).timestamp() * 1_000_000)), pa.timestamp("us", "UTC")
    )
    batch = uuid.uuid4().hex
    index = pa.array(np.arange(n, dtype=np.int64)).cast(pa.string())
    fingerprint = pc.binary_join_element_wise(
        pa.array([f"{seed:016x}{batch}"[:48]] * n), pc.utf8_lpad(index, 16, "0"), ""
    )
    users = pa.array(user_ids).take(pa.array(user_idx))
    columns: dict[str, pa.Array] = {
        "user_id": users,
        "session_id": session_pool.take(pa.array(slot)),
        "type": pa.array(_TYPES[kinds]),
        "timestamp": pa.array(ts_us, pa.timestamp("us", "UTC")),
        "received_at": received,
        "batch_id": pa.array([batch] * n),
        "batch_index": pa.array(np.arange(n, dtype=np.int32) % 10_000),
        "fingerprint": fingerprint,
        "file_path": pc.if_else(null_unless_file, pa.nulls(n, pa.string()), file_path),
        "file_absolute_path": pc.if_else(null_unless_file, pa.nulls(n, pa.string()), abs_path),
        "file_lines": pa.array(lines, mask=~has_file),
        "characters_added": pa.array(rng.choice(np.array([0, 1, 1, 3, 40, 250]), n), mask=~is_tc),
        "characters_deleted": pa.array(rng.choice(np.array([0, 0, 1, 12]), n), mask=~is_tc),
        "affected_line_ranges": ranges,
        "to_file": pc.if_else(pa.array(~is_sw), pa.nulls(n, pa.string()), file_path),
        "is_rapid_context_switching": pa.array(rng.random(n) < 0.2, mask=~is_sw),
        "raw": pa.array(["{}"] * n),
    }
    arrays = [
        columns[f.name].cast(f.type) if f.name in columns else pa.nulls(n, f.type) for f in event_schema()
    ]
    return pa.Table.from_arrays(arrays, schema=event_schema())


def write_event_files(storage: LakeStorage, db: sessionmaker[Session], table: pa.Table) -> list[WrittenFile]:
    """Write an ``EVENT_SCHEMA`` table as one file per UTC date and register each, as an import does."""
    files = write_partitioned(storage, EVENTS_TABLE, table)
    register_files(db, files)
    return files
