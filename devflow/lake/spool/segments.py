"""Spool segment files: one append-only file per process at a time, held with ``flock`` by its writer.

A segment is created under a temporary name, locked, then renamed, so no other process can ever lock
a live segment; a segment whose lock can be taken belongs to a dead process and may be replayed.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path

from devflow.kernel.files import fsync_path
from devflow.kernel.ids import uuid7

SPOOL_SUFFIX = ".spool"
_CREATING_SUFFIX = ".new"
# A segment still being created (between open and rename) is left alone for this long.
_ABANDONED_CREATION_SECONDS = 60


@dataclass(slots=True)
class Segment:
    """The segment this process appends to."""

    id: str
    path: Path
    fd: int
    size: int = 0


def open_segment(spool_dir: Path) -> Segment:
    """A new segment, locked by this process until it is in the lake and deleted."""
    seg_id = uuid7().hex
    path = spool_dir / f"{seg_id}{SPOOL_SUFFIX}"
    tmp = path.with_suffix(_CREATING_SUFFIX)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.rename(tmp, path)
    fsync_path(spool_dir)
    return Segment(seg_id, path, fd)


def append(segment: Segment, record: bytes) -> None:
    """Write the whole record at the end of the segment (not yet durable)."""
    view = memoryview(record)
    while view:
        done = os.write(segment.fd, view)
        view = view[done:]
    segment.size += len(record)


def lock_if_orphaned(fd: int) -> bool:
    """Take the lock of a segment opened by path: True when no live process holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return os.fstat(fd).st_nlink > 0  # 0: someone just finished replaying and deleted it


def orphan_candidates(spool_dir: Path) -> list[Path]:
    """Segments in the folder, oldest first (their names are UUIDv7s)."""
    return sorted(spool_dir.glob(f"*{SPOOL_SUFFIX}"))


def remove_abandoned_creations(spool_dir: Path) -> None:
    """A creator that died between open and rename left an empty file (nothing was acknowledged).
    Only old ones go, so a live process between its open() and flock() is never disturbed."""
    for stale in spool_dir.glob(f"*{_CREATING_SUFFIX}"):
        try:
            if time.time() - stale.stat().st_mtime > _ABANDONED_CREATION_SECONDS:
                stale.unlink(missing_ok=True)
        except FileNotFoundError:
            continue
