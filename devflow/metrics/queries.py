"""Reading the metric partitions: the figures behind ``/metrics/*`` and the insight features.

Partitions are loaded with DuckDB (aggregated per user, or per session) and kept in a small
per-process cache keyed by the file's identity (inode, mtime, size; mtime and size on an object
store). The ETL replaces a partition by renaming a new file over it, which changes that identity,
so a cached entry is never served after its file was replaced — and a 30-day read costs 30 ``stat``
calls plus dictionary look-ups instead of 30 Parquet scans.

For other contexts (through :mod:`devflow.metrics`): :func:`user_day_metrics` — one UTC day's figures
for many users — and :func:`top_files` — a user's exact top switched-to files over a date range.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from devflow.kernel.lazy import np, pa, pc, pl
from devflow.lake.storage import LakeStorage, lake_io
from devflow.metrics.compute import duckdb_connection
from devflow.metrics.layout import (
    METRICS_CODING_TIME_DIR,
    METRICS_FILE_SWITCHES_DIR,
    METRICS_QUARTER_HOURS_DIR,
    daily_partition,
    dated_partition,
    session_partition,
    user_bucket,
)

if TYPE_CHECKING:
    import numpy.typing as npt


_T = TypeVar("_T")


@dataclass(slots=True)
class Figures:
    """Metric totals of one user-day or one session, with exact per-file switch counts."""

    lines_added: int = 0
    lines_deleted: int = 0
    switch_count: int = 0
    rapid_switch_count: int = 0
    activity_count: int = 0
    files: dict[str, int] = field(default_factory=dict)
    dates: tuple[dt.date, ...] = ()  # sessions only: the UTC dates it has metric events on

    def add(self, other: Figures) -> None:
        """Accumulate ``other`` into this total."""
        self.lines_added += other.lines_added
        self.lines_deleted += other.lines_deleted
        self.switch_count += other.switch_count
        self.rapid_switch_count += other.rapid_switch_count
        self.activity_count += other.activity_count
        for path, count in other.files.items():
            self.files[path] = self.files.get(path, 0) + count

    def top_files(self, n: int) -> list[tuple[str, int]]:
        """The ``n`` most switched-to files: count descending, then path ascending (§6.3)."""
        return sorted(self.files.items(), key=lambda item: (-item[1], item[0]))[:n]


# (definition, key) -> Figures; key is the user id (daily partitions) or the session id (sessions)
PartitionFigures = dict[tuple[str, str], Figures]
# (definition, user id, local date) -> Figures
ZonedFigures = dict[tuple[str, str, dt.date], Figures]
# Also keyed under this "definition": some stored definition's figures of the key (see ``pick``).
_ANY_DEFINITION = ""

_DAILY_SQL = """
SELECT definition, user_id, NULL AS path,
       sum(lines_added), sum(lines_deleted), sum(switch_count), sum(rapid_switch_count), sum(activity_count)
FROM partition_rows
GROUP BY definition, user_id
"""
_DAILY_FILES_SQL = """
SELECT definition, user_id, path, 0, 0, sum(switch_count), 0, 0
FROM partition_rows
GROUP BY definition, user_id, path
"""
_SESSION_SQL = """
SELECT definition, session_id, NULL AS path,
       lines_added, lines_deleted, switch_count, rapid_switch_count, activity_count, dates
