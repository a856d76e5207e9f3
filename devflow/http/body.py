"""Request-body rules of contract §1.2, shared by every route that takes a body."""

from __future__ import annotations

from typing import Any

from litestar import Request

from devflow.kernel.errors import InvalidJSON
from devflow.kernel.jsontext import ABSENT, MalformedJSON, decode_json

MiB = 1024 * 1024
DEFAULT_BODY_LIMIT = 1 * MiB
TELEMETRY_BODY_LIMIT = 16 * MiB


def is_json_content_type(request: Request[Any, Any, Any]) -> bool:
    raw = request.headers.get("content-type")
    if not raw:
        return False
    return raw.split(";", 1)[0].strip().lower() == "application/json"


def parse_json_body(request: Request[Any, Any, Any], body: bytes) -> Any:
    """The parsed JSON value, or :data:`ABSENT` when the body does not count as JSON.

    A body is JSON only with an ``application/json`` media type and at least one byte;
    invalid JSON (invalid UTF-8 and nesting deeper than 64 levels included) raises
    ``400 Invalid JSON``.
    """
    if not body or not is_json_content_type(request):
        return ABSENT
    try:
        return decode_json(body)
    except MalformedJSON as exc:
        raise InvalidJSON() from exc


async def read_json_body(request: Request[Any, Any, Any]) -> Any:
    """Read (within the route's size limit) and parse the body; see :func:`parse_json_body`."""
    return parse_json_body(request, await request.body())


async def drain_body(request: Request[Any, Any, Any]) -> None:
    """Bodiless routes never parse the body, but the size limit still applies."""
    await request.body()
