"""The outermost HTTP layer: CORS and the cross-site request check of contract §1.6, and ``HEAD``.

It wraps the Litestar ASGI handler (routing, exception handling, every route), which means
404s, 405s, 413s and unhandled-exception 500s get the same headers as successes. It also
answers every ``OPTIONS`` with the 204 preflight, rejects paths with an empty segment (``//``),
which the router would otherwise collapse into a real route, refuses cookie-authenticated state
changes from a foreign ``Origin`` (cross-site request forgery) before anything else runs, and
serves ``HEAD`` wherever ``GET`` is served: the ``GET`` runs and its body is dropped (§1.1).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from litestar.types import Receive

# The raw ASGI layer handles plain dicts; Litestar's TypedDict unions add nothing here.
Scope = dict[str, Any]
Message = dict[str, Any]

log = logging.getLogger("devflow.http")

_ALLOW_METHODS = b"GET,HEAD,PUT,PATCH,POST,DELETE"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Routes that carry no credential (§1.6): a cookie sent along with them is never used.
_CREDENTIAL_FREE_PATHS = frozenset({"/api/v1/auth/login", "/api/v1/auth/register"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_key(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin or base URL, default ports made explicit."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def _has_session_cookie(scope: Scope) -> bool:
    for key, value in scope.get("headers", ()):
        if key != b"cookie":
            continue
        for part in bytes(value).split(b";"):
            name, _, cookie = part.strip().partition(b"=")
            if name == b"session" and cookie:
                return True
    return False


class EdgeGate:
    """Outermost HTTP layer: preflight, CORS headers, the cross-site check, HEAD, last-resort 500.

    Its own error answers are the contract's JSON under the API prefix; elsewhere (the built-in pages)
    they are the ``page_error`` HTML when one is given."""

    def __init__(
        self,
        app: Any,
        allowed_origins: Iterable[str],
        public_url: str | None = None,
        *,
        page_error: Callable[[int], bytes] | None = None,
        api_prefix: str = "/api/v1",
    ) -> None:
        self.app = app
        self.allowed = frozenset(allowed_origins)
        self._public = _origin_key(public_url) if public_url else None
        # The built-in pages' HTML error body for a status; paths under ``api_prefix`` keep JSON.
        self._page_error = page_error
        self._api_prefix = api_prefix

    async def _send_error(
        self, scope: Scope, send: Any, status: int, body: bytes, extra: list[tuple[bytes, bytes]]
    ) -> None:
        path = scope["path"]
        if self._page_error is None or path == self._api_prefix or path.startswith(self._api_prefix + "/"):
            await _send_json(send, status, body, extra)
            return
        await _send_body(send, status, self._page_error(status), b"text/html; charset=utf-8", extra)

    def _cross_site_cookie_write(self, scope: Scope) -> bool:
        """§1.6: a state change that the ``session`` cookie would authenticate, from a foreign origin."""
        if scope["method"] in _SAFE_METHODS or scope["path"].rstrip("/") in _CREDENTIAL_FREE_PATHS:
            return False
        origin = _header(scope, b"origin")
        if origin is None:
            return False  # the extension and scripts send none
        authorization = _header(scope, b"authorization")
        if authorization is not None and authorization.startswith(b"Bearer "):
            return False  # the cookie is ignored (§1.4)
        if not _has_session_cookie(scope):
            return False
        text = origin.decode("latin-1")
        if text in self.allowed:
            return False
        key = _origin_key(text)
        if key is None:  # "null" (sandboxed pages, file: URLs) and garbage are foreign
            return True
        if self._public is not None and key == self._public:
            return False
        host = _header(scope, b"host")
        own = _origin_key(f"{key[0]}://{host.decode('latin-1')}") if host else None
        return own != key

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
            await self._send_error(scope, send, 404, b'{"error":"Not found"}', cors_headers)
            return
        if self._cross_site_cookie_write(scope):
            await self._send_error(scope, send, 403, b'{"error":"Forbidden"}', cors_headers)
            return
        head = scope["method"] == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}

        started = False

        async def send_with_cors(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [
                    (k, _with_head(v) if k.lower() == b"allow" else v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in {b"vary"} and not k.lower().startswith(b"access-control-")
                ]
                message = {**message, "headers": headers + cors_headers}
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(scope, receive, send_with_cors)
        except Exception:
            log.exception("unhandled error escaped the application")
            if not started:
                await self._send_error(scope, send, 500, b'{"error":"Internal server error"}', cors_headers)

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


def _with_head(allow: bytes) -> bytes:
    """``Allow`` lists ``HEAD`` wherever it lists ``GET``."""
    methods = [m.strip() for m in allow.split(b",")]
    if b"GET" in methods and b"HEAD" not in methods:
        methods.append(b"HEAD")
    return b", ".join(methods)


async def _send_json(send: Any, status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    await _send_body(send, status, body, b"application/json", extra)


async def _send_body(
    send: Any, status: int, body: bytes, content_type: bytes, extra: list[tuple[bytes, bytes]]
) -> None:
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    message: Any = {"type": "http.response.start", "status": status, "headers": headers}
    await send(message)
    await send({"type": "http.response.body", "body": body})
