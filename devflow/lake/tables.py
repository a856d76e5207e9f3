"""What the lake stores, described by its producers: a :class:`PartitionedTable` names a folder of
Hive partitions by UTC date, the Arrow schema of its rows, the timestamp column that picks each row's
partition, the sort order within a file, and how rows that went through the spool become rows of the
schema. The lake itself knows no table: producers (telemetry, metrics) hand it these descriptions."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from devflow.kernel.lazy import np, pa


@dataclass(frozen=True, slots=True)
class Columns:
    """Rows as one Python list per column (``lists``), columns holding one value on every row
    (``constants``), and text columns given as one UTF-8 buffer with the little-endian int32 end offset
    of each row's value in it (``texts``: no Python object per value, and no copy per value when the
    flush turns them into Arrow; not validated again, the producer has validated them)."""

    num_rows: int
    lists: dict[str, list[Any]]
    constants: dict[str, Any] = field(default_factory=dict)
    texts: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        """Every column's name: the listed ones, then the constant ones, then the texts."""
        return (*self.lists, *self.constants, *self.texts)


def text_column(values: Sequence[bytes | str]) -> tuple[bytes, bytes]:
    """``values`` (UTF-8 bytes, or str) as a :attr:`Columns.texts` entry: their concatenation and
    their end offsets."""
    encoded = [v if isinstance(v, bytes) else v.encode() for v in values]
    ends = np.fromiter(itertools.accumulate(map(len, encoded)), dtype="<i4", count=len(encoded))
    return b"".join(encoded), ends.tobytes()


_INT32_MAX = 2**31 - 1


def _text_array(parts: Sequence[tuple[bytes, bytes]], length: int) -> pa.Array | pa.ChunkedArray:
    """One string array over every part's buffer: the offsets shifted, the bytes joined once."""
    ends, base = [], 0
    for data, part_ends in parts:
        ends.append(np.frombuffer(part_ends, dtype="<i4").astype(np.int64) + base)
        base += len(data)
    if base > _INT32_MAX:  # beyond one string array's offsets: one chunk per part
        return pa.chunked_array([_text_array([part], len(part[1]) // 4) for part in parts], pa.string())
    offsets = np.concatenate([np.zeros(1, np.int64), *ends]).astype("<i4")
    data = b"".join(data for data, _ in parts)
    return pa.StringArray.from_buffers(length, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))


def _columns_table(parts: Sequence[Columns], schema: pa.Schema) -> pa.Table:
    """Parts with the same column names as one table of ``schema``'s columns of those names."""
    names = [name for name in schema.names if name in parts[0].names]
    length = sum(part.num_rows for part in parts)
    arrays: list[pa.Array | pa.ChunkedArray] = []
    for name in names:
        if name in parts[0].texts:
            arrays.append(_text_array([part.texts[name] for part in parts], length))
            continue
        values: list[Any] = []
        for part in parts:
            if name in part.lists:
                values += part.lists[name]
            else:
                values += [part.constants[name]] * part.num_rows
        arrays.append(pa.array(values, schema.field(name).type))
    return pa.Table.from_arrays(arrays, schema=pa.schema([schema.field(name) for name in names]))


def as_tables(parts: Sequence[pa.Table | Columns], schema: pa.Schema) -> list[pa.Table]:
    """One table per part (in order), :class:`Columns` given ``schema``'s types. Consecutive
    :class:`Columns` with the same names are converted together and then sliced (no copy)."""
    tables: list[pa.Table] = []
    run: list[Columns] = []

    def close_run() -> None:
        if not run:
            return
        table = _columns_table(run, schema)
        offset = 0
        for part in run:
            tables.append(table.slice(offset, part.num_rows))
            offset += part.num_rows
        run.clear()

    for part in parts:
        if isinstance(part, Columns):
            if run and run[0].names != part.names:
                close_run()
            run.append(part)
        else:
            close_run()
            tables.append(part)
    close_run()
    return tables


#: ``finish(spooled, memos)``: the schema's rows from the tables a producer appended (as spooled, or
#: read back from the spool after a crash) and, for each, the in-memory companion it passed along
#: (``None`` for rows replayed from the spool, whose companion died with the process).
Finish = Callable[[Sequence["pa.Table"], Sequence[object | None]], "pa.Table"]


@dataclass(frozen=True, slots=True)
class PartitionedTable:
    """A lake folder of ``<name>/date=YYYY-MM-DD/*.parquet`` files."""

    name: str
    make_schema: Callable[[], pa.Schema]  # cached by the producer; called on first use (lazy pyarrow)
    date_column: str  # UTC timestamp column whose date is the partition
    sort_keys: tuple[tuple[str, str], ...]  # within each file, e.g. (("user_id", "ascending"), …)
    finish: Finish | None = field(default=None, compare=False)

    @property
    def schema(self) -> pa.Schema:
        """The table's columns."""
        return self.make_schema()

    def complete(self, parts: Sequence[pa.Table | Columns], memos: Sequence[object | None]) -> pa.Table:
        """Rows of :attr:`schema` from appended parts (through :attr:`finish` when the producer has one)."""
        tables = as_tables(parts, self.schema)
        if self.finish is not None:
            return self.finish(tables, memos)
        conformed = [
            t if t.schema.equals(self.schema) else t.select(self.schema.names).cast(self.schema)
            for t in tables
        ]
        return pa.concat_tables(conformed) if len(conformed) > 1 else conformed[0]
