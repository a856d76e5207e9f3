"""The one place where exceptions become HTTP responses (contract §1.3).

Domain errors (:mod:`devflow.kernel.errors`) carry the contract's ``error`` text and body; this module
only chooses their status. Litestar's own routing errors, database outages and anything unexpected
get their contract bodies here too. Every body is JSON; stack traces never leave the process.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from devflow.kernel.errors import (
    AlreadyDone,
    BadInput,
    DomainError,
    Expired,
    NotFound,
    NotPermitted,
    RateLimited,
    TooLarge,
    Unauthenticated,
    Unavailable,
    UpstreamFailed,
)

log = logging.getLogger("devflow.http")

#: Status of each domain error class (the first matching base class wins).
STATUS_OF: tuple[tuple[type[DomainError], int], ...] = (
    (BadInput, 400),
    (Unauthenticated, 401),
    (NotPermitted, 403),
    (NotFound, 404),
    (AlreadyDone, 409),
    (Expired, 410),
    (TooLarge, 413),
    (RateLimited, 429),
    (UpstreamFailed, 502),
    (Unavailable, 503),
)
RETRY_AFTER_SECONDS = 5


def status_of(exc: DomainError) -> int:
    """The HTTP status of a domain error."""
    for cls, status in STATUS_OF:
        if isinstance(exc, cls):
            return status
    return 400


def json_error(
    status_code: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(content=body, status_code=status_code, media_type=MediaType.JSON, headers=headers)


def _domain_error_handler(_: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    headers = None
    if isinstance(exc, RateLimited | Unavailable):
        headers = {"Retry-After": str(exc.retry_after)}
    return json_error(status_of(exc), exc.body(), headers)


_HTTP_BODIES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Payload too large",
    429: "Too many requests",
    503: "Service unavailable",
}


def _http_exception_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= 500:
        log.error("HTTP %s raised inside the framework: %s", status, type(exc).__name__)
        return json_error(500, {"error": "Internal server error"})
    headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() in {"allow", "retry-after"}}
    return json_error(status, {"error": _HTTP_BODIES.get(status, "Bad request")}, headers)


def _database_unavailable_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # A dependency outage is never the client's fault and never a 401 (contract §1.4).
    log.warning("database unavailable: %s", type(exc).__name__)
    return json_error(503, {"error": "Service unavailable"}, {"Retry-After": str(RETRY_AFTER_SECONDS)})


def _dbapi_error_handler(request: Request[Any, Any, Any], exc: DBAPIError) -> Response[Any]:
    if exc.connection_invalidated or isinstance(exc, OperationalError):
        return _database_unavailable_handler(request, exc)
    return _unexpected_handler(request, exc)


def _unexpected_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return json_error(500, {"error": "Internal server error"})


def exception_handlers() -> dict[type[Exception] | int, Any]:
    """The single place where exceptions become HTTP responses."""
    return {
        DomainError: _domain_error_handler,
        HTTPException: _http_exception_handler,
        PoolTimeoutError: _database_unavailable_handler,
        DBAPIError: _dbapi_error_handler,
        Exception: _unexpected_handler,
    }
