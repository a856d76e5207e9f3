"""A user's export: one ZIP, streamed while it is built, so memory stays bounded whatever the volume.

Contents:

* ``account.json`` — the user row (never the password hash);
* ``database/<table>.json`` — every row of every table with a ``user_id`` column: API tokens (metadata
  only, never the hash), recommendations with their evidence (``code_context``), workflow states,
  sessions, insight evaluations…;
* ``lake/<dataset>.parquet`` — the user's rows of every lake dataset with a ``user_id`` column (raw
  events, quarantine, every metric dataset), one Parquet file per dataset;
* ``lake/events.ndjson`` and ``lake/quarantine.ndjson`` — the same rows as JSON lines, for people
  without Parquet tools.

The ZIP is written by the standard library's :mod:`zipfile` into a sink that hands its bytes to the
response as they come (``zipfile`` writes data descriptors when its output cannot seek): no extra
dependency, and nothing is held beyond one record batch. Lake files are read in record batches of
:data:`BATCH_ROWS` rows, filtered on ``user_id`` batch by batch.
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import queue
import threading
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio.to_thread
import msgspec
from sqlalchemy import select

from devflow.kernel.lazy import pa, pc, pq
from devflow.lake.storage import LakeStorage
from devflow.models import AccountDeletion, Base, User
from devflow.services import Services

BATCH_ROWS = 16_384
NDJSON_SLICE_ROWS = 1_024
NDJSON_DATASETS = ("events", "quarantine")
# Columns an export never carries: secrets stay secret even towards their owner.
SECRET_COLUMNS = frozenset({"password_hash", "token_hash", "token_plaintext", "code_verifier"})


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(type(value).__name__)


_json = msgspec.json.Encoder(enc_hook=_default)


class _Sink(io.RawIOBase):
    """An unseekable output that keeps what was written until :meth:`drain`."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._written += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._written

    def drain(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def _now_tuple() -> tuple[int, int, int, int, int, int]:
    now = dt.datetime.now(dt.UTC)
    return (now.year, now.month, now.day, now.hour, now.minute, now.second)


def user_lake_files(storage: LakeStorage) -> dict[str, list[str]]:
    """Every lake dataset (top-level folder) whose files have a ``user_id`` column: its files."""
    datasets: dict[str, list[str]] = {}
    for info in storage.list_parquet(""):
        dataset = info.path.split("/", 1)[0]
        with storage.fs.open_input_file(storage.full_path(info.path)) as handle:
            if "user_id" not in pq.ParquetFile(handle).schema_arrow.names:
                continue
        datasets.setdefault(dataset, []).append(info.path)
    return datasets


def _user_batches(storage: LakeStorage, paths: list[str], user_id: str) -> Iterator[pa.RecordBatch]:
    for path in paths:
        with storage.fs.open_input_file(storage.full_path(path)) as handle:
            parquet = pq.ParquetFile(handle)
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, use_threads=False):
                mask = pc.fill_null(pc.equal(batch.column("user_id").cast(pa.string()), user_id), False)
                kept = batch.filter(mask)
                if kept.num_rows:
                    yield kept


def _first_schema(storage: LakeStorage, paths: list[str]) -> pa.Schema:
    with storage.fs.open_input_file(storage.full_path(paths[0])) as handle:
        return pq.ParquetFile(handle).schema_arrow


def export_zip(services: Services, user_id: uuid.UUID) -> Iterator[bytes]:
    """The export of ``user_id`` as ZIP bytes, chunk by chunk (blocking; iterate in a thread)."""
    sink = _Sink()
    uid = str(user_id)
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        with services.db() as session:
            user = session.get(User, user_id)
            account = {
                c.name: getattr(user, c.key)
                for c in User.__table__.columns
                if user is not None and c.name not in SECRET_COLUMNS
            }
            archive.writestr("account.json", _json.encode(account))
            for table in Base.metadata.sorted_tables:
                if "user_id" not in table.c or table.name == AccountDeletion.__tablename__:
                    continue
                columns = [c for c in table.c if c.name not in SECRET_COLUMNS]
                with archive.open(f"database/{table.name}.json", "w", force_zip64=True) as entry:
                    entry.write(b"[")
                    rows = session.execute(select(*columns).where(table.c.user_id == user_id)).yield_per(1000)
                    for i, row in enumerate(rows):
                        entry.write((b",\n" if i else b"\n") + _json.encode(dict(row._mapping)))
                    entry.write(b"\n]\n")
                yield sink.drain()
        for dataset, paths in sorted(user_lake_files(services.lake).items()):
            schema = _first_schema(services.lake, paths)
            # Stored, not deflated: Parquet pages are zstd-compressed already.
            info = zipfile.ZipInfo(f"lake/{dataset}.parquet", date_time=_now_tuple())
            info.compress_type = zipfile.ZIP_STORED
            with archive.open(info, "w", force_zip64=True) as entry:
                writer = pq.ParquetWriter(entry, schema, compression="zstd")
                for batch in _user_batches(services.lake, paths, uid):
                    writer.write_table(pa.Table.from_batches([batch]).cast(schema))
                    yield sink.drain()
                writer.close()
            yield sink.drain()
            if dataset in NDJSON_DATASETS:
                with archive.open(f"lake/{dataset}.ndjson", "w", force_zip64=True) as entry:
                    for batch in _user_batches(services.lake, paths, uid):
                        # Small slices: each row is a dict of Python objects while it is encoded.
                        for start in range(0, batch.num_rows, NDJSON_SLICE_ROWS):
                            rows = batch.slice(start, NDJSON_SLICE_ROWS).to_pylist()
                            entry.write(b"".join(_json.encode(row) + b"\n" for row in rows))
                        yield sink.drain()
    yield sink.drain()


_END = object()
QUEUE_CHUNKS = 4


async def stream_export(services: Services, user_id: uuid.UUID) -> AsyncIterator[bytes]:
    """:func:`export_zip` built by ONE dedicated thread and handed over through a small bounded queue.

    Advancing a sync iterator from the thread pool would run each step on whichever worker thread is
    free, and every thread that allocates keeps its own malloc arena (and Arrow thread cache): the
    process's memory would grow with the number of threads, not with the work. One producer thread
    and a queue of :data:`QUEUE_CHUNKS` chunks bound it; a client that goes away stops the producer.
    """
    chunks: queue.Queue[object] = queue.Queue(maxsize=QUEUE_CHUNKS)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in export_zip(services, user_id):
                if chunk and not put(chunk):
                    return
            put(_END)
        except BaseException as exc:  # handed to the response, which fails the transfer
            put(exc)

    threading.Thread(target=produce, name="devflow-export", daemon=True).start()
    try:
        while True:
            item = await anyio.to_thread.run_sync(chunks.get)
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, bytes)
            yield item
    finally:
        stop.set()