FROM partition_rows
"""
_SESSION_FILES_SQL = """
SELECT definition, session_id, path, 0, 0, sum(switch_count), 0, 0
FROM partition_rows
GROUP BY definition, session_id, path
"""


class MetricsReader:
    """Cached, thread-safe access to the metric partitions of one lake."""

    def __init__(self, storage: LakeStorage, max_rows: int = 2_000_000, max_names: int = 200_000) -> None:
        self.storage = storage
        # Bounded by the partitions' row counts (a day of a big deployment holds many users).
        self._max_rows = max_rows
        self._rows = 0
        self._cache: OrderedDict[str, tuple[Hashable, PartitionFigures, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._tables: OrderedDict[str, tuple[Hashable, pa.Table]] = OrderedDict()
        self._zoned: OrderedDict[str, tuple[Hashable, ZonedFigures]] = OrderedDict()
        self._by_user: OrderedDict[str, tuple[Hashable, _CodingDay]] = OrderedDict()
        self._max_names = max_names
        self._names = NameCodes(max_names)
        self._max_tables = 400
        # A cache miss loads under the stripe of its key, so the concurrent first reads of one
        # partition (a dashboard's requests right after a start) load it once; the others wait and
        # find it cached. Striped to stay bounded: unrelated keys rarely share a stripe.
        self._stripes = [threading.Lock() for _ in range(64)]

    def _loading(self, key: str) -> threading.Lock:
        return self._stripes[hash(key) % len(self._stripes)]

    @lake_io
    def _identity(self, path: str) -> Hashable | None:
        full = self.storage.full_path(path)
        if self.storage.is_local:
            try:
                st = os.stat(full)
            except FileNotFoundError:
                return None
            return (st.st_ino, st.st_mtime_ns, st.st_size)
        info = self.storage.fs.get_file_info(full)
        if info.size is None:
            return None
        return (info.mtime_ns, info.size)

    def _load(self, path: str, sql: str) -> PartitionFigures:
        identity = self._identity(path)
        key = f"{path}#{hash(sql)}"
        if identity is None:
            with self._lock:
                gone = self._cache.pop(key, None)
                if gone is not None:
                    self._rows -= gone[2]
            return {}
        cached = self._cached_figures(key, identity)
        if cached is not None:
            return cached
        with self._loading(key):
            cached = self._cached_figures(key, identity)
            if cached is not None:
                return cached
            try:
                table = self.storage.read_table(path)
            except FileNotFoundError:
                return {}  # emptied (deleted) between stat and read; a replaced file reads whole
            figures = _aggregate(table, sql)
            weight = max(1, table.num_rows)
            with self._lock:
                old = self._cache.pop(key, None)
                if old is not None:
                    self._rows -= old[2]
                self._cache[key] = (identity, figures, weight)
                self._rows += weight
                while self._rows > self._max_rows and len(self._cache) > 1:
                    _, (_, _, evicted) = self._cache.popitem(last=False)
                    self._rows -= evicted
            return figures

    def _cached_figures(self, key: str, identity: Hashable) -> PartitionFigures | None:
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] == identity:
                self._cache.move_to_end(key)
                return hit[1]
        return None

    def _load_table(self, path: str) -> pa.Table | None:
        return self._derived(self._tables, path, lambda table: table)

    def _derived(
        self, cache: OrderedDict[str, tuple[Hashable, _T]], path: str, build: Callable[[pa.Table], _T]
    ) -> _T | None:
        """``build`` of the partition file ``path``, cached in ``cache`` for as long as the file's
        identity stays the same (None when there is no file)."""
        identity = self._identity(path)
        if identity is None:
            with self._lock:
                cache.pop(path, None)
            return None
        cached = self._cached(cache, path, identity)
        if cached is not None:
            return cached
        with self._loading(path):
            cached = self._cached(cache, path, identity)
            if cached is not None:
                return cached
            table = self._read_or_none(path)
            if table is None:
                return None
            value = build(table)
            with self._lock:
                cache[path] = (identity, value)
                cache.move_to_end(path)
                while len(cache) > self._max_tables:
                    cache.popitem(last=False)
            return value

    def _cached(
        self, cache: OrderedDict[str, tuple[Hashable, _T]], key: str, identity: Hashable
    ) -> _T | None:
        """The value cached under ``key`` for this file identity (None when there is none: no cached
        value is None)."""
        with self._lock:
            hit = cache.get(key)
            if hit is not None and hit[0] == identity:
                cache.move_to_end(key)
                return hit[1]
        return None

    def day(self, day: dt.date) -> PartitionFigures:
        """Per-(definition, user) totals of one UTC day (without per-file counts)."""
        return self._load(daily_partition(day), _DAILY_SQL)

    def day_files(self, day: dt.date) -> PartitionFigures:
        """Per-(definition, user) switch counts by file of one UTC day."""
        return self._load(dated_partition(METRICS_FILE_SWITCHES_DIR, day), _DAILY_FILES_SQL)

    def user_day(self, definition: str, user_id: str, day: dt.date, *, with_files: bool = True) -> Figures:
        """One user's figures of one UTC day (zeros without data), per-file counts with ``with_files``."""
        totals = pick(self.day(day), definition, user_id)
        figures = Figures()
        if totals is not None:
            figures.add(totals)
        if with_files:
            files = pick(self.day_files(day), definition, user_id)
            if files is not None:
                figures.files.update(files.files)
        return figures

    def sessions_of(self, user_id: str) -> PartitionFigures:
        """Per-(definition, session) totals (with their dates) of the user's session bucket."""
        return self._load(session_partition(user_bucket(user_id)), _SESSION_SQL)

    def session_files_on(self, day: dt.date) -> PartitionFigures:
        """Per-(definition, session) switch counts by file on one UTC day."""
        return self._load(dated_partition(METRICS_FILE_SWITCHES_DIR, day), _SESSION_FILES_SQL)

    def _load_zoned(self, day: dt.date, zone: str) -> ZonedFigures:
        """Per-(definition, user, local date in ``zone``) figures of one UTC date's buckets, with
        per-file switch counts; cached per file identities and zone."""
        paths = (
            dated_partition(METRICS_QUARTER_HOURS_DIR, day),
            dated_partition(METRICS_FILE_SWITCHES_DIR, day),
        )
        identity = (self._identity(paths[0]), self._identity(paths[1]))
        key = f"{paths[0]}#zone={zone}"
        cached = self._cached(self._zoned, key, identity)
        if cached is not None:
            return cached
        with self._loading(key):
            cached = self._cached(self._zoned, key, identity)
            if cached is not None:
                return cached
            return self._build_zoned(paths, identity, key, zone)

    def _build_zoned(
        self, paths: tuple[str, str], identity: tuple[Hashable | None, Hashable | None], key: str, zone: str
    ) -> ZonedFigures:
        out: ZonedFigures = {}
        quarters = self._read_or_none(paths[0]) if identity[0] is not None else None
        files = self._read_or_none(paths[1]) if identity[1] is not None else None
        if quarters is not None and quarters.num_rows:
            for definition, user_id, local, added, deleted, switches, rapid, activity in _zoned_rows(
                quarters, zone, _FIGURE_NAMES
            ):
                figures = out.setdefault((definition, user_id, local), Figures())
                figures.lines_added += added
                figures.lines_deleted += deleted
                figures.switch_count += switches
                figures.rapid_switch_count += rapid
                figures.activity_count += activity
        if files is not None and files.num_rows:
            for definition, user_id, local, path, count in _zoned_rows(
                files, zone, ("switch_count",), by_path=True
            ):
                figures = out.setdefault((definition, user_id, local), Figures())
                figures.files[path] = figures.files.get(path, 0) + count
        for (_, user_id, local), figures in list(out.items()):
            out.setdefault((_ANY_DEFINITION, user_id, local), figures)
        with self._lock:
            self._zoned[key] = (identity, out)
            while len(self._zoned) > self._max_tables:
                self._zoned.popitem(last=False)
        return out

    def _read_or_none(self, path: str) -> pa.Table | None:
        try:
            return self.storage.read_table(path)
        except FileNotFoundError:
            return None

    def zoned_user_day(
        self,
        definition: str,
        user_id: str,
        day: dt.date,
        zone: str,
        loaded: dict[dt.date, ZonedFigures] | None = None,
    ) -> Figures:
        """One user's figures of the local date ``day`` in ``zone`` (zeros without data): the sum of
        the UTC 15-minute buckets inside it, read from the (at most two) UTC dates it overlaps.
        ``loaded`` shares the UTC dates' figures between the days of one series, so each date's
        files are checked once per request rather than three times."""
        total = Figures()
        for utc_day in (day - dt.timedelta(days=1), day, day + dt.timedelta(days=1)):
            if loaded is None:
                part = self._load_zoned(utc_day, zone)
            else:
                if utc_day not in loaded:
                    loaded[utc_day] = self._load_zoned(utc_day, zone)
                part = loaded[utc_day]
            figures = part.get((definition, user_id, day)) or part.get((_ANY_DEFINITION, user_id, day))
            if figures is not None:
                total.add(figures)
        return total

    def session_table(self, path: str) -> pa.Table | None:
        """A session partition whole (cached; the table is immutable)."""
        return self._load_table(path)

    def user_coding_time_on(self, day: dt.date, user_id: str) -> CodingRows | None:
        """One user's coding-time rows of one UTC date. The partition is indexed by user once per
        file identity and each user's rows are turned into NumPy columns on their first read, so a
        request reads its own rows, and the first read of a day does not pay for every user's."""
        if self._names.full():  # bound the codes' table: start afresh, with the rows built on it
            with self._lock:
                self._by_user.clear()
                self._names = NameCodes(self._max_names)
        names = self._names
        by_user = self._derived(
            self._by_user,
            dated_partition(METRICS_CODING_TIME_DIR, day),
            lambda table: _CodingDay(table, names),
        )
        return None if by_user is None else by_user.rows_of(user_id)


