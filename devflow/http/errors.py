"""The one domain-error hierarchy and its mapping to contract §1.3 JSON responses.

Controllers raise these; :func:`exception_handlers` turns them (and Litestar's own
routing errors, and anything unexpected) into ``{"error": ...}`` bodies.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

log = logging.getLogger("devflow.http")


class ApiError(Exception):
    """An error with a contract-defined status and body."""

    status_code: int = 400
    error: str = "Bad request"

    def __init__(
        self,
        error: str | None = None,
        *,
        message: str | None = None,
        details: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        status_code: int | None = None,
    ) -> None:
        self.error = error or type(self).error
        if status_code is not None:
            self.status_code = status_code
        self.message = message
        self.details = details
        self.extra = extra or {}
        self.headers = headers or {}
        super().__init__(self.error)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.error}
        if self.message is not None:
            body["message"] = self.message
        if self.details is not None:
            body["details"] = self.details
        body.update(self.extra)
        return body


class BadRequest(ApiError):
    status_code = 400


class InvalidJSON(BadRequest):
    error = "Invalid JSON"


class ValidationFailed(BadRequest):
    """``400 {"error":"Validation failed","message":<exact per-endpoint message>}``."""

    error = "Validation failed"

    def __init__(self, message: str) -> None:
        super().__init__(message=message)


class SchemaValidationFailed(BadRequest):
    """The schema-validated bodies (register, login, token issue): message plus ``details``."""

    error = "Validation failed"

    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__(message="Request body does not match required schema", details=details)


class Unauthorized(ApiError):
    status_code = 401
    error = "Unauthorized"


class Forbidden(ApiError):
    status_code = 403
    error = "Forbidden"


class NotFound(ApiError):
    status_code = 404
    error = "Not found"


class Conflict(ApiError):
    status_code = 409
    error = "Conflict"


class Gone(ApiError):
    status_code = 410
    error = "Gone"


class PayloadTooLarge(ApiError):
    status_code = 413
    error = "Payload too large"


class TooManyRequests(ApiError):
    status_code = 429
    error = "Too many requests"

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__(headers={"Retry-After": str(max(1, int(retry_after)))})


class BadGateway(ApiError):
    status_code = 502
    error = "Provider request failed"


class ServiceUnavailable(ApiError):
    status_code = 503
    error = "Service unavailable"

    def __init__(self, error: str | None = None, retry_after: int = 5) -> None:
        super().__init__(error, headers={"Retry-After": str(retry_after)})


def json_error(
    status_code: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(content=body, status_code=status_code, media_type=MediaType.JSON, headers=headers)


def _api_error_handler(_: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    return json_error(exc.status_code, exc.body(), exc.headers)


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
    return json_error(503, {"error": "Service unavailable"}, {"Retry-After": "5"})


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
        ApiError: _api_error_handler,
        HTTPException: _http_exception_handler,
        PoolTimeoutError: _database_unavailable_handler,
        DBAPIError: _dbapi_error_handler,
        Exception: _unexpected_handler,
    }
