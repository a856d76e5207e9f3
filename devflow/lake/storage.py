"""Lake storage: the lake root (a local folder or an ``s3://`` URL) behind one pyarrow.fs filesystem.

Every path handed to this module is *relative to the lake root* and uses ``/`` separators
(``events/date=2026-05-14/part-….parquet``). Files are immutable once visible:
:meth:`LakeStorage.write_parquet_atomic` writes under a temporary name in the same folder,
makes it durable, and renames it into place, so readers never see a partial file. On object
stores a PUT is already atomic (the object appears whole when the upload completes), so the
same call writes the final key directly.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

# Readers glob ``*.parquet``; temporary files end in ``.tmp`` so they are never matched.
TMP_SUFFIX = ".tmp"
# Large row groups keep later scans fast (NOTES.md: tiny groups make queries 2–8× slower).
ROW_GROUP_SIZE = 256 * 1024


@dataclass(frozen=True, slots=True)
class LakeFileInfo:
    """A visible Parquet file of the lake."""

    path: str  # relative to the lake root
    size: int


class LakeStorage:
    """The lake root on one :mod:`pyarrow.fs` filesystem (local or S3); paths are root-relative."""

    def __init__(self, filesystem: pafs.FileSystem, root: str, url: str) -> None:
        self.fs = filesystem
        self.root = root.rstrip("/")
        self.url = url.rstrip("/")
        self.is_local = isinstance(filesystem, pafs.LocalFileSystem)

    @classmethod
    def from_url(cls, url: str) -> LakeStorage:
        """Open the lake at ``url``: a local path (created if missing) or ``s3://bucket/prefix``."""
        if "://" in url and not url.startswith("file://"):
            fs, root = pafs.FileSystem.from_uri(url)
            return cls(fs, root, url)
        local = Path(url.removeprefix("file://")).expanduser().resolve()
        local.mkdir(parents=True, exist_ok=True)
        return cls(pafs.LocalFileSystem(), local.as_posix(), local.as_posix())

    # -- paths -------------------------------------------------------------------------------------

    def full_path(self, relative_path: str) -> str:
        """The filesystem path of a root-relative path."""
        return f"{self.root}/{relative_path.lstrip('/')}" if relative_path else self.root

    def uri(self, relative_path: str = "") -> str:
        """A URL or absolute local path that DuckDB / Polars understand (globs allowed); options of
        an object-store URL (``?endpoint_override=…``) stay at the end."""
        base, sep, query = self.url.partition("?")
        path = f"{base}/{relative_path.lstrip('/')}" if relative_path else base
        return f"{path}{sep}{query}"

    # -- writes ------------------------------------------------------------------------------------

    def write_parquet_atomic(
        self, relative_path: str, table: pa.Table, *, row_group_size: int = ROW_GROUP_SIZE
    ) -> int:
        """Write ``table`` as one Parquet file at ``relative_path``; return its size in bytes.

        Local: temporary name in the same folder → fsync → rename → fsync of the folder, so the
        file is either absent or complete and durable. Object store: a single PUT (atomic).
        """
        final = self.full_path(relative_path)
        folder = final.rsplit("/", 1)[0]
        self.fs.create_dir(folder, recursive=True)
        if not self.is_local:
            with self.fs.open_output_stream(final) as out:
                pq.write_table(table, out, row_group_size=row_group_size, compression="zstd")
            return self.fs.get_file_info(final).size or 0
        tmp = f"{final}.{secrets.token_hex(6)}{TMP_SUFFIX}"
        try:
            with self.fs.open_output_stream(tmp) as out:
                pq.write_table(table, out, row_group_size=row_group_size, compression="zstd")
            _fsync_path(tmp)
            self.fs.move(tmp, final)
        except BaseException:
            if self.exists_abs(tmp):
                self.fs.delete_file(tmp)
            raise
        _fsync_path(folder)
        return self.fs.get_file_info(final).size or 0

    def delete(self, relative_path: str) -> None:
        """Delete a file; a missing file is not an error (deletes are retried after crashes)."""
        full = self.full_path(relative_path)
        if self.exists_abs(full):
            self.fs.delete_file(full)

    # -- reads -------------------------------------------------------------------------------------

    def exists(self, relative_path: str) -> bool:
        """Whether a file exists at the root-relative path."""
        return self.exists_abs(self.full_path(relative_path))

    def exists_abs(self, full_path: str) -> bool:
        """Whether a file exists at a filesystem path."""
        return bool(self.fs.get_file_info(full_path).type == pafs.FileType.File)

    def list_parquet(self, prefix: str) -> list[LakeFileInfo]:
        """Every visible ``*.parquet`` file under ``prefix`` (e.g. ``events``), sorted by path."""
        selector = pafs.FileSelector(self.full_path(prefix), recursive=True, allow_not_found=True)
        found: list[LakeFileInfo] = []
        cut = len(self.root) + 1
        for info in self.fs.get_file_info(selector):
            if info.type == pafs.FileType.File and info.path.endswith(".parquet"):
                found.append(LakeFileInfo(path=info.path[cut:], size=info.size or 0))
        found.sort(key=lambda f: f.path)
        return found

    def list_partitions(self, prefix: str) -> list[str]:
        """The ``YYYY-MM-DD`` values of the ``date=`` folders under ``prefix``, sorted."""
        selector = pafs.FileSelector(self.full_path(prefix), recursive=False, allow_not_found=True)
        dates = [
            info.base_name.removeprefix("date=")
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.Directory and info.base_name.startswith("date=")
        ]
        return sorted(dates)

    def read_table(self, relative_path: str) -> pa.Table:
        """Read one Parquet file whole."""
        # partitioning=None: the ``date`` lives in the folder name only, never as a column.
        return pq.read_table(self.full_path(relative_path), filesystem=self.fs, partitioning=None)

    def row_count(self, relative_path: str) -> int:
        """Row count from the Parquet footer (no data read)."""
        with self.fs.open_input_file(self.full_path(relative_path)) as handle:
            return int(pq.ParquetFile(handle).metadata.num_rows)


def partition_path(kind: str, date: str, file_name: str) -> str:
    """``<kind>/date=<YYYY-MM-DD>/<file_name>``: the Hive layout of the lake."""
    return f"{kind}/date={date}/{file_name}"


def partition_date_of(relative_path: str) -> str:
    """The ``YYYY-MM-DD`` of a root-relative partition path."""
    for part in relative_path.split("/"):
        if part.startswith("date="):
            return part[len("date=") :]
    raise ValueError(f"not a partition path: {relative_path}")


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