class NameCodes:
    """One integer code per distinct attribute string (language, workspace, file, session) across
    the cached coding-time partitions, so a request adds up equal names of different dates with
    one ``bincount`` instead of merging per-date dictionaries. Code 0 is null."""

    def __init__(self, limit: int = 200_000) -> None:
        self._codes: dict[str, int] = {}
        self.names: list[str | None] = [None]
        self._limit = limit
        self._lock = threading.Lock()

    def full(self) -> bool:
        return len(self.names) > self._limit

    def codes_of(self, strings: list[str]) -> npt.NDArray[np.int64]:
        """The codes of ``strings``, new ones added."""
        with self._lock:
            codes = self._codes
            out = []
            for text in strings:
                code = codes.get(text)
                if code is None:
                    code = codes[text] = len(self.names)
                    self.names.append(text)
                out.append(code)
        return np.array(out, dtype=np.int64)


CODING_ATTRIBUTES = ("language", "workspace", "file", "session_id")


class _CodingDay:
    """A coding-time partition in user order, with each user's row range; a user's
    :class:`CodingRows` are built on their first read and kept."""

    def __init__(self, table: pa.Table, names: NameCodes) -> None:
        self._names = names
        users = table.column("user_id")
        if users.num_chunks != 1 or not _ascending(users):  # the ETL writes user order; be sure
            table = table.sort_by("user_id")
            users = table.column("user_id")
        self._table = table
        counts = pc.value_counts(users)  # in order of first appearance: user order
        user_ids = counts.field("values").to_pylist()
        ends = np.cumsum(counts.field("counts").to_numpy())
        self._ranges = {
            str(user): (int(end - n), int(n))
            for user, end, n in zip(user_ids, ends.tolist(), counts.field("counts").to_pylist(), strict=True)
        }
        self._rows: dict[str, CodingRows] = {}

    def rows_of(self, user_id: str) -> CodingRows | None:
        rows = self._rows.get(user_id)
        if rows is None:
            span = self._ranges.get(user_id)
            if span is None:
                return None
            rows = self._rows.setdefault(user_id, CodingRows.of(self._table.slice(*span), self._names))
        return rows


