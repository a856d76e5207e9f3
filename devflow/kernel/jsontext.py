"""The JSON text rules of contract §1.2 that a JSON parser alone does not enforce.

msgspec decodes fast but (a) raises ``UnicodeDecodeError`` for invalid UTF-8 inside strings and
skips it in values it ignores, (b) accepts nesting up to its recursion limit and then raises
``RecursionError``, and (c) rejects an unpaired UTF-16 surrogate escape (``"\\ud800"``), which
JavaScript's ``JSON.stringify`` emits for a lone surrogate in a Windows file name. The contract
says: invalid UTF-8 anywhere and nesting deeper than 64 levels are invalid JSON; an unpaired
surrogate escape is valid and means U+FFFD. :func:`normalise_json_text` applies exactly that before
any decoding, with C-speed byte operations on the common path (ASCII, shallow, no ``\\u``).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from devflow.kernel.lazy import np

MAX_DEPTH = 64
#: A request body that does not count as JSON (§1.2: no JSON content type, or 0 bytes).
ABSENT: Any = msgspec.UNSET

_OPEN_ARRAY, _OPEN_OBJECT = ord("["), ord("{")
# Bytes deleted before the depth scan: all but brackets and quotes (and backslashes, at first).
_NOT_STRUCTURAL = bytes(b for b in range(256) if b not in b'[]{}"')
_STRUCTURAL_AND_ESCAPES = bytes(b for b in range(256) if b not in b'[]{}"\\')
_STRING = re.compile(rb'"[^"]*"')
_ESCAPE = re.compile(rb"\\(?:u([0-9a-fA-F]{4})|.)", re.DOTALL)
_UNICODE_ESCAPE = re.compile(rb"\\u")
_REPLACEMENT = "\ufffd".encode()
_decoder = msgspec.json.Decoder()


class MalformedJSON(ValueError):
    """The body is not JSON under contract §1.2 (→ ``400 Invalid JSON``)."""


def exceeds_depth(text: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays/objects nest deeper than ``limit`` levels (brackets inside strings ignored).

    Everything but brackets, quotes and backslashes is deleted first (one C pass). Where escapes
    remain, escaped backslashes and then escaped quotes are removed from the original text, left to
    right as a JSON reader pairs them, so that every quote left delimits a string. Adjacent quotes
    are dropped in pairs (which keeps every byte's inside/outside-a-string parity), strings that
    still hold brackets are cut out, and the bracket depth is a cumulative sum.
    """
    reduced = text.translate(None, _STRUCTURAL_AND_ESCAPES)
    if reduced.count(b"[") + reduced.count(b"{") <= limit:
        return False
    if b"\\" in reduced:
        reduced = text.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURAL)
    reduced = reduced.replace(b'""', b"")
    if b'"' in reduced:
        reduced = _STRING.sub(b"", reduced)
    brackets = np.frombuffer(reduced, np.int8)
    steps = np.where((brackets == _OPEN_ARRAY) | (brackets == _OPEN_OBJECT), 1, -1).astype(np.int32)
    return bool(len(steps)) and int(np.cumsum(steps).max()) > limit


def _replace_lone_surrogates(text: bytes) -> bytes:
    """Unpaired ``\\uD800``-``\\uDFFF`` escapes become the UTF-8 bytes of U+FFFD; pairs stay."""
    out: list[bytes] = []
    last = 0
    pending: re.Match[bytes] | None = None  # a high surrogate escape waiting for its low half
    for match in _ESCAPE.finditer(text):
        hex_digits = match.group(1)
        unit = int(hex_digits, 16) if hex_digits is not None else -1
        if pending is not None:
            if pending.end() == match.start() and 0xDC00 <= unit <= 0xDFFF:
                pending = None  # a well-formed pair
                continue
            out += [text[last : pending.start()], _REPLACEMENT]
            last = pending.end()
            pending = None
        if 0xD800 <= unit <= 0xDBFF:
            pending = match
        elif 0xDC00 <= unit <= 0xDFFF:
            out += [text[last : match.start()], _REPLACEMENT]
            last = match.end()
    if pending is not None:
        out += [text[last : pending.start()], _REPLACEMENT]
        last = pending.end()
    if not out:
        return text
    out.append(text[last:])
    return b"".join(out)


def normalise_json_text(text: bytes) -> bytes:
    """``text`` ready for a JSON decoder, or :class:`MalformedJSON` (invalid UTF-8, too deep)."""
    if not text.isascii():
        try:
            text.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedJSON("invalid UTF-8") from None
    if exceeds_depth(text):
        raise MalformedJSON(f"nested deeper than {MAX_DEPTH} levels")
    # A one-byte search is a memchr; the two-byte ``b"\\u" in text`` is several times slower.
    if b"\\" in text and _UNICODE_ESCAPE.search(text) is not None:
        text = _replace_lone_surrogates(text)
    return text


def decode_json(text: bytes) -> Any:
    """Decode one JSON text under the rules above (:class:`MalformedJSON` when it is not JSON)."""
    try:
        return _decoder.decode(normalise_json_text(text))
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
        raise MalformedJSON(str(exc)) from None
