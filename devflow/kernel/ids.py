"""Time-sortable identifiers (UUIDv7, RFC 9562) for batches, spool segments and lake files."""

from __future__ import annotations

import uuid

import uuid6


def uuid7() -> uuid.UUID:
    """A UUIDv7; ids made by one process are strictly increasing, so names built from them sort in
    creation order."""
    return uuid6.uuid7()
