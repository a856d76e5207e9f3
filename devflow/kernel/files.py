"""File-system hygiene shared by every entry point and the storage adapters."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_UMASK = 0o077


def restrict_new_files() -> None:
    """New files are ``0600`` and new folders ``0700`` from now on, in this process and its children.

    The data dir holds bcrypt and token hashes (the SQLite file), the generated JWT secret, the
    spool and the lake: nobody but the service's user should read them. An operator's umask that
    is already stricter is kept (its bits are OR-ed in, never cleared).
    """
    current = os.umask(PRIVATE_UMASK)
    os.umask(current | PRIVATE_UMASK)


def fsync_path(path: str | Path) -> None:
    """fsync a file or a folder by path (a folder's fsync makes a rename in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