def _ascending(values: pa.ChunkedArray) -> bool:
    if len(values) < 2:
        return True
    head, tail = values.slice(0, len(values) - 1), values.slice(1)
    return bool(pc.all(pc.less_equal(head, tail)).as_py())


@dataclass(frozen=True, slots=True)
class CodingRows:
    """One user's coding-time rows of one UTC date as NumPy columns: a request sums a few thousand
    of them, where a DataFrame operation's fixed cost would dominate. Each attribute is a code of the
    reader's :class:`NameCodes`."""

    bucket_us: npt.NDArray[np.int64]  # bucket start, microseconds since the epoch (UTC)
    seconds: npt.NDArray[np.float64]
    codes: dict[str, npt.NDArray[np.int64]]
    names: NameCodes  # what the codes stand for

    @classmethod
    def of(cls, rows: pa.Table, names: NameCodes) -> CodingRows:
        codes: dict[str, npt.NDArray[np.int64]] = {}
        for column in CODING_ATTRIBUTES:
            encoded = pc.dictionary_encode(rows.column(column).combine_chunks())
            # Position 0 of the lookup is null's code (0); the categories follow.
            lookup = np.concatenate([[0], names.codes_of(encoded.dictionary.to_pylist())])
            local = pc.fill_null(encoded.indices.cast(pa.int64()), -1).to_numpy(zero_copy_only=False)
            codes[column] = lookup[local + 1]
        return cls(
            bucket_us=rows.column("bucket_start").cast(pa.timestamp("us", "UTC")).cast(pa.int64()).to_numpy(),
            seconds=rows.column("seconds").cast(pa.float64()).to_numpy(),
            codes=codes,
            names=names,
        )


