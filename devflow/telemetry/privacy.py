"""Server-side path privacy, applied at ingest before anything is stored (spool, lake, quarantine).

Modes (ordered, see ``devflow.config.PATH_PRIVACY_MODES``):

* ``keep`` — events are stored as sent (the contract's behaviour).
* ``redact-home`` — the home-directory prefix of a path (``/home/<n>/``, ``/Users/<n>/``,
  ``C:\\Users\\<n>\\``; also ``/root/``) becomes ``~/`` in ``file.absolute_path``, ``editor_switch``
  ``from.file``/``to.file`` and ``terminal.shell_type``.
* ``hash`` — absolute paths in ``file.absolute_path`` and ``from/to.file`` become
  ``hmac:<32 hex>``, a keyed hash (HMAC-SHA256 with the server's key), so they cannot be reversed by
  guessing common paths without the key; workspace-relative paths stay; ``terminal.shell_type`` gets
  the ``redact-home`` treatment (a shell's path names a program, not a person, once the home is gone).

Both are functions of the path alone: the same file maps to the same text every time, so the metrics'
line-delta and switch keys group exactly as before, and a re-sent event gets the same fingerprint
(duplicate detection keeps working). A changed event's ``raw`` column holds its redacted JSON; rows
of the quarantine (malformed events) get the home-directory redaction over their whole raw text.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from typing import Any

import msgspec

KEEP = "keep"
REDACT_HOME = "redact-home"
HASH = "hash"

# The user-name segment of a home directory; ``/home/<n>`` alone (no trailing slash) counts too.
_POSIX_HOME = re.compile(r"^(?:/home|/Users)/[^/]+(?:/|$)|^/root(?:/|$)")
_WINDOWS_HOME = re.compile(r"^[A-Za-z]:[\\/]+(?:Users|Documents and Settings)[\\/]+[^\\/]+(?:[\\/]+|$)", re.I)
# The same prefixes anywhere in raw JSON text (backslashes are escaped there).
_RAW_HOME = re.compile(
    rb"(?:/home|/Users)/[^/\"\\]+/|/root/"
    rb"|[A-Za-z]:(?:\\\\|/)+(?:Users|Documents and Settings)(?:\\\\|/)+[^\\/\"]+(?:\\\\|/)+",
    re.I,
)
_ABSOLUTE = re.compile(r"^(?:/|~|[A-Za-z]:[\\/]|\\\\)")
_encoder = msgspec.json.Encoder()


def redact_home(path: str) -> str:
    """``/home/dana/x`` → ``~/x`` (POSIX, macOS, Windows home prefixes); other paths unchanged."""
    match = _POSIX_HOME.match(path) or _WINDOWS_HOME.match(path)
    if match is None:
        return path
    rest = path[match.end() :]
    return "~/" + rest.replace("\\", "/") if _WINDOWS_HOME.match(path) else "~/" + rest


def hash_path(path: str, key: bytes) -> str:
    """A keyed hash of an absolute path; relative paths stay."""
    if not _ABSOLUTE.match(path):
        return path
    return "hmac:" + hmac.new(key, path.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]


def redact_raw(raw: bytes) -> bytes:
    """Home-directory prefixes anywhere in a raw JSON text → ``~/`` (for quarantined events)."""
    return _RAW_HOME.sub(b"~/", raw)


def _apply(value: Any, mode: str, key: bytes) -> Any:
    if not isinstance(value, str):
        return value
    return hash_path(value, key) if mode == HASH else redact_home(value)


def _apply_event(event: dict[str, Any], mode: str, key: bytes) -> bool:
    """Redact one validated event in place; whether anything changed."""
    changed = False
    file = event.get("file")
    if isinstance(file, dict) and "absolute_path" in file:
        new = _apply(file["absolute_path"], mode, key)
        changed |= new != file["absolute_path"]
        file["absolute_path"] = new
    if event.get("type") == "editor_switch":
        for end in ("from", "to"):
            part = event.get(end)
            if isinstance(part, dict) and "file" in part:
                new = _apply(part["file"], mode, key)
                changed |= new != part["file"]
                part["file"] = new
    terminal = event.get("terminal")
    if isinstance(terminal, dict) and isinstance(terminal.get("shell_type"), str):
        new = redact_home(terminal["shell_type"])
        changed |= new != terminal["shell_type"]
        terminal["shell_type"] = new
    return changed


def redact_events(events: Sequence[dict[str, Any]], raws: list[bytes], mode: str, key: bytes) -> list[bytes]:
    """Apply ``mode`` to accepted events in place; their raw JSON texts (re-encoded where changed)."""
    if mode == KEEP:
        return raws
    out = list(raws)
    for i, event in enumerate(events):
        if _apply_event(event, mode, key):
            out[i] = _encoder.encode(event)
    return out


def path_hash_key(secret: str) -> bytes:
    """The HMAC key of ``hash`` mode, derived from the server's secret (never stored)."""
    return hashlib.sha256(b"devflow path privacy\x00" + secret.encode("utf-8", "surrogatepass")).digest()
