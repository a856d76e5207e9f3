"""Who is looking at a page (the ``session`` cookie the API sets too) and where to send them next."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import anyio.to_thread
from litestar import Request, Response

from devflow.accounts import API_TOKEN_PREFIX, JWT_TTL_SECONDS, Accounts, load_user
from devflow.http.credentials import SESSION_COOKIE, session_cookie
from devflow.kernel.errors import Unauthenticated

AnyRequest = Request[Any, Any, Any]

DEFAULT_NEXT = "/dashboard"
_MAX_NEXT_LENGTH = 2000


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in person a page is rendered for."""

    user_id: uuid.UUID
    username: str
    email: str | None
    provider: str


async def current_viewer(request: AnyRequest, accounts: Accounts) -> Viewer | None:
    """The user of the request's ``session`` cookie, or None (no cookie, invalid or expired JWT, an
    API token in the cookie, or a deleted user). Pages are for people: only the cookie counts."""
    credential = request.cookies.get(SESSION_COOKIE)
    if not credential or credential.startswith(API_TOKEN_PREFIX):
        return None
    try:
        principal = accounts.authenticator.authenticate(credential)  # a JWT: no database work
    except Unauthenticated:
        return None
    user = await anyio.to_thread.run_sync(load_user, accounts.db, principal.user_id)
    if user is None:
        return None
    return Viewer(user_id=user.id, username=user.username, email=user.email, provider=user.provider)


def safe_next(raw: str | None) -> str:
    """``raw`` when it is a path on this site, else :data:`DEFAULT_NEXT` (no open redirect).

    Refused: anything not starting with one ``/`` (``//evil``, ``https://…``, ``javascript:``), any
    backslash (browsers read ``/\\evil`` as ``//evil``), whitespace and control characters (browsers
    drop tabs and newlines, turning ``/\\t/evil`` into ``//evil``), and anything not plain ASCII.
    """
    if not raw or len(raw) > _MAX_NEXT_LENGTH or not raw.startswith("/") or raw.startswith("//"):
        return DEFAULT_NEXT
    if any(not 0x21 <= ord(ch) <= 0x7E or ch == "\\" for ch in raw):
        return DEFAULT_NEXT
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc:
        return DEFAULT_NEXT
    return raw


def with_next(path: str, target: str) -> str:
    """``path?next=<target>`` (the target URL-encoded); just ``path`` for the default target."""
    if target == DEFAULT_NEXT:
        return path
    return f"{path}?next={quote(target, safe='')}"


def redirect(location: str, set_cookie: str | None = None) -> Response[bytes]:
    """``303 See Other`` to a local path (after a form, the browser follows with a GET)."""
    headers = {"Location": location}
    if set_cookie is not None:
        headers["Set-Cookie"] = set_cookie
    return Response(b"", status_code=303, headers=headers)


def sign_in_cookie(accounts: Accounts, token: str) -> str:
    """The same ``session`` cookie ``POST /api/v1/auth/login`` sets (§1.5)."""
    return session_cookie(token, production=accounts.settings.production, max_age=JWT_TTL_SECONDS)


def sign_out_cookie(accounts: Accounts) -> str:
    """The cookie-clearing ``Set-Cookie`` of ``POST /api/v1/auth/logout``."""
    return session_cookie("", production=accounts.settings.production, max_age=0)


def sign_in_first(request: AnyRequest, return_to: str | None = None) -> Response[bytes]:
    """Send a logged-out visitor to the sign-in page, which brings them back afterwards: to this page,
    or to ``return_to`` (a form's page: the form's own URL takes no GET)."""
    here = return_to or request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect(with_next("/login", safe_next(here)))
