"""Reading and writing lake partitions: the one IO adapter under the pure transforms.

Layout: ``<table>/date=YYYY-MM-DD/<file>.parquet`` (Hive partitions by UTC date); the ``date`` lives in
the folder name only. Files are immutable once visible and appear atomically
(:meth:`LakeStorage.write_parquet_atomic`): readers see a file whole or not at all, and a partition
that is *replaced* (the metrics ETL's ``data.parquet``) is read as the old file or the new one, never a
mix.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from devflow.kernel.ids import uuid7
from devflow.kernel.lazy import pa, pc
from devflow.lake.storage import LakeStorage, LakeUnavailable
from devflow.lake.tables import PartitionedTable

if TYPE_CHECKING:
    import polars as pl

INGEST_PREFIX = "part-"
COMPACTED_PREFIX = "compacted-"
# The sort key that groups rows by partition (a name no table uses).
_DAY = "__partition_date"


@dataclass(frozen=True, slots=True)
class WrittenFile:
    """A Parquet file now visible in the lake (and, once registered, in ``lake_files``)."""

    kind: str  # the table's name: "events" | "quarantine"
    path: str  # relative to the lake root
    partition_date: str
    row_count: int
    ingested_rows: int


def partition_path(kind: str, date: str, file_name: str) -> str:
    """``<kind>/date=<YYYY-MM-DD>/<file_name>``: the Hive layout of the lake."""
    return f"{kind}/date={date}/{file_name}"


def partition_date_of(relative_path: str) -> str:
    """The ``YYYY-MM-DD`` of a root-relative partition path."""
    for part in relative_path.split("/"):
        if part.startswith("date="):
            return part[len("date=") :]
    raise ValueError(f"not a partition path: {relative_path}")


def split_by_date(table: pa.Table, spec: PartitionedTable) -> list[tuple[str, pa.Table]]:
    """The table's rows per UTC date of ``spec.date_column``, each part sorted by ``spec.sort_keys``.

    One sort over the small key columns orders the rows by date then by the sort keys; the rows are
    gathered at most once (not at all when already in order, as a single request's or a single
    client's events usually are) and each date is a zero-copy slice of them.
    """
    if table.num_rows == 0:
        return []
    days = table[spec.date_column].cast(pa.date32())
    keys = pa.table({_DAY: days, **{name: table[name] for name, _ in spec.sort_keys}})
    order = pc.sort_indices(keys, sort_keys=[(_DAY, "ascending"), *spec.sort_keys])
    positions = order.to_numpy()
    if not bool((positions[1:] > positions[:-1]).all()):
        table = table.take(order)
        days = days.take(order)
    parts: list[tuple[str, pa.Table]] = []
    offset = 0
    for entry in pc.value_counts(days).to_pylist():  # sorted input: in ascending order of date
        count = int(entry["counts"])
        parts.append((entry["values"].isoformat(), table.slice(offset, count)))
        offset += count
    return parts


def write_partitioned(
    storage: LakeStorage,
    spec: PartitionedTable,
    table: pa.Table,
    *,
    file_id: str | None = None,
    prefix: str = INGEST_PREFIX,
    ingested: bool = True,
    skip: Collection[str] = (),
) -> list[WrittenFile]:
    """Write one file per date partition of ``table`` (not registered yet, see
    :func:`devflow.lake.registry.register_files`).

    ``file_id`` makes the names deterministic (the spool passes its segment id so that a replay after a
    crash finds the files it already wrote); by default a fresh UUIDv7. A file that already exists under
    the deterministic name is left as it is; paths in ``skip`` (already registered, possibly compacted
    away since) are neither written nor returned.
    """
    file_id = file_id or uuid7().hex
    written: list[WrittenFile] = []
    for day, part in split_by_date(table, spec):
        path = partition_path(spec.name, day, f"{prefix}{file_id}.parquet")
        if path in skip:
            continue
        if not storage.exists(path):
            storage.write_parquet_atomic(path, part)
        rows = part.num_rows
        written.append(WrittenFile(spec.name, path, day, rows, rows if ingested else 0))
    return written


def files_on(storage: LakeStorage, kind: str, dates: Iterable[str]) -> list[str]:
    """Every visible file (registered or not) of ``kind`` in the given date partitions."""
    paths: list[str] = []
    for day in sorted(set(dates)):
        paths.extend(f.path for f in storage.list_parquet(f"{kind}/date={day}"))
    return paths


def scan(
    storage: LakeStorage,
    paths: Sequence[str],
    schema: pa.Schema,
    columns: Sequence[str],
    where: Mapping[str, Sequence[str]] | None = None,
) -> pl.DataFrame:
    """The ``columns`` of the files ``paths`` as one frame, keeping the rows whose column values are
    in ``where[column]`` (every condition holds)."""
    # Imported here, not at module level: a server worker that only ingests never scans the lake, and
    # these two libraries would otherwise weigh on every worker's idle memory.
    import polars as pl
    import pyarrow.dataset as pads

    conditions = dict(where or {})
    try:
        if storage.is_local and paths:
            # Polars' Parquet reader is the fastest here, several times pyarrow.dataset on these machines.
            lazy = pl.scan_parquet([storage.full_path(p) for p in paths], hive_partitioning=False).select(
                list(columns)
            )
            for column, values in conditions.items():
                lazy = lazy.filter(pl.col(column).is_in(list(values)))
            return lazy.collect()
        dataset = pads.dataset(
            [storage.full_path(p) for p in paths], schema=schema, filesystem=storage.fs, format="parquet"
        )
        condition = None
        for column, values in conditions.items():
            term = pc.field(column).isin(list(values))
            condition = term if condition is None else condition & term
        frame = pl.from_arrow(dataset.to_table(columns=list(columns), filter=condition))
    except OSError as exc:
        raise LakeUnavailable() from exc
    assert isinstance(frame, pl.DataFrame)
    return frame


def read_partition(storage: LakeStorage, path: str, schema: pa.Schema) -> pa.Table | None:
    """A replaced-whole partition file, or None when it does not exist."""
    try:
        return storage.read_table(path).cast(schema)
    except FileNotFoundError:
        return None


def replace_partition(storage: LakeStorage, path: str, table: pa.Table, *, row_group_size: int) -> None:
    """Replace a partition file whole (atomically); an empty table deletes it."""
    if table.num_rows == 0:
        storage.delete(path)
    else:
        storage.write_parquet_atomic(path, table, row_group_size=row_group_size)
