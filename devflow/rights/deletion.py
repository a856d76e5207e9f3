"""Account deletion: a journal in the database and idempotent steps, so a kill at any point finishes
on the next start (the app's start-up and the scheduler resume pending entries).

Steps, each recorded in ``account_deletions.step`` once done:

1. ``requested`` — the journal row is written in the same transaction that deletes the user's API
   tokens and pairings: the editor's next request gets ``401``.
2. ``database`` — every row of every table with a ``user_id`` column (sessions, recommendations,
   workflow states, evaluations, leases…), then the user row, in one transaction.
3. ``spool`` — this process's lake writer flushes, so rows it still held are in the lake for step 4.
   Rows in any spool that flush later are dropped by the writer (the journal row is its tombstone).
4. ``lake`` — every lake file with a ``user_id`` column (events, quarantine, every metric dataset,
   whatever new datasets add) is rewritten without the user's rows, each one atomically, under the
   metrics ETL's runner lock so that a concurrent pass cannot write back a partition it read before.
   Then the journal is marked finished.

Fault injection for the tests: ``DEVFLOW_FAULT_KILL_AT=<point>`` SIGKILLs the process at that point:
``requested``, ``database``, ``spool`` (after the step's work, before the journal moves on),
``lake-file`` (after the first rewritten lake file) and ``lake``.
"""

from __future__ import annotations

import logging
import os
import signal
import uuid

from sqlalchemy import delete

from devflow.accounts import (
    DELETION_FINISHED,
    User,
    deletion_step,
    pending_deletions,
    record_deletion_step,
    start_deletion,
)
from devflow.db.locks import try_runner_lock
from devflow.lake.erasure import erase_value
from devflow.metrics import ETL_LOCK
from devflow.models import AccountDeletion, Base
from devflow.services import Services

log = logging.getLogger("devflow.rights.deletion")

FAULT_ENV = "DEVFLOW_FAULT_KILL_AT"
DELETION_LOCK = "account-deletions"
FAULT_POINTS = ("requested", "database", "spool", "lake-file", "lake")


def _fault(point: str) -> None:
    if os.environ.get(FAULT_ENV) == point:
        log.warning("fault injection: killing the process at %s", point)
        os.kill(os.getpid(), signal.SIGKILL)


def delete_account(services: Services, user_id: uuid.UUID) -> bool:
    """Journal and run the deletion of ``user_id``; True once every step is done (False: the lake
    step waits for the ETL lock and the scheduler finishes it). Idempotent. Blocking."""
    start_deletion(services.db, user_id, services.clock())
    _fault("requested")
    return finish_deletion(services, user_id)


def _delete_database_rows(services: Services, user_id: uuid.UUID) -> None:
    tables = [
        t
        for t in reversed(Base.metadata.sorted_tables)
        if "user_id" in t.c and t.name != AccountDeletion.__tablename__
    ]
    with services.db.begin() as session:
        for table in tables:
            session.execute(delete(table).where(table.c.user_id == user_id))
        session.execute(delete(User).where(User.id == user_id))


def finish_deletion(services: Services, user_id: uuid.UUID) -> bool:
    """Run the remaining steps of a journaled deletion (see the module docstring)."""
    db = services.db
    step = deletion_step(db, user_id)
    if step is None or step == DELETION_FINISHED:
        return True
    if step == "requested":
        start_deletion(db, user_id, services.clock())  # a credential created in between goes too
        _delete_database_rows(services, user_id)
        _fault("database")
        record_deletion_step(db, user_id, "database", services.clock())
        step = "database"
    if step == "database":
        if services.writer is not None:
            services.writer.flush()
        _fault("spool")
        record_deletion_step(db, user_id, "spool", services.clock())
        step = "spool"
    with try_runner_lock(services.engine, services.settings.data_dir, ETL_LOCK) as held:
        if not held:
            log.info("account deletion %s: the lake step waits for the metrics ETL", user_id)
            return False
        if services.writer is not None:  # rows appended while the lock was awaited
            services.writer.flush()
        erased = erase_value(
            services.lake, db, "user_id", str(user_id), after_each=lambda _: _fault("lake-file")
        )
    _fault("lake")
    record_deletion_step(db, user_id, DELETION_FINISHED, services.clock())
    log.info("account deletion %s finished: %d lake file(s) rewritten", user_id, len(erased))
    return True


def resume_deletions(services: Services) -> int:
    """Finish every pending deletion (app start-up, the scheduled job); how many finished."""
    finished = 0
    for user_id in pending_deletions(services.db):
        try:
            finished += finish_deletion(services, user_id)
        except Exception:
            log.exception("account deletion %s failed; will retry", user_id)
    return finished
