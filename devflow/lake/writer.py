"""The durable lake writer: acknowledged means on disk (DESIGN.md flow 2).

``append`` writes the batch's Arrow tables to a local *spool segment* and returns only after an
fsync covers them. Concurrent requests share fsyncs (group commit): whoever finds no fsync in
flight becomes the leader and syncs everything written so far; the others wait for it. A background
thread flushes the spool to Parquet every ``lake_flush_interval_seconds`` or ``lake_flush_max_bytes``:
it rotates to a new segment, writes one file per partition named after the old segment
(``part-<segment id>.parquet``, atomically), registers the files in ``lake_files`` and only then
deletes the old segment.

Crash recovery: at start-up every segment in the spool folder that no live process holds is
replayed the same way. Segments are locked with ``flock`` by the process that writes them (created
under a temporary name, locked, then renamed, so no other process can ever lock a live segment),
so several server processes can share one spool folder and one lake. Because file names are
derived from the segment id, a replay after a crash in the middle of a flush finds the files it
already wrote or registered and does not write them twice.

Spool record: ``b"DVFS"``, kind (1 events, 2 quarantine), payload length, CRC-32, then an Arrow
IPC stream. A torn record at the end of a segment (a crash mid-write, never acknowledged) is ignored.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import fcntl
import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio.to_thread
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devflow.config import Settings
from devflow.lake.files import (
    WrittenFile,
    register_files,
    write_event_files,
    write_partitioned,
    write_quarantine_files,
)
from devflow.lake.ids import uuid7
from devflow.lake.models import LakeFile
from devflow.lake.schema import EVENT_SCHEMA, EVENTS_DIR, QUARANTINE_DIR, QUARANTINE_SCHEMA
from devflow.lake.storage import LakeStorage

__all__ = ["LakeUnavailable", "LakeWriter", "open_lake_writer", "write_event_files", "write_quarantine_files"]

log = logging.getLogger("devflow.lake.writer")

_HEADER = struct.Struct("<4sBII")
_MAGIC = b"DVFS"
_KIND_EVENTS = 1
_KIND_QUARANTINE = 2
SPOOL_SUFFIX = ".spool"
# How often a running writer looks for segments of dead processes (start-up always does).
RECOVERY_INTERVAL_SECONDS = 30.0


class LakeUnavailable(RuntimeError):
    """The spool or the lake cannot take the batch durably (→ 503, the client resends)."""


def _ipc_bytes(table: pa.Table) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    return sink.getvalue()


def encode_record(kind: int, table: pa.Table) -> bytes:
    """One spool record: header + Arrow IPC stream of ``table`` (without the in-memory-only typed
    struct of a request: a replay derives it from ``raw``)."""
    from devflow.telemetry.arrow import TYPED_STRUCT_COLUMN

    if TYPED_STRUCT_COLUMN in table.column_names:
        table = table.drop_columns([TYPED_STRUCT_COLUMN])
    payload = _ipc_bytes(table)
    body: bytes = payload.to_pybytes()
    return _HEADER.pack(_MAGIC, kind, len(body), zlib.crc32(body)) + body


def read_records(data: bytes) -> Iterator[tuple[int, pa.Table]]:
    """The complete records of a segment, in order; stops at the first torn or corrupt record."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        magic, kind, length, crc = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        payload = data[start : start + length]
        if magic != _MAGIC or len(payload) != length or zlib.crc32(payload) != crc:
            if offset + _HEADER.size + length <= len(data) or magic != _MAGIC:
                log.warning("spool record at byte %d is corrupt; ignoring the rest of the segment", offset)
            return
        yield kind, pa.ipc.open_stream(payload).read_all()
        offset = start + length


@dataclass(slots=True)
class _Segment:
    id: str
    path: Path
    fd: int
    size: int = 0


@dataclass(slots=True)
class _Closed:
    """A rotated segment whose rows still have to reach Parquet."""

    segment: _Segment | None  # None for an orphan adopted at start-up (path only)
    id: str
    path: Path
    events: list[pa.Table] = field(default_factory=list)
    quarantine: list[pa.Table] = field(default_factory=list)
    size: int = 0


def _as_schema(tables: list[pa.Table], schema: pa.Schema) -> pa.Table:
    """Concatenate appended tables into one of ``schema``; spooled event tables (raw JSON plus
    identity columns, with or without the request's typed struct) get their typed columns derived
    here, in bulk, off the request path."""
    from devflow.telemetry.arrow import SPOOL_EVENT_SCHEMA, TYPED_STRUCT_COLUMN, expand_events

    with_struct = [t for t in tables if TYPED_STRUCT_COLUMN in t.column_names]
    spooled = [t for t in tables if t.schema.equals(SPOOL_EVENT_SCHEMA)]
    parts = [
        t.cast(schema) if not t.schema.equals(schema) else t
        for t in tables
        if not t.schema.equals(SPOOL_EVENT_SCHEMA) and TYPED_STRUCT_COLUMN not in t.column_names
    ]
    for group in (with_struct, spooled):
        if group:
            parts.append(expand_events(pa.concat_tables(group)))
    return pa.concat_tables(parts) if len(parts) > 1 else parts[0]


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
    return trim


