"""The ETL's transform as Polars lazy frames: the same definitions as ``sql/metrics/*.sql``.

The SQL files are what analysts read and run (:func:`devflow.metrics.compute.compute_session_metrics`
executes them with DuckDB); this module computes exactly the same rows about twice as fast on this
machine (multi-threaded sorts and hash group-bys over string views), which is what the ETL's speed
targets need. ``tests/metrics/test_sql_equivalence.py`` keeps the two identical on random data.

Step by step (contract §4.7, §6.1–6.3):

1. keep the metric event types; de-duplicate by (session_id, fingerprint), keeping the first copy in
   ingestion order — only rows whose key hash repeats are sorted, the rest pass through;
2. derive ``day`` (UTC date), ``file_key`` (absolute path when non-empty, else path) and R / W from
   the affected line ranges whose end ≥ start;
3. line-delta: order the text_change/file_save rows by (session, file key, has lines, timestamp,
   ingestion order) — see :func:`_ordered_edits` — and take the previous row's ``file_lines`` in the
   same group as baseline B;
4. aggregate per (user, session, day): totals (path null) and switches per to_file, then per session.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from devflow.metrics.compute import METRIC_TYPES, SESSION_DAY_SCHEMA, SESSION_SCHEMA, SessionMetrics

_INGESTION_ORDER = ["received_at", "batch_id", "batch_index"]
_DAY_KEYS = ["user_id", "session_id", "date"]
_FIGURES = ["lines_added", "lines_deleted", "switch_count", "rapid_switch_count", "activity_count"]


def _deduplicated(raw: pl.LazyFrame) -> pl.LazyFrame:
    events = raw.filter(pl.col("type").is_in(list(METRIC_TYPES))).with_columns(
        _key_hash=pl.struct("session_id", "fingerprint").hash(seed=0)
    )
    maybe_repeated = pl.col("_key_hash").is_duplicated()
    unique = events.filter(~maybe_repeated)
    # A hash collision only sends a few more rows through the exact (sorted) path.
    repeated = (
        events.filter(maybe_repeated)
        .sort(_INGESTION_ORDER)
        .unique(subset=["session_id", "fingerprint"], keep="first", maintain_order=True)
    )
    return pl.concat([unique, repeated]).drop("_key_hash", "fingerprint")


def _with_derived(events: pl.LazyFrame) -> pl.LazyFrame:
    element = pl.element()
    start, end = element.struct.field("start"), element.struct.field("end")
    valid = start.is_not_null() & end.is_not_null() & (end >= start)
    ranges = pl.col("affected_line_ranges")
    absolute = pl.col("file_absolute_path")
    return events.with_columns(
        date=pl.col("timestamp").dt.convert_time_zone("UTC").dt.date(),
        file_key=pl.when(absolute.is_not_null() & (absolute != ""))
        .then(absolute)
        .otherwise(pl.col("file_path")),
        replaced_breaks=ranges.list.eval(pl.when(valid).then(end - start).otherwise(0))
        .list.sum()
        .fill_null(0),
        touched_lines=ranges.list.eval(pl.when(valid).then(end - start + 1).otherwise(0))
        .list.sum()
        .fill_null(0),
    ).drop("affected_line_ranges", "file_path", "file_absolute_path")


def _ordered_edits(edits: pl.DataFrame) -> pl.DataFrame:
    """The text_change/file_save rows, each (session, file key, has lines) group contiguous and in
    (timestamp, ingestion order).

    Sorting by seven keys, three of them long strings, dominates the ETL's cost, so the rows are
    sorted by (64-bit hash of session and file key, has lines, timestamp) and two exact checks
    follow: a hash shared by two groups (collision) re-sorts everything by the real keys, and
    groups with equal timestamps are re-sorted by the ingestion order. Either way the order is the
    contract's, only cheaper to reach in the common case.
    """
    group_hash = pl.struct("session_id", "file_key").hash(seed=0)
    fast = edits.with_columns(_g=group_hash).sort(["_g", "_no_lines", "timestamp"])
    same_hash = pl.col("_g") == pl.col("_g").shift(1)
    other_group = ~pl.col("session_id").eq_missing(pl.col("session_id").shift(1)) | ~pl.col(
        "file_key"
    ).eq_missing(pl.col("file_key").shift(1))
    checks = fast.select(
        collision=(same_hash & other_group).any(),
        tied=pl.col("_g")
        .filter(
            same_hash
            & (pl.col("_no_lines") == pl.col("_no_lines").shift(1))
            & (pl.col("timestamp") == pl.col("timestamp").shift(1))
        )
        .implode(),
    )
    if checks["collision"][0]:
        return edits.sort(
            ["session_id", "file_key", "_no_lines", "timestamp", *_INGESTION_ORDER]
        ).with_columns(_g=group_hash)
    tied = checks["tied"][0]
    if tied is None or len(tied) == 0:
        return fast
    in_tied = pl.col("_g").is_in(tied.unique().implode())
    exact = fast.filter(in_tied).sort(["_g", "_no_lines", "timestamp", *_INGESTION_ORDER])
    return pl.concat([fast.filter(~in_tied), exact])


def _lines(events: pl.DataFrame, definition: str) -> pl.LazyFrame:
    """Per text_change: user_id, session_id, date, lines_added, lines_deleted."""
    keep = ["user_id", "session_id", "date"]
    if definition == "typing-heuristic":
        touched = pl.col("touched_lines")
        return (
            events.lazy()
            .filter(pl.col("type") == "text_change")
            .select(
                *keep,
                lines_added=pl.when(pl.col("characters_added") > 0).then(touched).otherwise(0),
                lines_deleted=pl.when(pl.col("characters_deleted") > 0).then(touched).otherwise(0),
            )
        )
    edits = _ordered_edits(
        events.filter(pl.col("type").is_in(["text_change", "file_save"])).with_columns(
            _no_lines=pl.col("file_lines").is_null()
        )
    )
    # Groups are contiguous: the previous row is the baseline when it belongs to the same group.
    same_group = (pl.col("_g") == pl.col("_g").shift(1)) & (
        pl.col("_no_lines") == pl.col("_no_lines").shift(1)
    )
    baseline = pl.when(same_group).then(pl.col("file_lines").shift(1))
    k = pl.col("file_lines") - pl.col("_baseline") + pl.col("replaced_breaks")
    return (
        edits.lazy()
        .with_columns(_baseline=baseline)
        .filter(pl.col("type") == "text_change")
        .select(
            *keep,
            lines_added=pl.when(k.is_not_null() & (k >= 0) & (k <= pl.col("characters_added")))
            .then(k)
            .otherwise(0),
            lines_deleted=pl.col("replaced_breaks"),
        )
    )


def session_metrics_frames(raw: pl.LazyFrame | pl.DataFrame | pa.Table, definition: str) -> SessionMetrics:
    """Recompute, whole, the metrics of every session in ``raw`` (its raw lake events, duplicates
    allowed; at least the ``RAW_COLUMNS``). Same rows as the SQL of ``sql/metrics/``."""
    if isinstance(raw, pa.Table):
        frame = pl.from_arrow(raw)
        assert isinstance(frame, pl.DataFrame)
        raw = frame
    lazy = raw.lazy() if isinstance(raw, pl.DataFrame) else raw
    collected = _with_derived(_deduplicated(lazy)).collect()
    events = collected.lazy()
    zero = pl.lit(0, pl.Int64)
    lines = (
        _lines(collected, definition)
        .group_by(_DAY_KEYS)
        .agg(
            lines_added=pl.col("lines_added").sum().cast(pl.Int64),
            lines_deleted=pl.col("lines_deleted").sum().cast(pl.Int64),
            switch_count=zero,
            rapid_switch_count=zero,
            activity_count=pl.len().cast(pl.Int64),
        )
    )
    switches = events.filter(pl.col("type") == "editor_switch")
    switch_totals = switches.group_by(_DAY_KEYS).agg(
        lines_added=zero,
        lines_deleted=zero,
        switch_count=pl.len().cast(pl.Int64),
        rapid_switch_count=pl.col("is_rapid_context_switching").fill_null(False).cast(pl.Int64).sum(),
        activity_count=pl.len().cast(pl.Int64),
    )
    save_days = (
        events.filter(pl.col("type") == "file_save")
        .select(_DAY_KEYS)
        .unique()
        .with_columns(**{name: zero for name in _FIGURES})
    )
    totals = (
        pl.concat([lines, switch_totals, save_days], how="vertical_relaxed")
        .group_by(_DAY_KEYS)
        .agg(*[pl.col(name).sum().cast(pl.Int64) for name in _FIGURES])
        .with_columns(path=pl.lit(None, pl.String))
    )
    per_file = (
        switches.filter(pl.col("to_file").is_not_null() & (pl.col("to_file") != ""))
        .group_by([*_DAY_KEYS, "to_file"])
        .agg(switch_count=pl.len().cast(pl.Int64))
        .select(
            *_DAY_KEYS,
            path=pl.col("to_file"),
            lines_added=zero,
            lines_deleted=zero,
            switch_count=pl.col("switch_count"),
            rapid_switch_count=zero,
            activity_count=zero,
        )
    )
    day_columns = ["user_id", "session_id", "date", "path", *_FIGURES]
    session_day = (
        pl.concat([totals.select(day_columns), per_file.select(day_columns)], how="vertical_relaxed")
        .sort(["date", "user_id", "session_id", "path"], nulls_last=True)
        .with_columns(definition=pl.lit(definition))
    )
    sessions = (
        totals.group_by(["user_id", "session_id"])
        .agg(*[pl.col(name).sum().cast(pl.Int64) for name in _FIGURES], dates=pl.col("date").sort())
        .sort(["user_id", "session_id"])
        .with_columns(definition=pl.lit(definition))
    )
    day_frame, session_frame = pl.collect_all([session_day, sessions])
    return SessionMetrics(
        session_day=day_frame.to_arrow().cast(SESSION_DAY_SCHEMA),
        sessions=session_frame.select([f.name for f in SESSION_SCHEMA]).to_arrow().cast(SESSION_SCHEMA),
    )