def _aggregate(table: pa.Table, sql: str) -> PartitionFigures:
    con = duckdb_connection()
    con.register("partition_rows", table)
    try:
        rows = con.sql(sql).fetchall()
    finally:
        con.unregister("partition_rows")
    out: PartitionFigures = {}
    for definition, key, path, added, deleted, switches, rapid, activity, *dates in rows:
        figures = out.setdefault((str(definition), str(key)), Figures())
        if dates and dates[0] is not None:
            figures.dates = tuple(dates[0])
        if path is None:
            figures.lines_added += int(added)
            figures.lines_deleted += int(deleted)
            figures.switch_count += int(switches)
            figures.rapid_switch_count += int(rapid)
            figures.activity_count += int(activity)
        else:
            figures.files[str(path)] = figures.files.get(str(path), 0) + int(switches)
    for (_, key), figures in list(out.items()):
        out.setdefault((_ANY_DEFINITION, key), figures)
    return out


_FIGURE_NAMES = ("lines_added", "lines_deleted", "switch_count", "rapid_switch_count", "activity_count")


def _zoned_rows(
    table: pa.Table, zone: str, figures: Sequence[str], *, by_path: bool = False
) -> list[tuple[Any, ...]]:
    """Sums of ``figures`` per (definition, user, local date of the bucket in ``zone``[, path])."""
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    keys = ["definition", "user_id", "_local", *(["path"] if by_path else [])]
    return (
        frame.with_columns(_local=pl.col("bucket_start").dt.convert_time_zone(zone).dt.date())
        .group_by(keys)
        .agg(*[pl.col(name).sum().cast(pl.Int64) for name in figures])
        .rows()
    )


def pick(partition: PartitionFigures, definition: str, key: str) -> Figures | None:
    """``key``'s figures under ``definition`` — or, while a pass is still rebuilding the partitions
    after the definition changed, under the definition they were stored with: a read serves the old
    figures or the new ones, never zeros."""
    return partition.get((definition, key)) or partition.get((_ANY_DEFINITION, key))


def days(date_from: dt.date, date_to: dt.date) -> list[dt.date]:
    """Every UTC date from ``date_from`` to ``date_to`` inclusive."""
    return [date_from + dt.timedelta(days=i) for i in range((date_to - date_from).days + 1)]


def daily_series(
    reader: MetricsReader,
    definition: str,
    user_id: str,
    date_from: dt.date,
    date_to: dt.date,
    zone: str | None = None,
) -> list[tuple[dt.date, Figures]]:
    """The user's figures for every day of the range (zeros where there is no data): UTC days, or
    the local days of ``zone``."""
    series: list[tuple[dt.date, Figures]] = []
    loaded: dict[dt.date, ZonedFigures] = {}
    for day in days(date_from, date_to):
        if zone is None:
            series.append((day, reader.user_day(definition, user_id, day)))
        else:
            series.append((day, reader.zoned_user_day(definition, user_id, day, zone, loaded)))
    return series


