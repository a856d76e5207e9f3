"""The durable lake writer: spool with group commit, periodic flush to Parquet, crash recovery.

:meth:`LakeWriter.write` appends the producer's rows (Arrow tables, or
:class:`~devflow.lake.tables.Columns`) to this process's spool segment and returns a ticket; the
caller answers its client only once :meth:`wait_durable` (or :meth:`sync`) says an fsync covers the
ticket (:mod:`devflow.lake.spool.commit`). A background thread flushes the spool
to Parquet every ``flush_interval_seconds`` or ``flush_max_bytes``: it rotates to a new segment, writes
one file per table and partition named after the old segment (``part-<segment id>.parquet``,
atomically), registers the files in ``lake_files`` and only then deletes the old segment.

Crash recovery: at start-up, and every ``RECOVERY_INTERVAL_SECONDS``, every segment that no live
process holds is replayed the same way (:mod:`devflow.lake.spool.segments`), so several server
processes can share one spool folder and one lake. Because file names are derived from the segment
id, a replay after a crash in the middle of a flush finds the files it already wrote or registered
and does not write them twice.

The writer knows no table: each :class:`~devflow.lake.tables.PartitionedTable` it is given says how
to partition and sort its rows, and how appended rows (plus the in-memory companion a producer may
pass along, which never reaches the spool) become rows of its schema.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from devflow.kernel import instruments
from devflow.kernel.files import fsync_path
from devflow.kernel.lazy import pa, pc
from devflow.lake.partitions import WrittenFile, write_partitioned
from devflow.lake.registry import register_files, registered_paths_of
from devflow.lake.spool.commit import GroupCommit
from devflow.lake.spool.records import encode_record, read_records
from devflow.lake.spool.segments import (
    Segment,
    append,
    lock_if_orphaned,
    open_segment,
    orphan_candidates,
    remove_abandoned_creations,
)
from devflow.lake.storage import LakeStorage, LakeUnavailable
from devflow.lake.tables import Columns, PartitionedTable

log = logging.getLogger("devflow.lake.writer")

# How often a running writer looks for segments of dead processes (start-up always does).
RECOVERY_INTERVAL_SECONDS = 30.0
# The contract bounds the time an acknowledged event may wait for the lake (§6.5).
MAX_FLUSH_INTERVAL_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Append:
    """Rows for one table (an Arrow table, or :class:`~devflow.lake.tables.Columns`); ``memo`` stays in
    memory next to them and never reaches the spool."""

    table: str
    rows: pa.Table | Columns
    memo: object | None = None


@dataclass(slots=True)
class _Pending:
    """Appended rows of one segment waiting to reach Parquet, per table name."""

    rows: dict[str, list[pa.Table | Columns]] = field(default_factory=dict)
    memos: dict[str, list[object | None]] = field(default_factory=dict)
    since: float | None = None  # monotonic time of the first append

    def add(self, name: str, rows: pa.Table | Columns, memo: object | None) -> None:
        if self.since is None:
            self.since = time.monotonic()
        self.rows.setdefault(name, []).append(rows)
        self.memos.setdefault(name, []).append(memo)


@dataclass(slots=True)
class _Closed:
    """A rotated (or orphaned) segment whose rows still have to reach Parquet."""

    segment: Segment | None  # None for an orphan adopted from a dead process (path only)
    id: str
    path: Path
    pending: _Pending
    size: int = 0


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
    return trim


_malloc_trim = _load_malloc_trim()


def _trim_c_heap() -> None:
    """Give glibc's free heap pages back to the OS: request bodies and decoded batches come and go on
    several threads, each with its own malloc arena, which otherwise keeps its high-water mark."""
    if _malloc_trim is not None:
        _malloc_trim(0)


class LakeWriter:
    """Spool with group commit + periodic Parquet flush. Thread-safe; one per process."""

    def __init__(
        self,
        storage: LakeStorage,
        db: sessionmaker[Session],
        spool_dir: Path,
        tables: Sequence[PartitionedTable],
        *,
        flush_interval_seconds: float = 2.0,
        flush_max_bytes: int = 6 * 1024 * 1024,
        max_backlog_bytes: int | None = None,
        erased: Callable[[], Collection[str]] | None = None,
    ) -> None:
        self.storage = storage
        self.db = db
        self.spool_dir = spool_dir
        # Record codes are positions in ``tables`` (1-based): keep the order stable across releases.
        self.tables = {spec.name: spec for spec in tables}
        self._codes = {spec.name: code for code, spec in enumerate(tables, start=1)}
        self._names = {code: name for name, code in self._codes.items()}
        self.flush_interval_seconds = min(MAX_FLUSH_INTERVAL_SECONDS, flush_interval_seconds)
        self.flush_max_bytes = flush_max_bytes
        # Bytes waiting for a lake that keeps failing; beyond this, appends answer 503.
        self.max_backlog_bytes = max_backlog_bytes or 4 * flush_max_bytes
        self._lock = threading.RLock()
        self._commit = GroupCommit(self._lock, lambda: self._segment.fd if self._segment else None)
        self._segment: Segment | None = None
        self._pending = _Pending()
        self._backlog: list[_Closed] = []  # rotated, not yet in the lake (oldest first)
        self._backlog_bytes = 0
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        # ``user_id`` values whose rows must never reach the lake (deleted accounts): rows still in
        # the spool when an account is deleted are dropped at flush instead of resurrecting it.
        self._erased = erased

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> LakeWriter:
        """Replay spools left by dead processes, then start the syncer and the flusher."""
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.recover()
        self._commit.start()
        self._thread = threading.Thread(target=self._run, name="lake-flusher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Flush everything and stop. Appends after this raise :class:`LakeUnavailable`."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            self.flush()
        finally:
            with self._lock:
                self._closed = True
            self._commit.stop()

    def _run(self) -> None:
        next_recovery = time.monotonic() + RECOVERY_INTERVAL_SECONDS
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval_seconds)
            self._wake.clear()
            if self._stop.is_set():
                break
            self._report_backlog()
            written: list[WrittenFile] = []
            try:
                written = self.flush()
            except Exception:  # the next tick retries; the spool keeps the data durable meanwhile
                log.exception("lake flush failed; will retry")
            self._report_backlog()
            if written:
                # The flush's large temporary buffers are freed; return them to the OS instead of
                # keeping them cached (keeps RSS flat under steady ingest). An idle tick has none
                # (and must not load pyarrow).
                pa.default_memory_pool().release_unused()
                _trim_c_heap()
            if time.monotonic() >= next_recovery:
                # Another server process sharing this spool folder may have died since start-up.
                next_recovery = time.monotonic() + RECOVERY_INTERVAL_SECONDS
                self.recover()

    def _report_backlog(self) -> None:
        """The metrics' view of what waits for the lake: bytes, and the oldest append's age."""
        if not instruments.enabled():
            return
        with self._lock:
            size = self._backlog_bytes + (self._segment.size if self._segment is not None else 0)
            oldest = self._backlog[0].pending.since if self._backlog else self._pending.since
        instruments.set_spool(size, time.monotonic() - oldest if oldest is not None else 0.0)

    # -- append (hot path) -------------------------------------------------------------------------

    def write(self, *appends: Append) -> int:
        """Write the rows to the spool segment WITHOUT waiting for an fsync; returns the ticket to pass
        to :meth:`sync` or :meth:`wait_durable` (0: nothing to write). Not yet acknowledgeable."""
        appends = tuple(a for a in appends if a.rows.num_rows)
        if not appends:
            return 0
        record = b"".join(encode_record(self._codes[a.table], a.rows) for a in appends)
        with self._lock:
            if self._closed:
                raise LakeUnavailable("lake writer is stopped")
            if self._backlog_bytes > self.max_backlog_bytes:
                raise LakeUnavailable("lake backlog is full")
            try:
                segment = self._segment or self._open_segment()
            except OSError as exc:
                raise LakeUnavailable("cannot create a spool segment") from exc
            written_before = segment.size
            try:
                append(segment, record)
            except OSError as exc:
                # Cut the torn record off so that later records of this segment stay readable.
                try:
                    os.ftruncate(segment.fd, written_before)
                    segment.size = written_before
                except OSError:
                    # Unusable: the next append starts a new segment. Its records not yet fsynced
                    # cannot be made durable any more: their appenders answer 503 (and resend).
                    self._segment = None
                    self._commit.fail_unsynced()
                raise LakeUnavailable("spool write failed") from exc
            for item in appends:
                self._pending.add(item.table, item.rows, item.memo)
            if segment.size >= self.flush_max_bytes:
                self._wake.set()
            return self._commit.issue()

    def append(self, *appends: Append) -> None:
        """Write and wait until the rows survive ``kill -9``."""
        self.sync(self.write(*appends))

    def sync(self, ticket: int) -> None:
        """Block until ``ticket`` is durable (raises :class:`LakeUnavailable` if its fsync failed)."""
        if ticket:
            self._commit.sync(ticket)

    async def wait_durable(self, ticket: int) -> None:
        """:meth:`sync` for the event loop: no thread is held while the fsync runs."""
        await self._commit.wait_durable(ticket)

    @property
    def last_ticket(self) -> int:
        """The newest ticket issued (0 before the first write)."""
        return self._commit.written

    @property
    def durable_ticket(self) -> int:
        """Every ticket up to this one is durable, or has failed and was answered so."""
        return self._commit.synced

    def _open_segment(self) -> Segment:
        self._segment = open_segment(self.spool_dir)
        return self._segment

    # -- flush -------------------------------------------------------------------------------------

    def flush(self) -> list[WrittenFile]:
        """Move everything appended so far into Parquet files in the lake (and register them).

        Raises when the lake is unreachable; the rows stay in the spool and the next flush retries.
        """
        with self._flush_lock:
            started = time.perf_counter()
            self._rotate()
            written: list[WrittenFile] = []
            while self._backlog:
                closed = self._backlog[0]
                written += self._materialize(closed)
                with self._lock:
                    self._backlog.pop(0)
                    self._backlog_bytes -= closed.size
            if written:
                instruments.observe_flush(time.perf_counter() - started)
            return written

    def _rotate(self) -> None:
        with self._lock:
            self._commit.wait_idle()
            segment = self._segment
            if segment is None:
                return
            os.fsync(segment.fd)
            self._commit.mark_synced(self._commit.written)
            self._backlog.append(_Closed(segment, segment.id, segment.path, self._pending, segment.size))
            self._backlog_bytes += segment.size
            self._segment = None
            self._pending = _Pending()

    def _materialize(self, closed: _Closed) -> list[WrittenFile]:
        """Write the segment's rows as Parquet (named after the segment), register, delete the segment."""
        written: list[WrittenFile] = []
        skip = registered_paths_of(self.db, closed.id)
        erased = list(self._erased()) if self._erased is not None else []
        for name, tables in closed.pending.rows.items():
            spec = self.tables[name]
            rows = spec.complete(tables, closed.pending.memos[name])
            if erased and "user_id" in rows.column_names:
                gone = pa.array(erased, pa.string()).cast(rows["user_id"].type)
                rows = rows.filter(pc.invert(pc.is_in(rows["user_id"], value_set=gone)))
            written += write_partitioned(self.storage, spec, rows, file_id=closed.id, skip=skip)
        register_files(self.db, written)
        closed.path.unlink(missing_ok=True)
        fsync_path(self.spool_dir)
        if closed.segment is not None:
            os.close(closed.segment.fd)  # releases the lock, after the unlink
        log.debug("flushed spool segment %s: %d files", closed.id, len(written))
        return written

    # -- recovery ----------------------------------------------------------------------------------

    def recover(self) -> int:
        """Replay every spool segment no live process holds; return how many were replayed.

        A segment that cannot be replayed now (lake or database down) is left for the next pass.
        """
        replayed = 0
        for path in orphan_candidates(self.spool_dir):
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                if not lock_if_orphaned(fd):
                    continue
                with open(path, "rb") as handle:
                    data = handle.read()
                pending = _Pending()
                for code, table in read_records(data):
                    pending.add(self._names[code], table, None)
                self._materialize(_Closed(None, path.stem, path, pending, size=len(data)))
                replayed += 1
                log.info("replayed spool segment %s left by a previous process", path.name)
            except Exception:  # the lake or the database is down: the segment stays for a later pass
                log.exception("replaying spool segment %s failed; will retry", path.name)
            finally:
                os.close(fd)
        remove_abandoned_creations(self.spool_dir)
        return replayed
