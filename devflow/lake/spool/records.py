"""The spool's record format: ``b"DVFS"``, the table code, the payload length, its CRC-32, then the
payload (an Arrow IPC stream). A torn record at the end of a segment (a crash mid-write, never
acknowledged) is ignored; a corrupt one ends the segment's readable part."""

from __future__ import annotations

import logging
import struct
import zlib
from collections.abc import Iterator

from devflow.kernel.lazy import pa

log = logging.getLogger("devflow.lake.spool")

_HEADER = struct.Struct("<4sBII")
_MAGIC = b"DVFS"


def encode_record(code: int, table: pa.Table) -> bytes:
    """One spool record holding ``table`` under the table ``code`` (1-255)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    body: bytes = sink.getvalue().to_pybytes()
    return _HEADER.pack(_MAGIC, code, len(body), zlib.crc32(body)) + body


def read_records(data: bytes) -> Iterator[tuple[int, pa.Table]]:
    """The complete records of a segment, in order; stops at the first torn or corrupt record."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        magic, code, length, crc = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        payload = data[start : start + length]
        if magic != _MAGIC or len(payload) != length or zlib.crc32(payload) != crc:
            if offset + _HEADER.size + length <= len(data) or magic != _MAGIC:
                log.warning("spool record at byte %d is corrupt; ignoring the rest of the segment", offset)
            return
        yield code, pa.ipc.open_stream(payload).read_all()
        offset = start + length
