"""The spool's record format: a magic, the table code, the payload length, its CRC-32, then the
payload. A torn record at the end of a segment (a crash mid-write, never acknowledged) is ignored; a
corrupt one ends the segment's readable part.

Rows come in two shapes. An Arrow table (magic ``DVFS``, payload an Arrow IPC stream) suits any
producer. :class:`Columns` (magic ``DVFC``, payload msgpack) is a request's rows as Python lists, which
cost a fraction of an Arrow table of a hundred rows to build and to spool; they become Arrow once per
flush, for every request at once (:func:`devflow.lake.tables.as_tables`).
"""

from __future__ import annotations

import logging
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import msgspec

from devflow.kernel.lazy import pa
from devflow.lake.tables import Columns

log = logging.getLogger("devflow.lake.spool")

_HEADER = struct.Struct("<4sBII")
_ARROW = b"DVFS"
_COLUMNS = b"DVFC"
_msgpack_encoder = msgspec.msgpack.Encoder()


class _ColumnsRecord(msgspec.Struct, array_like=True):
    num_rows: int
    lists: dict[str, list[Any]]
    constants: dict[str, Any]
    texts: dict[str, tuple[bytes, bytes]]


_columns_decoder = msgspec.msgpack.Decoder(_ColumnsRecord)


def encode_record(code: int, rows: pa.Table | Columns) -> bytes:
    """One spool record holding ``rows`` under the table ``code`` (1-255)."""
    if isinstance(rows, Columns):
        magic = _COLUMNS
        body = _msgpack_encoder.encode(_ColumnsRecord(rows.num_rows, rows.lists, rows.constants, rows.texts))
    else:
        magic = _ARROW
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, rows.schema) as stream:
            stream.write_table(rows)
        body = sink.getvalue().to_pybytes()
    return _HEADER.pack(magic, code, len(body), zlib.crc32(body)) + body


def read_records(data: bytes) -> Iterator[tuple[int, pa.Table | Columns]]:
    """The complete records of a segment, in order; stops at the first torn or corrupt record."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        magic, code, length, crc = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        payload = data[start : start + length]
        known = magic in (_ARROW, _COLUMNS)
        if not known or len(payload) != length or zlib.crc32(payload) != crc:
            if offset + _HEADER.size + length <= len(data) or not known:
                log.warning("spool record at byte %d is corrupt; ignoring the rest of the segment", offset)
            return
        if magic == _COLUMNS:
            record = _columns_decoder.decode(payload)
            yield code, Columns(record.num_rows, record.lists, record.constants, record.texts)
        else:
            yield code, pa.ipc.open_stream(payload).read_all()
        offset = start + length
