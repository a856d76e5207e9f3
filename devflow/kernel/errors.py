"""The domain errors: plain exceptions that say what went wrong, never how HTTP spells it.

Contexts raise these; the HTTP layer (:mod:`devflow.http.errors`) is the one place that maps each
class to a status code and a contract body ``{"error": …, "message": …, "details": […]}``. The
``error`` strings are the contract's, so the mapping only has to choose the status.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class: ``error`` is the client-facing summary, ``message``/``details`` optional detail."""

    error: str = "Bad request"

    def __init__(
        self,
        error: str | None = None,
        *,
        message: str | None = None,
        details: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.error = error or type(self).error
        self.message = message
        self.details = details
        self.extra = extra or {}
        super().__init__(self.error)

    def body(self) -> dict[str, Any]:
        """The JSON body the contract gives this error."""
        body: dict[str, Any] = {"error": self.error}
        if self.message is not None:
            body["message"] = self.message
        if self.details is not None:
            body["details"] = self.details
        body.update(self.extra)
        return body


class BadInput(DomainError):
    """The client sent something the operation cannot accept."""


class InvalidJSON(BadInput):
    error = "Invalid JSON"


class ValidationFailed(BadInput):
    """A validation failure with the exact per-endpoint ``message`` of the contract."""

    error = "Validation failed"

    def __init__(self, message: str) -> None:
        super().__init__(message=message)


class SchemaValidationFailed(BadInput):
    """A schema-validated body (register, login, token issue) with one ``details`` item per problem."""

    error = "Validation failed"

    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__(message="Request body does not match required schema", details=details)


class Unauthenticated(DomainError):
    """No valid credential (or wrong credentials on login)."""

    error = "Unauthorized"


class NotPermitted(DomainError):
    """The caller is known but may not do this."""

    error = "Forbidden"


class NotFound(DomainError):
    error = "Not found"


class AlreadyDone(DomainError):
    """The resource is in a state that forbids the operation (already used, acted on, registered…)."""

    error = "Conflict"


class Expired(DomainError):
    error = "Gone"


class TooLarge(DomainError):
    error = "Payload too large"


class RateLimited(DomainError):
    error = "Too many requests"

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__()
        self.retry_after = max(1, int(retry_after))


class UpstreamFailed(DomainError):
    """A third party (an OAuth provider) failed or answered nonsense."""

    error = "Provider request failed"


class Unavailable(DomainError):
    """A dependency needed to serve the request (database, lake storage, a provider's settings) is
    unavailable; the client should retry later."""

    error = "Service unavailable"

    def __init__(self, error: str | None = None, retry_after: int = 5) -> None:
        super().__init__(error)
        self.retry_after = retry_after
