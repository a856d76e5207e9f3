"""``/settings``: API tokens (create — shown once —, list with last use, revoke) and sign-out.

Issue 16 (time zone, data export, account deletion; ``/api/v1/me/settings``, ``GET /api/v1/me/export``,
``DELETE /api/v1/me``) adds its sections to ``settings.html`` where the template marks their places.
"""

from __future__ import annotations

import uuid
from typing import Any

import anyio.to_thread
from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template

from devflow.accounts import (
    Accounts,
    IssuedToken,
    issue_api_token,
    list_api_tokens,
    parse_token_name,
    revoke_api_token,
)
from devflow.kernel.errors import NotFound, SchemaValidationFailed
from devflow.web.rendering import SECURITY_HEADERS, page_context
from devflow.web.session import AnyRequest, Viewer, current_viewer, redirect, sign_in_first, sign_out_cookie

TOKEN_NAME_PROBLEM = "Give the token a name of 1 to 64 characters."


async def _settings_page(accounts: Accounts, viewer: Viewer, status: int = 200, **values: Any) -> Template:
    values.setdefault("created", None)
    values.setdefault("name_error", None)
    values.setdefault("token_name", "")
    tokens = await anyio.to_thread.run_sync(list_api_tokens, accounts.db, viewer.user_id)
    context = page_context(viewer=viewer, tokens=tokens, **values)
    return Template("settings.html", context=context, status_code=status, headers=SECURITY_HEADERS)


@get("/settings", name="settings")
async def settings_page(request: AnyRequest, accounts: NamedDependency[Accounts]) -> Response[Any]:
    """The account, its API tokens and sign-out."""
    viewer = await current_viewer(request, accounts)
    if viewer is None:
        return sign_in_first(request)
    return await _settings_page(accounts, viewer)


@post("/settings/tokens", name="create_token")
async def create_token(request: AnyRequest, accounts: NamedDependency[Accounts]) -> Response[Any]:
    """Mint an API token; this response is the only one that shows its plaintext (never stored, no
    redirect that would need to carry it)."""
    viewer = await current_viewer(request, accounts)
    if viewer is None:
        return sign_in_first(request, "/settings")
    form = await request.form()
    raw = form.get("name")
    name = raw.strip() if isinstance(raw, str) else ""
    try:
        name = parse_token_name({"name": name})
    except SchemaValidationFailed:
        return await _settings_page(accounts, viewer, 400, name_error=TOKEN_NAME_PROBLEM, token_name=name)
    issued: IssuedToken | None = await anyio.to_thread.run_sync(
        issue_api_token, accounts.db, viewer.user_id, name, accounts.clock()
    )
    if issued is None:  # the account was deleted under a live session
        return redirect("/login", sign_out_cookie(accounts))
    return await _settings_page(accounts, viewer, 201, created=issued)


@post("/settings/tokens/{token_id:str}/revoke", name="revoke_token")
async def revoke_token(
    request: AnyRequest, accounts: NamedDependency[Accounts], token_id: FromPath[str]
) -> Response[Any]:
    """Revoke one of the user's tokens: the API answers 401 for it from now on."""
    viewer = await current_viewer(request, accounts)
    if viewer is None:
        return sign_in_first(request, "/settings")
    try:
        parsed = uuid.UUID(token_id)
    except ValueError as exc:
        raise NotFound("Token not found") from exc
    if not await anyio.to_thread.run_sync(
        revoke_api_token, accounts.db, viewer.user_id, parsed, accounts.clock()
    ):
        raise NotFound("Token not found")
    return redirect("/settings#tokens")
