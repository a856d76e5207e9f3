"""What the lake stores, described by its producers: a :class:`PartitionedTable` names a folder of
Hive partitions by UTC date, the Arrow schema of its rows, the timestamp column that picks each row's
partition, the sort order within a file, and how rows that went through the spool become rows of the
schema. The lake itself knows no table: producers (telemetry, metrics) hand it these descriptions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from devflow.kernel.lazy import pa

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

    def complete(self, tables: Sequence[pa.Table], memos: Sequence[object | None]) -> pa.Table:
        """Rows of :attr:`schema` from appended tables (through :attr:`finish` when the producer has one)."""
        if self.finish is not None:
            return self.finish(tables, memos)
        parts = [
            t if t.schema.equals(self.schema) else t.select(self.schema.names).cast(self.schema)
            for t in tables
        ]
        return pa.concat_tables(parts) if len(parts) > 1 else parts[0]