_malloc_trim = _load_malloc_trim()


def _trim_c_heap() -> None:
    """Give glibc's free heap pages back to the OS. Request bodies and decoded batches come and go
    on several threads, each with its own malloc arena; without a trim those arenas keep their
    high-water mark (measured: ~140 MB more idle RSS for two workers after 6,000 batches).
    The call releases the GIL (ctypes) and runs once per flush, on the flusher thread."""
    if _malloc_trim is not None:
        _malloc_trim(0)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    """Complete a durability future on its own loop (a cancelled request's future is left alone)."""
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def _lock_nonblocking(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LakeWriter:
    """Spool with group commit + periodic Parquet flush. Thread-safe; one per process."""

    def __init__(
        self,
        storage: LakeStorage,
        db: sessionmaker[Session],
        spool_dir: Path,
        *,
        flush_interval_seconds: float = 2.0,
        flush_max_bytes: int = 64 * 1024 * 1024,
        max_backlog_bytes: int | None = None,
    ) -> None:
        self.storage = storage
        self.db = db
        self.spool_dir = spool_dir
        self.flush_interval_seconds = min(10.0, flush_interval_seconds)
        self.flush_max_bytes = flush_max_bytes
        # Bytes waiting for a lake that keeps failing; beyond this, appends answer 503.
        self.max_backlog_bytes = max_backlog_bytes or 4 * flush_max_bytes
        lock = threading.RLock()
        self._cv = threading.Condition(lock)  # appenders waiting for durability
        self._sync_cv = threading.Condition(lock)  # the syncer thread waiting for work
        self._segment: _Segment | None = None
        self._events: list[pa.Table] = []
        self._quarantine: list[pa.Table] = []
        self._written = 0  # records written (this process)
        self._synced = 0  # records covered by a completed fsync
        self._syncing = False
        # Tickets (lo, hi] whose fsync failed (their appenders answer 503); the newest few.
        self._failed: list[tuple[int, int]] = []
        # Event-loop waiters of wait_durable: (ticket, loop, future).
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._syncer: threading.Thread | None = None
        self._syncer_stop = False
        self._backlog: list[_Closed] = []  # rotated, not yet in the lake (oldest first)
        self._backlog_bytes = 0
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> LakeWriter:
        """Replay spools left by dead processes, then start the background flusher."""
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.recover()
        self._syncer = threading.Thread(target=self._sync_run, name="lake-syncer", daemon=True)
        self._syncer.start()
        self._thread = threading.Thread(target=self._run, name="lake-flusher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Flush everything and stop the flusher. Appends after this raise :class:`LakeUnavailable`."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            self.flush()
        finally:
            with self._cv:
                self._closed = True
                self._syncer_stop = True
                self._sync_cv.notify()
            if self._syncer is not None:
                self._syncer.join()
                self._syncer = None

    def _run(self) -> None:
        next_recovery = time.monotonic() + RECOVERY_INTERVAL_SECONDS
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval_seconds)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.flush()
            except Exception:  # the next tick retries; appends keep the data durable meanwhile
                log.exception("lake flush failed; will retry")
            # The flush's large temporary buffers are freed; ask the allocator to return them to
            # the OS instead of keeping them cached (keeps RSS flat under steady ingest).
            pa.default_memory_pool().release_unused()
            _trim_c_heap()
            if time.monotonic() >= next_recovery:
                # Another server process sharing this spool folder may have died since start-up.
                next_recovery = time.monotonic() + RECOVERY_INTERVAL_SECONDS
                self.recover()

    # -- append (hot path) -------------------------------------------------------------------------

    def append(self, events: pa.Table | None, quarantine: pa.Table | None = None) -> None:
        """Make the rows durable (fsync'd to the spool); returns once they survive ``kill -9``."""
        self.sync(self.write(events, quarantine))

    def write(self, events: pa.Table | None, quarantine: pa.Table | None = None) -> int:
        """Write the rows to the spool segment WITHOUT waiting for an fsync; returns the ticket to
        pass to :meth:`sync` or :meth:`wait_durable` (0: nothing to write). Not yet acknowledgeable."""
        record = b""
        if events is not None and events.num_rows:
            record += encode_record(_KIND_EVENTS, events)
        if quarantine is not None and quarantine.num_rows:
            record += encode_record(_KIND_QUARANTINE, quarantine)
        if not record:
            return 0
        with self._cv:
            if self._closed:
                raise LakeUnavailable("lake writer is stopped")
            if self._backlog_bytes > self.max_backlog_bytes:
                raise LakeUnavailable("lake backlog is full")
            try:
                segment = self._segment or self._open_segment()
            except OSError as exc:
                raise LakeUnavailable("cannot create a spool segment") from exc
            try:
                view = memoryview(record)
                while view:
                    done = os.write(segment.fd, view)
                    view = view[done:]
            except OSError as exc:
                # Cut the torn record off so that later records of this segment stay readable.
                try:
                    os.ftruncate(segment.fd, segment.size)
                except OSError:
                    # Unusable: the next append starts a new segment. Its records not yet fsynced
                    # cannot be made durable any more: their appenders answer 503 (and resend).
                    self._segment = None
                    self._fail_unsynced()
                raise LakeUnavailable("spool write failed") from exc
            segment.size += len(record)
            if events is not None and events.num_rows:
                self._events.append(events)
            if quarantine is not None and quarantine.num_rows:
                self._quarantine.append(quarantine)
            self._written += 1
            if segment.size >= self.flush_max_bytes:
                self._wake.set()
            self._sync_cv.notify()
            return self._written

    def sync(self, ticket: int) -> None:
        """Block until the record of ``ticket`` is covered by an fsync (group commit: one fsync covers
        every record written before it started). Raises :class:`LakeUnavailable` if that fsync failed."""
        with self._cv:
            while True:
                if self._failed_ticket(ticket):
                    raise LakeUnavailable("spool fsync failed")
                if self._synced >= ticket:
                    return
                if self._syncer is None and not self._syncing:
                    self._sync_once()  # no syncer thread (a writer used without start()): lead
                else:
                    self._cv.wait()

    async def wait_durable(self, ticket: int) -> None:
        """:meth:`sync` for the event loop: no thread is held while the syncer thread's fsync runs."""
        if ticket == 0:
            return
        if self._syncer is None:
            await anyio.to_thread.run_sync(self.sync, ticket)
            return
        loop = asyncio.get_running_loop()
        with self._cv:
            if self._failed_ticket(ticket):
                raise LakeUnavailable("spool fsync failed")
            if self._synced >= ticket:
                return
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append((ticket, loop, future))
            self._sync_cv.notify()
        await future

    def _failed_ticket(self, ticket: int) -> bool:
        return any(lo < ticket <= hi for lo, hi in self._failed)

    def _sync_run(self) -> None:
        """The syncer thread: fsync whenever records are waiting, so that requests never do."""
        with self._cv:
            while True:
                try:
                    if self._synced < self._written and not self._syncing:
                        self._sync_once()
                    elif self._syncer_stop:
                        return
                    else:
                        self._sync_cv.wait()
                except Exception:  # never leave waiters hanging: fail what is pending, carry on
                    log.exception("lake syncer failed")
                    self._fail_unsynced()
                    self._cv.notify_all()

    def _fail_unsynced(self) -> None:
        """Every written but not yet durable record failed (lock held): its appenders get 503."""
        if self._synced < self._written:
            self._fail_range(self._synced, self._written)

    def _fail_range(self, lo: int, hi: int) -> None:
        """Tickets (lo, hi] failed (lock held): their appenders answer 503 and the writer moves on."""
        self._failed = [*self._failed[-15:], (lo, hi)]
        self._synced = max(self._synced, hi)
        self._settle_waiters()

    def _sync_once(self) -> None:
        """One fsync covering every record written so far (called with the lock held, released while
        the fsync runs); then wake the appenders it covers or failed."""
        lo, target = self._synced, self._written
        segment = self._segment
        self._syncing = True
        self._cv.release()
        error: OSError | None = None
        try:
            if segment is not None:  # None: a rotation fsynced and closed it already
                os.fsync(segment.fd)
        except OSError as exc:
            error = exc
        finally:
            self._cv.acquire()
            self._syncing = False
        if error is None:
            self._mark_synced(target)
        else:
            log.error("spool fsync failed: %s", error)
            self._fail_range(lo, target)
        self._cv.notify_all()

    def _mark_synced(self, target: int) -> None:
        """Record that every ticket up to ``target`` is durable (lock held)."""
        self._synced = max(self._synced, target)
        self._settle_waiters()

    def _settle_waiters(self) -> None:
        """Resolve the event-loop waiters whose tickets are now durable or failed (lock held)."""
        if not self._waiters:
            return
        pending = []
        for ticket, loop, future in self._waiters:
            if ticket > self._synced:
                pending.append((ticket, loop, future))
                continue
            error = LakeUnavailable("spool fsync failed") if self._failed_ticket(ticket) else None
            try:
                loop.call_soon_threadsafe(_settle, future, error)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass
        self._waiters = pending

    def _open_segment(self) -> _Segment:
        """A new locked segment (called with the condition held)."""
        seg_id = uuid7().hex
        path = self.spool_dir / f"{seg_id}{SPOOL_SUFFIX}"
        tmp = path.with_suffix(".new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)  # held until the segment is in the lake and deleted
        os.rename(tmp, path)
        _fsync_dir(self.spool_dir)
        self._segment = _Segment(seg_id, path, fd)
        return self._segment

    # -- flush -------------------------------------------------------------------------------------

    def flush(self) -> list[WrittenFile]:
        """Move everything appended so far into Parquet files in the lake (and register them).

        Raises when the lake is unreachable; the rows stay in the spool and the next flush retries.
        """
        with self._flush_lock:
            self._rotate()
            written: list[WrittenFile] = []
            while self._backlog:
                closed = self._backlog[0]
                written += self._materialize(closed)
                with self._cv:
                    self._backlog.pop(0)
                    self._backlog_bytes -= closed.size
            return written

    def _rotate(self) -> None:
        with self._cv:
            while self._syncing:
                self._cv.wait()
            segment = self._segment
            if segment is None:
                return
            os.fsync(segment.fd)
            self._mark_synced(self._written)
            self._cv.notify_all()
            self._backlog.append(
                _Closed(segment, segment.id, segment.path, self._events, self._quarantine, segment.size)
            )
            self._backlog_bytes += segment.size
            self._segment = None
            self._events = []
            self._quarantine = []

    def _materialize(self, closed: _Closed) -> list[WrittenFile]:
        """Write the segment's rows as Parquet (named after the segment), register, delete the segment."""
        written: list[WrittenFile] = []
        for kind, tables, schema in (
            (EVENTS_DIR, closed.events, EVENT_SCHEMA),
            (QUARANTINE_DIR, closed.quarantine, QUARANTINE_SCHEMA),
        ):
            if not tables:
                continue
            table = _as_schema(tables, schema)
            written += write_partitioned(
                self.storage, kind, table, file_id=closed.id, skip=self._registered_paths(closed.id)
            )
        register_files(self.db, written)
        closed.path.unlink(missing_ok=True)
        _fsync_dir(self.spool_dir)
        if closed.segment is not None:
            os.close(closed.segment.fd)  # releases the lock, after the unlink
        log.debug("flushed spool segment %s: %d files", closed.id, len(written))
        return written

    def _registered_paths(self, file_id: str) -> set[str]:
        """Paths of this segment's files already registered (a replay after a crash mid-flush)."""
        with self.db() as session:
            return set(
                session.scalars(select(LakeFile.path).where(LakeFile.path.like(f"%/part-{file_id}.parquet")))
            )

    # -- recovery ----------------------------------------------------------------------------------

    def recover(self) -> int:
        """Replay every spool segment no live process holds; return how many were replayed.

        Runs at start-up and every ``RECOVERY_INTERVAL_SECONDS`` from the flusher, so a segment of a
        crashed sibling process reaches the lake even while this process keeps running. A segment
        that cannot be replayed now (lake or database down) is left for the next pass.
        """
        replayed = 0
        for path in sorted(self.spool_dir.glob(f"*{SPOOL_SUFFIX}")):
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                if not _lock_nonblocking(fd) or os.fstat(fd).st_nlink == 0:
                    continue  # a live process owns it, or someone just finished replaying it
                with open(path, "rb") as handle:
                    data = handle.read()
                closed = _Closed(None, path.stem, path, size=len(data))
                for kind, table in read_records(data):
                    (closed.events if kind == _KIND_EVENTS else closed.quarantine).append(table)
                self._materialize(closed)
                replayed += 1
                log.info("replayed spool segment %s left by a previous process", path.name)
            except Exception:  # the lake or the database is down: the segment stays for a later pass
                log.exception("replaying spool segment %s failed; will retry", path.name)
            finally:
                os.close(fd)
        for stale in self.spool_dir.glob("*.new"):
            # A creator died between open and rename: the file is empty (nothing was acknowledged).
            # Only old ones, so a live process between its open() and flock() is never disturbed.
            try:
                if time.time() - stale.stat().st_mtime > 60:
                    stale.unlink(missing_ok=True)
            except FileNotFoundError:
                continue
        return replayed


def open_lake_writer(settings: Settings, db: sessionmaker[Session]) -> LakeWriter:
    """The process's writer for ``settings.lake_url``, spooling under ``<data dir>/spool``; started
    (orphaned spools replayed). Stop it with :meth:`LakeWriter.stop`."""
    writer = LakeWriter(
        LakeStorage.from_url(settings.lake_url),
        db,
        settings.data_dir / "spool",
        flush_interval_seconds=settings.lake_flush_interval_seconds,
        flush_max_bytes=settings.lake_flush_max_bytes,
    )
    return writer.start()
