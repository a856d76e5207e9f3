"""Group commit: many appenders, one fsync. Each append gets a *ticket*; an fsync that starts after a
ticket was written covers it. A syncer thread runs the fsyncs so requests never do: request handlers
await their ticket on the event loop (:meth:`GroupCommit.wait_durable`), threads block on it
(:meth:`GroupCommit.sync`). A failed fsync fails exactly the tickets it was meant to cover; their
appenders answer 503 and the client resends."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable

import anyio.to_thread

from devflow.lake.storage import LakeUnavailable

log = logging.getLogger("devflow.lake.spool")

# How many failed ticket ranges are remembered (their appenders are answered long before this).
_FAILED_RANGES_KEPT = 16


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    """Complete a durability future on its own loop (a cancelled request's future is left alone)."""
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


class GroupCommit:
    """Ticket bookkeeping and the syncer thread. Every method whose name does not say otherwise must be
    called with ``lock`` held (the spool writer's lock, shared so a ticket and its bytes are one step)."""

    def __init__(self, lock: threading.RLock, current_fd: Callable[[], int | None]) -> None:
        self.cv = threading.Condition(lock)  # appenders waiting for durability
        self._work = threading.Condition(lock)  # the syncer waiting for something to sync
        self._current_fd = current_fd
        self.written = 0  # tickets issued
        self.synced = 0  # tickets covered by a completed fsync (or failed)
        self.syncing = False
        self._failed: list[tuple[int, int]] = []  # ticket ranges (lo, hi] whose fsync failed
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._thread: threading.Thread | None = None
        self._stopping = False

    # -- lifecycle (call without the lock) ------------------------------------------------------------

    def start(self) -> None:
        """Start the syncer thread."""
        self._thread = threading.Thread(target=self._run, name="lake-syncer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the syncer thread once nothing is left to sync."""
        with self.cv:
            self._stopping = True
            self._work.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # -- tickets ----------------------------------------------------------------------------------------

    def issue(self) -> int:
        """A ticket for bytes just written (lock held)."""
        self.written += 1
        if not self.syncing:  # a running fsync's syncer looks for more work when it ends
            self._work.notify()
        return self.written

    def sync(self, ticket: int) -> None:
        """Block until ``ticket`` is durable (takes the lock itself). Raises :class:`LakeUnavailable`
        if its fsync failed."""
        with self.cv:
            while True:
                if self._failed_ticket(ticket):
                    raise LakeUnavailable("spool fsync failed")
                if self.synced >= ticket:
                    return
                if self._thread is None and not self.syncing:
                    self._sync_once()  # no syncer thread (a writer used without start()): lead
                else:
                    self.cv.wait()

    async def wait_durable(self, ticket: int) -> None:
        """:meth:`sync` for the event loop: no thread is held while the syncer's fsync runs."""
        if ticket == 0:
            return
        if self._thread is None:
            await anyio.to_thread.run_sync(self.sync, ticket)
            return
        loop = asyncio.get_running_loop()
        with self.cv:
            if self._failed_ticket(ticket):
                raise LakeUnavailable("spool fsync failed")
            if self.synced >= ticket:
                return
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append((ticket, loop, future))
            if not self.syncing:
                self._work.notify()
        await future

    def wait_idle(self) -> None:
        """Wait until no fsync is in flight (lock held)."""
        while self.syncing:
            self.cv.wait()

    def mark_synced(self, target: int) -> None:
        """Every ticket up to ``target`` is durable (lock held)."""
        self.synced = max(self.synced, target)
        self._settle_waiters()
        self.cv.notify_all()

    def fail_unsynced(self) -> None:
        """Every issued but not yet durable ticket failed (lock held): its appenders get 503."""
        if self.synced < self.written:
            self._fail_range(self.synced, self.written)

    # -- internals (lock held) ----------------------------------------------------------------------

    def _failed_ticket(self, ticket: int) -> bool:
        return any(lo < ticket <= hi for lo, hi in self._failed)

    def _fail_range(self, lo: int, hi: int) -> None:
        self._failed = [*self._failed[-(_FAILED_RANGES_KEPT - 1) :], (lo, hi)]
        self.synced = max(self.synced, hi)
        self._settle_waiters()
        self.cv.notify_all()

    def _run(self) -> None:
        with self.cv:
            while True:
                try:
                    if self.synced < self.written and not self.syncing:
                        self._sync_once()
                    elif self._stopping:
                        return
                    else:
                        self._work.wait()
                except Exception:  # never leave waiters hanging: fail what is pending, carry on
                    log.exception("lake syncer failed")
                    self.fail_unsynced()

    def _sync_once(self) -> None:
        """One fsync covering every ticket issued so far (the lock is released while it runs)."""
        lo, target = self.synced, self.written
        fd = self._current_fd()
        self.syncing = True
        self.cv.release()
        error: OSError | None = None
        try:
            if fd is not None:  # None: a rotation fsynced and closed the segment already
                os.fsync(fd)
        except OSError as exc:
            error = exc
        finally:
            self.cv.acquire()
            self.syncing = False
        if error is None:
            self.mark_synced(target)
        else:
            log.error("spool fsync failed: %s", error)
            self._fail_range(lo, target)

    def _settle_waiters(self) -> None:
        if not self._waiters:
            return
        pending = []
        for ticket, loop, future in self._waiters:
            if ticket > self.synced:
                pending.append((ticket, loop, future))
                continue
            error = LakeUnavailable("spool fsync failed") if self._failed_ticket(ticket) else None
            try:
                loop.call_soon_threadsafe(_settle, future, error)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass
        self._waiters = pending
