"""Errors outside the API render as HTML pages; under the API prefix they stay the contract's JSON.

The JSON handlers of :mod:`devflow.http.errors` still decide every status (and log), so a page and an
API call that fail the same way get the same status; only the body changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from litestar import MediaType, Request, Response

from devflow.web.rendering import SECURITY_HEADERS, error_page

Handler = Callable[[Request[Any, Any, Any], Any], Response[Any]]
# Headers of an error response that still mean something on a page.
_KEPT_HEADERS = ("allow", "retry-after")


def is_api_path(path: str, api_prefix: str) -> bool:
    """True for the prefix itself and every path below it."""
    return path == api_prefix or path.startswith(api_prefix + "/")


def html_error(status: int, headers: Mapping[str, str] | None = None) -> Response[bytes]:
    """The HTML error page for ``status``."""
    return Response(
        error_page(status),
        status_code=status,
        media_type=MediaType.HTML,
        headers={**SECURITY_HEADERS, **(headers or {})},
    )


def page_aware(handlers: Mapping[Any, Handler], api_prefix: str) -> dict[Any, Handler]:
    """Wrap each JSON exception handler: API paths get its response, other paths the same status as
    an HTML page."""

    def wrap(handler: Handler) -> Handler:
        def handle(request: Request[Any, Any, Any], exc: Any) -> Response[Any]:
            response = handler(request, exc)
            if is_api_path(request.scope["path"], api_prefix):
                return response
            kept = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
            return html_error(response.status_code or 500, kept)

        return handle

    return {key: wrap(handler) for key, handler in handlers.items()}
