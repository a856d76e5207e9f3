"""CORS exactly as contract §1.6, applied outside everything else so every response carries it.

It wraps the Litestar ASGI handler (routing, exception handling, every route), which means
404s, 405s, 413s and unhandled-exception 500s get the same headers as successes. It also
answers every ``OPTIONS`` with the 204 preflight and rejects paths with an empty segment
(``//``), which the router would otherwise collapse into a real route.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from litestar.types import Receive

# The raw ASGI layer handles plain dicts; Litestar's TypedDict unions add nothing here.
Scope = dict[str, Any]
Message = dict[str, Any]

log = logging.getLogger("devflow.http")

_ALLOW_METHODS = b"GET,HEAD,PUT,PATCH,POST,DELETE"


class CorsGate:
    """Outermost HTTP layer: preflight, CORS headers, ``Vary: Origin``, last-resort JSON 500."""

    def __init__(self, app: Any, allowed_origins: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(allowed_origins)

    def _origin(self, scope: Scope) -> bytes | None:
        for name, value in scope.get("headers", ()):
            if name == b"origin":
                try:
                    origin = value.decode("latin-1")
                except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
                    return None
                return value if origin in self.allowed else None
        return None

    async def __call__(self, scope: Any, receive: Receive, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = self._origin(scope)
        cors_headers: list[tuple[bytes, bytes]] = [(b"vary", b"Origin")]
        if origin is not None:
            cors_headers += [
                (b"access-control-allow-origin", origin),
                (b"access-control-allow-credentials", b"true"),
            ]
        if scope["method"] == "OPTIONS":
            await self._preflight(scope, send, cors_headers, origin is not None)
            return
        if "//" in scope["path"]:
            await _send_json(send, 404, b'{"error":"Not found"}', cors_headers)
            return

        started = False

        async def send_with_cors(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in {b"vary"} and not k.lower().startswith(b"access-control-")
                ]
                message = {**message, "headers": headers + cors_headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_cors)
        except Exception:
            log.exception("unhandled error escaped the application")
            if not started:
                await _send_json(send, 500, b'{"error":"Internal server error"}', cors_headers)

    @staticmethod
    async def _preflight(
        scope: Scope, send: Any, cors_headers: list[tuple[bytes, bytes]], allowed: bool
    ) -> None:
        headers = list(cors_headers)
        if allowed:
            requested = b""
            for name, value in scope.get("headers", ()):
                if name == b"access-control-request-headers":
                    requested = value
            headers += [
                (b"access-control-allow-methods", _ALLOW_METHODS),
                (b"access-control-allow-headers", requested or b"Content-Type, Authorization"),
                (b"access-control-max-age", b"600"),
            ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


async def _send_json(send: Any, status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    message: Any = {"type": "http.response.start", "status": status, "headers": headers}
    await send(message)
    await send({"type": "http.response.body", "body": body})
