"""The outermost ASGI layer: a request id for every request, its metrics, and ``GET /metrics``.

* Request id: the client's ``X-Request-ID`` when it is a short token (letters, digits, ``-_.``),
  else a new random one; it is set in :data:`devflow.logging.request_id` for the request's logs
  and returned in the ``X-Request-ID`` response header.
* When the exporter is enabled: requests and latency per route template, method and status
  (``unmatched`` for paths no route serves, so scanners cannot grow the label set), and
  ``GET /metrics`` answering the Prometheus text exposition, behind ``Authorization: Bearer
  <METRICS_EXPORTER_TOKEN>`` when that token is set. Disabled, ``/metrics`` is left to the app
  (which answers 404).
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import time
from typing import Any, Final

import anyio.to_thread
from litestar.types import ASGIApp, Message, Receive, Send

from devflow.kernel import instruments
from devflow.logging import request_id

log = logging.getLogger("devflow.http")

METRICS_PATH: Final = "/metrics"
_CLIENT_ID: Final = re.compile(rb"[A-Za-z0-9._-]{1,64}")
_UNAUTHORIZED: Final = b'{"error":"Unauthorized"}'


def _incoming_id(scope: Any) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return value.decode("ascii") if _CLIENT_ID.fullmatch(value) else None
    return None


def _bearer(scope: Any) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            return token.strip() if scheme.lower() == b"bearer" else None
    return None


class Observer:
    """Wraps the whole app (edge gate included) so every response gets its id and is counted."""

    def __init__(self, app: ASGIApp, *, export: bool, token: str | None) -> None:
        self.app = app
        self.export = export
        self._token = token.encode() if token else None

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_id(scope) or os.urandom(12).hex()
        reset = request_id.set(rid)
        header = (b"x-request-id", rid.encode("ascii"))
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        scraping = self.export and scope["path"] == METRICS_PATH and scope["method"] in ("GET", "HEAD")
        try:
            if scraping:
                await self._scrape(scope, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            # The route template, never the raw path (paths may carry codes a log must not keep).
            route = METRICS_PATH if scraping else scope.get("path_template") or "unmatched"
            if self.export:
                instruments.observe_request(route, scope["method"], status, seconds)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s %s %d %.1f ms", scope["method"], route, status, seconds * 1000)
            request_id.reset(reset)

    async def _scrape(self, scope: Any, send: Any) -> None:
        if self._token is not None:
            given = _bearer(scope)
            if given is None or not hmac.compare_digest(given, self._token):
                await _respond(
                    send, 401, _UNAUTHORIZED, b"application/json", [(b"www-authenticate", b"Bearer")]
                )
                return
        body, content_type = await anyio.to_thread.run_sync(instruments.exposition)
        if scope["method"] == "HEAD":
            body = b""
        await _respond(send, 200, body, content_type.encode(), [])


async def _respond(
    send: Any, status: int, body: bytes, content_type: bytes, extra: list[tuple[bytes, bytes]]
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
