"""What the VS Code extension does that the generator mirrors: session rotation, the rapid-switching
flag, the timestamp format and the 60-second batches it posts (contract §4)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

SESSION_IDLE_ROTATION_MS = 30 * 60 * 1000  # the extension starts a new session after 30 idle minutes
RAPID_WINDOW_MS = 60_000
RAPID_MIN_SWITCHES = 6  # "more than 5 switches within the last 60 s, this one included"
LARGE_PASTE_CHARS = 100  # is_large_paste: more characters added than this
REWRITE_CHARS = 50  # is_possible_rewrite: more than this many characters both added and deleted
SYNC_INTERVAL_MS = 60_000  # the extension posts what it collected every 60 s
MAX_BATCH_EVENTS = 5000  # well under the service's per-request limit, as the extension keeps its batches
MACHINE_CLOCK_LAG_MS = 1_000  # machine_timestamp: the moment the batch is sent, just after its last event

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTE_PREFIX: dict[int, str] = {}
_MINUTE_PREFIX_LIMIT = 200_000  # bounded: one entry per minute of activity


def iso_ms(ms: int) -> str:
    """Extension format ``2026-05-14T09:12:08.829Z`` without building a datetime per event."""
    minute, rest = divmod(ms, 60_000)
    prefix = _MINUTE_PREFIX.get(minute)
    if prefix is None:
        prefix = (_EPOCH + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:")
        if len(_MINUTE_PREFIX) > _MINUTE_PREFIX_LIMIT:
            _MINUTE_PREFIX.clear()
        _MINUTE_PREFIX[minute] = prefix
    return f"{prefix}{rest // 1000:02d}.{rest % 1000:03d}Z"


def parse_ms(stamp: str) -> int:
    """Epoch milliseconds of an extension timestamp (the inverse of :func:`iso_ms`)."""
    parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return int((parsed - _EPOCH).total_seconds() * 1000)


def extension_batches(
    events: list[dict[str, Any]], max_events: int = MAX_BATCH_EVENTS
) -> Iterator[dict[str, Any]]:
    """Split one user's events into payloads as the extension would send them (every 60 s).

    Each payload has the §4.1 top level (``workspace``, ``machine_timestamp``, ``session``);
    the snapshot values are approximate: they feed no computation on the service side.
    """
    batch: list[dict[str, Any]] = []
    window_end: str | None = None
    for event in events:
        stamp = event["timestamp"]
        if batch and (len(batch) >= max_events or (window_end is not None and stamp >= window_end)):
            yield _payload(batch)
            batch = []
        if not batch:
            window_end = iso_ms(parse_ms(stamp) + SYNC_INTERVAL_MS)
        batch.append(event)
    if batch:
        yield _payload(batch)


def _payload(batch: list[dict[str, Any]]) -> dict[str, Any]:
    last = batch[-1]
    saves = sum(1 for e in batch if e["type"] == "file_save")
    switches = sum(1 for e in batch if e["type"] == "editor_switch")
    return {
        "workspace": last["workspace"],
        "machine_timestamp": iso_ms(parse_ms(last["timestamp"]) + MACHINE_CLOCK_LAG_MS),
        "session": {
            "active_minutes": 1,
            "idle_minutes": 0,
            "total_events_collected": len(batch),
            "save_frequency": saves,
            "editor_switch_frequency": switches,
        },
        "events": batch,
    }
