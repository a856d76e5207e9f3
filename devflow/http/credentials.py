"""Where a request's credential is (contract §1.4): ``Authorization: Bearer`` first, then the
``session`` cookie; other ``Authorization`` schemes are ignored."""

from __future__ import annotations

from typing import Any

from litestar import Request

SESSION_COOKIE = "session"


def extract_credential(request: Request[Any, Any, Any]) -> str | None:
    """The credential the request carries, or None."""
    header = request.headers.get("authorization")
    if header is not None and header.startswith("Bearer "):
        return header[len("Bearer ") :]
    return request.cookies.get(SESSION_COOKIE) or None


def session_cookie(value: str, *, production: bool, max_age: int) -> str:
    """The exact ``Set-Cookie`` value (§1.5): Lax in development, ``SameSite=None; Secure`` in production."""
    same_site = "SameSite=None; Secure" if production else "SameSite=Lax"
    return f"{SESSION_COOKIE}={value}; HttpOnly; Path=/; Max-Age={max_age}; {same_site}"
