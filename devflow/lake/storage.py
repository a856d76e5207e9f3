"""Lake storage: the lake root (a local folder or an ``s3://`` URL) behind one pyarrow.fs filesystem.

Every path handed to this module is *relative to the lake root* and uses ``/`` separators
(``events/date=2026-05-14/part-….parquet``). Files are immutable once visible:
:meth:`LakeStorage.write_parquet_atomic` writes under a temporary name in the same folder,
makes it durable, and renames it into place, so readers never see a partial file. On object
stores a PUT is already atomic (the object appears whole when the upload completes), so the
same call writes the final key directly.
"""

from __future__ import annotations

import datetime
import functools
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

from devflow.kernel.errors import Unavailable
from devflow.kernel.files import fsync_path
from devflow.kernel.lazy import pa, pafs, pq

# Readers glob ``*.parquet``; temporary files end in ``.tmp`` so they are never matched.
TMP_SUFFIX = ".tmp"
# Large row groups keep later scans fast (pyarrow's small default groups slow every query down).
ROW_GROUP_SIZE = 256 * 1024


P = ParamSpec("P")
R = TypeVar("R")


class LakeUnavailable(Unavailable):
    """The lake (its storage, or this process's spool) cannot take or serve data now (→ retry later).

    ``reason`` is for logs; clients only ever see the contract's ``Service unavailable``."""

    def __init__(self, reason: str = "lake storage unavailable") -> None:
        super().__init__()
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def lake_io(fn: Callable[P, R]) -> Callable[P, R]:
    """Storage failures become :class:`LakeUnavailable`; a missing file stays ``FileNotFoundError``
    (callers decide whether that is expected, e.g. a partition replaced between list and read)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise LakeUnavailable() from exc

    return wrapper


@dataclass(frozen=True, slots=True)
class LakeFileInfo:
    """A visible Parquet file of the lake."""

    path: str  # relative to the lake root
    size: int
    mtime: datetime.datetime | None = None  # last modified (UTC), when the store says


def _local_parquet_files(folder: str, cut: int) -> list[LakeFileInfo]:
    """The ``*.parquet`` files under a local folder (paths without the first ``cut`` characters).
    A folder or file removed while it is listed (compaction, retention) is skipped; any other error
    is raised, never read as "no files"."""
    found: list[LakeFileInfo] = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return found
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                found += _local_parquet_files(entry.path, cut)
            elif entry.name.endswith(".parquet") and entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                modified = datetime.datetime.fromtimestamp(st.st_mtime, datetime.UTC)
                found.append(LakeFileInfo(path=entry.path[cut:], size=st.st_size, mtime=modified))
        except FileNotFoundError:
            continue
    return found


class LakeStorage:
    """The lake root on one :mod:`pyarrow.fs` filesystem (local or S3); paths are root-relative."""

    def __init__(self, filesystem: pafs.FileSystem | None, root: str, url: str) -> None:
        """``filesystem`` None: the local one, created on first use (pyarrow loads lazily)."""
        self._fs = filesystem
        self.root = root.rstrip("/")
        self.url = url.rstrip("/")
        self.is_local = filesystem is None or isinstance(filesystem, pafs.LocalFileSystem)

    @property
    def fs(self) -> pafs.FileSystem:
        """The pyarrow filesystem holding the lake."""
        if self._fs is None:
            self._fs = pafs.LocalFileSystem()
        return self._fs

    @classmethod
    def from_url(cls, url: str) -> LakeStorage:
        """The lake at ``url``: a local path or ``s3://bucket/prefix``. Nothing is touched yet (a local
        root is created by the first write)."""
        if "://" in url and not url.startswith("file://"):
            fs, root = pafs.FileSystem.from_uri(url)
            return cls(fs, root, url)
        local = Path(url.removeprefix("file://")).expanduser().resolve()
        return cls(None, local.as_posix(), local.as_posix())

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

    @lake_io
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
            fsync_path(tmp)
            self.fs.move(tmp, final)
        except BaseException:
            if self.exists_abs(tmp):
                self.fs.delete_file(tmp)
            raise
        fsync_path(folder)
        return self.fs.get_file_info(final).size or 0

    @lake_io
    def delete(self, relative_path: str) -> None:
        """Delete a file; a missing file is not an error (deletes are retried after crashes)."""
        full = self.full_path(relative_path)
        if self.exists_abs(full):
            self.fs.delete_file(full)

    # -- reads -------------------------------------------------------------------------------------

    @lake_io
    def exists(self, relative_path: str) -> bool:
        """Whether a file exists at the root-relative path."""
        return self.exists_abs(self.full_path(relative_path))

    def exists_abs(self, full_path: str) -> bool:
        """Whether a file exists at a filesystem path."""
        if self.is_local:
            return os.path.isfile(full_path)
        return bool(self.fs.get_file_info(full_path).type == pafs.FileType.File)

    @lake_io
    def list_parquet(self, prefix: str) -> list[LakeFileInfo]:
        """Every visible ``*.parquet`` file under ``prefix`` (e.g. ``events``), sorted by path, with
        its modification time. A local lake is listed with ``os.scandir`` (an idle server's periodic
        listings then do not load pyarrow)."""
        found: list[LakeFileInfo] = []
        if self.is_local:
            found = _local_parquet_files(self.full_path(prefix), len(self.root) + 1)
        else:
            selector = pafs.FileSelector(self.full_path(prefix), recursive=True, allow_not_found=True)
            cut = len(self.root) + 1
            for info in self.fs.get_file_info(selector):
                if info.type == pafs.FileType.File and info.path.endswith(".parquet"):
                    found.append(LakeFileInfo(path=info.path[cut:], size=info.size or 0, mtime=info.mtime))
        found.sort(key=lambda f: f.path)
        return found

    @lake_io
    def list_partitions(self, prefix: str) -> list[str]:
        """The ``YYYY-MM-DD`` values of the ``date=`` folders under ``prefix``, sorted."""
        if self.is_local:
            try:
                entries = [(e.name, e.is_dir()) for e in os.scandir(self.full_path(prefix))]
            except FileNotFoundError:
                entries = []
        else:
            selector = pafs.FileSelector(self.full_path(prefix), recursive=False, allow_not_found=True)
            entries = [
                (info.base_name, info.type == pafs.FileType.Directory)
                for info in self.fs.get_file_info(selector)
            ]
        return sorted(
            name.removeprefix("date=") for name, is_dir in entries if is_dir and name.startswith("date=")
        )

    @lake_io
    def read_table(self, relative_path: str, columns: Sequence[str] | None = None) -> pa.Table:
        """Read one Parquet file whole (or only ``columns``)."""
        # partitioning=None: the ``date`` lives in the folder name only, never as a column.
        return pq.read_table(
            self.full_path(relative_path),
            filesystem=self.fs,
            partitioning=None,
            columns=list(columns) if columns is not None else None,
        )

    @lake_io
    def row_count(self, relative_path: str) -> int:
        """Row count from the Parquet footer (no data read)."""
        with self.fs.open_input_file(self.full_path(relative_path)) as handle:
            return int(pq.ParquetFile(handle).metadata.num_rows)
