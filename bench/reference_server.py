"""The reference server of ``bench/ingest.py``: the least work a durable ingest endpoint must do.

    .venv/bin/python bench/reference_server.py --port P --dir D [--workers 2]

A bare ASGI app served by uvicorn with devflow's settings (``factory=True``, ``workers=2``,
``access_log=False``, ``log_config=None``, ``proxy_headers=False``, default loop and HTTP parser).
Every ``POST`` (any path) reads the whole body, decodes it with msgspec (JSON; not an object with an
``events`` list: 400), appends the raw bytes, length-prefixed, to this worker's journal
``<dir>/journal-<pid>.bin`` and answers ``202`` with a small JSON body only once an fsync covers
them. The fsync is group-committed: a syncer thread fsyncs everything written so far and settles
the waiting requests' futures on the event loop, so concurrent requests share one fsync and the
loop never blocks on the disk (the append itself, a page-cache write, is done on the loop).
No authentication, no validation, no database, no Parquet: devflow's throughput as a fraction of
this one's is what its extra work costs on the same machine at the same moment.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import struct
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()
_JSON = [(b"content-type", b"application/json")]


class GroupCommitJournal:
    """An append-only file; :meth:`append` returns once an fsync covers the record."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._cond = threading.Condition()
        # Futures of the records written but not yet covered by an fsync, with their event loop.
        self._waiting: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._closed = False
        self._thread = threading.Thread(target=self._sync_run, name="journal-syncer", daemon=True)
        self._thread.start()

    async def append(self, record: bytes) -> None:
        """Write the record (on the loop: a page-cache write), then wait, holding no thread, for the
        fsync that covers it."""
        os.writev(self.fd, [struct.pack("<I", len(record)), record])
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._cond:
            self._waiting.append((loop, future))
            self._cond.notify()
        await future

    def _sync_run(self) -> None:
        """The syncer thread. Whoever registered before it takes the list was written before, so one
        fsync covers them all; those arriving during the fsync share the next one."""
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if not self._waiting:
                    return
                waiting, self._waiting = self._waiting, []
            error: OSError | None = None
            try:
                os.fsync(self.fd)
            except OSError as exc:
                error = exc
            by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
            for loop, future in waiting:
                by_loop.setdefault(loop, []).append(future)
            for loop, futures in by_loop.items():
                loop.call_soon_threadsafe(_settle, futures, error)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()
        os.close(self.fd)


def _settle(futures: list[asyncio.Future[None]], error: OSError | None) -> None:
    for future in futures:
        if not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [*_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """uvicorn factory: each worker process opens its own journal in ``$REFERENCE_JOURNAL_DIR``."""
    _die_with_supervisor()
    journal_dir = Path(os.environ["REFERENCE_JOURNAL_DIR"])
    journals: list[GroupCommitJournal] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    journals.append(GroupCommitJournal(journal_dir / f"journal-{os.getpid()}.bin"))
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    for one in journals:
                        one.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["method"] != "POST":  # GET: the readiness probe
            await _answer(send, 200, b'{"status":"ok"}')
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            events = _decoder.decode(body)["events"]
            if not isinstance(events, list):
                raise TypeError("events is not a list")
        except (msgspec.DecodeError, KeyError, TypeError):
            await _answer(send, 400, b'{"error":"invalid body"}')
            return
        try:
            await journals[0].append(body)
        except OSError:
            await _answer(send, 503, b'{"error":"journal fsync failed"}')
            return
        reply = {"message": "accepted", "accepted_count": len(events), "rejected_count": 0, "rejected": []}
        await _answer(send, 202, _encoder.encode(reply))

    return app


def _die_with_supervisor() -> None:
    """In a worker process: be SIGKILLed when the supervisor dies (as devflow's workers are)."""
    import multiprocessing
    import signal

    if multiprocessing.parent_process() is None or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dir", type=Path, required=True, help="where the journals are written")
    args = parser.parse_args()
    os.environ["REFERENCE_JOURNAL_DIR"] = str(args.dir)
    uvicorn.run(
        "reference_server:create_app",
        factory=True,
        app_dir=str(Path(__file__).resolve().parent),
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        log_config=None,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
