"""Erasing every row that carries one value of a column (an account's ``user_id``) from the lake.

Generic over datasets: every ``*.parquet`` file under the root whose schema has the column is checked
(the column alone is read), and a file holding matching rows is rewritten without them through
:meth:`LakeStorage.write_parquet_atomic` (temporary name, fsync, rename): a reader sees the old file or
the new one, never a half. A file left with no rows is kept as an empty file of the same schema, so the
registry's paths stay valid. Rewriting is idempotent: a second run finds nothing to do, so a process
killed half-way simply runs again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from devflow.kernel.lazy import pa, pc, pq
from devflow.lake.registry import LakeFile
from devflow.lake.storage import LakeStorage, lake_io


@dataclass(frozen=True, slots=True)
class ErasedFile:
    path: str
    rows_before: int
    rows_after: int


@lake_io
def _matches(storage: LakeStorage, path: str, column: str, value: str) -> int:
    with storage.fs.open_input_file(storage.full_path(path)) as handle:
        parquet = pq.ParquetFile(handle)
        if column not in parquet.schema_arrow.names:
            return 0
        values = parquet.read(columns=[column])[column]
    return int(pc.sum(pc.equal(values.cast(pa.string()), value)).as_py() or 0)


def erase_value(
    storage: LakeStorage,
    db: sessionmaker[Session],
    column: str,
    value: str,
    *,
    after_each: Callable[[ErasedFile], None] | None = None,
) -> list[ErasedFile]:
    """Rewrite every lake file holding rows with ``column == value`` without them; update the
    registry's row counts. ``after_each`` runs after each rewritten file (fault injection in tests)."""
    erased: list[ErasedFile] = []
    for info in storage.list_parquet(""):
        if _matches(storage, info.path, column, value) == 0:
            continue
        table = storage.read_table(info.path)
        kept = table.filter(pc.fill_null(pc.not_equal(table[column].cast(pa.string()), value), True))
        storage.write_parquet_atomic(info.path, kept)
        with db.begin() as session:
            session.execute(
                update(LakeFile).where(LakeFile.path == info.path).values(row_count=kept.num_rows)
            )
        done = ErasedFile(info.path, table.num_rows, kept.num_rows)
        erased.append(done)
        if after_each is not None:
            after_each(done)
    return erased