def session_figures(
    reader: MetricsReader, definition: str, user_id: str, session_id: str, *, with_files: bool = False
) -> Figures | None:
    """A session's figures (its per-file switch counts too with ``with_files``), or None when it has
    none under ``definition``."""
    totals = pick(reader.sessions_of(user_id), definition, session_id)
    if totals is None or not with_files:
        return totals
    figures = Figures(
        lines_added=totals.lines_added,
        lines_deleted=totals.lines_deleted,
        switch_count=totals.switch_count,
        rapid_switch_count=totals.rapid_switch_count,
        activity_count=totals.activity_count,
        dates=totals.dates,
    )
    for day in totals.dates:
        files = pick(reader.session_files_on(day), definition, session_id)
        if files is not None:
            for path, count in files.files.items():
                figures.files[path] = figures.files.get(path, 0) + count
    return figures


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """When a session ran and what it held (the session partition's columns; None for a session
    computed before they existed)."""

    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    duration_seconds: float | None
    active_seconds: float | None
    event_counts: dict[str, int]


# Counters of the session partition that are metric figures, not event counts per type.
_FIGURE_COUNTS = frozenset({"switch_count", "rapid_switch_count", "activity_count"})


def session_facts(reader: MetricsReader, user_id: str, session_ids: Iterable[str]) -> dict[str, SessionFacts]:
    """The start, end, duration, active time and per-type event counts of the user's sessions."""
    wanted = list(session_ids)
    table = reader.session_table(session_partition(user_bucket(user_id)))
    if table is None or not wanted:
        return {}
    mine = table.filter(
        pc.and_(
            pc.equal(table["user_id"], user_id),
            pc.is_in(table["session_id"], value_set=pa.array(wanted, pa.string())),
        )
    )
    facts: dict[str, SessionFacts] = {}
    for row in mine.to_pylist():
        facts[row["session_id"]] = SessionFacts(
            started_at=row.get("started_at"),
            ended_at=row.get("ended_at"),
            duration_seconds=row.get("duration_seconds"),
            active_seconds=row.get("active_seconds"),
            event_counts={
                name.removesuffix("_count"): int(value)
                for name, value in row.items()
                if name.endswith("_count") and name not in _FIGURE_COUNTS and value is not None
            },
        )
    return facts


# -- for the insights context -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayFigures:
    """One user's figures of one UTC day (zeros without data)."""

    user_id: str
    lines_added: int
    lines_deleted: int
    switch_count: int
    rapid_switch_count: int


def user_day_metrics(
    reader: MetricsReader, definition: str, user_ids: Sequence[uuid.UUID | str], day: dt.date
) -> list[DayFigures]:
    """One UTC day's metrics of each user under ``definition``, one entry per requested user, in order."""
    partition = reader.day(day)
    out: list[DayFigures] = []
    for uid in user_ids:
        key = str(uid)
        figures = pick(partition, definition, key) or Figures()
        out.append(
            DayFigures(
                key,
                figures.lines_added,
                figures.lines_deleted,
                figures.switch_count,
                figures.rapid_switch_count,
            )
        )
    return out


def top_files(
    reader: MetricsReader,
    definition: str,
    user_id: uuid.UUID | str,
    date_from: dt.date,
    date_to: dt.date,
    n: int,
) -> list[tuple[str, int]]:
    """The user's ``n`` most switched-to files over ``[date_from, date_to]``, exact counts,
    ordered by count descending then path ascending (contract §6.3)."""
    total = Figures()
    for _, figures in daily_series(reader, definition, str(user_id), date_from, date_to):
        total.add(figures)
    return total.top_files(n)


def sum_figures(items: Iterable[Figures]) -> Figures:
    """The sum of several figures."""
    total = Figures()
    for figures in items:
        total.add(figures)
    return total
