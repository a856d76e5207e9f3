"""``/settings``: API tokens (create — shown once —, list with last use, revoke) and sign-out.

Issue 16 (time zone, data export, account deletion; ``/api/v1/me/settings``, ``GET /api/v1/me/export``,
``DELETE /api/v1/me``) adds its sections to ``settings.html`` where the template marks their places.
"""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import timedelta
from typing import Any

import anyio.to_thread
from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Stream, Template

from devflow.accounts import (
    Accounts,
    IssuedToken,
    SettingsPatch,
    check_deletion_allowed,
    is_valid_time_zone,
    issue_api_token,
    list_api_tokens,
    load_settings,
    parse_token_name,
    revoke_api_token,
    update_settings,
)
from devflow.http.credentials import SESSION_COOKIE
from devflow.kernel.errors import NotFound, NotPermitted, SchemaValidationFailed, Unauthenticated
from devflow.rights.deletion import delete_account
from devflow.rights.export import stream_export
from devflow.services import Services
from devflow.web.rendering import SECURITY_HEADERS, page_context
from devflow.web.session import (
    AnyRequest,
    Viewer,
    current_viewer,
    redirect,
    sign_in_first,
    sign_out_cookie,
)

TOKEN_NAME_PROBLEM = "Give the token a name of 1 to 64 characters."


TIME_ZONE_PROBLEM = "Choose a time zone from the list (an IANA name such as Europe/Paris)."
DELETE_CONFIRM_PROBLEM = "To confirm, type your username exactly as shown."
WRONG_PASSWORD = "That password is not right."
# Every zone the server's tz database knows, for the picker (computed once).
TIME_ZONES = sorted(zoneinfo.available_timezones())


async def _settings_page(accounts: Accounts, viewer: Viewer, status: int = 200, **values: Any) -> Template:
    values.setdefault("created", None)
    values.setdefault("name_error", None)
    values.setdefault("token_name", "")
    values.setdefault("zone_error", None)
    values.setdefault("zone_saved", False)
    values.setdefault("delete_error", None)
    tokens = await anyio.to_thread.run_sync(list_api_tokens, accounts.db, viewer.user_id)
    mine = await anyio.to_thread.run_sync(
        load_settings, accounts.db, viewer.user_id, accounts.settings.path_privacy
    )
    context = page_context(viewer=viewer, tokens=tokens, my=mine, time_zones=TIME_ZONES, **values)
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


# -- issue 16: time zone, export, account deletion ------------------------------------------------


@post("/settings/time-zone", name="set_time_zone")
async def set_time_zone(request: AnyRequest, accounts: NamedDependency[Accounts]) -> Response[Any]:
    """Save the user's IANA time zone (empty: UTC)."""
    viewer = await current_viewer(request, accounts)
    if viewer is None:
        return sign_in_first(request, "/settings")
    form = await request.form()
    raw = form.get("time_zone")
    zone = raw.strip() if isinstance(raw, str) else ""
    if zone and not is_valid_time_zone(zone):
        return await _settings_page(accounts, viewer, 400, zone_error=TIME_ZONE_PROBLEM)
    await anyio.to_thread.run_sync(
        update_settings,
        accounts.db,
        viewer.user_id,
        SettingsPatch(time_zone=zone or None),
        accounts.settings.path_privacy,
    )
    return await _settings_page(accounts, viewer, zone_saved=True)


@get("/settings/export", name="export_data")
async def export_data(
    request: AnyRequest, accounts: NamedDependency[Accounts], services: NamedDependency[Services]
) -> Response[Any]:
    """Download the user's export (the same ZIP as ``GET /api/v1/me/export``)."""
    viewer = await current_viewer(request, accounts)
    if viewer is None:
        return sign_in_first(request, "/settings")
    stamp = services.clock().strftime("%Y%m%dT%H%M%SZ")
    return Stream(
        stream_export(services, viewer.user_id),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="devflow-export-{stamp}.zip"',
            "Cache-Control": "no-store",
        },
    )


@post("/settings/delete", name="delete_account")
async def delete_account_page(
    request: AnyRequest, accounts: NamedDependency[Accounts], services: NamedDependency[Services]
) -> Response[Any]:
    """Delete the account after the user typed their username (and password, for password accounts;
    OAuth accounts must have signed in recently). Signs out and lands on the sign-in page."""
    viewer = await current_viewer(request, accounts)
    if viewer is None:
        return sign_in_first(request, "/settings")
    form = await request.form()
    confirm, password = form.get("confirm"), form.get("password")
    if not isinstance(confirm, str) or confirm.strip() != viewer.username:
        return await _settings_page(accounts, viewer, 400, delete_error=DELETE_CONFIRM_PROBLEM)
    settings = accounts.settings
    try:
        await anyio.to_thread.run_sync(
            check_deletion_allowed,
            accounts.db,
            settings.jwt_secret,
            viewer.user_id,
            request.cookies.get(SESSION_COOKIE) or "",
            password if isinstance(password, str) else None,
            accounts.clock(),
            timedelta(minutes=settings.deletion_fresh_signin_minutes),
        )
    except Unauthenticated:
        return await _settings_page(accounts, viewer, 400, delete_error=WRONG_PASSWORD)
    except NotPermitted:
        minutes = f"{settings.deletion_fresh_signin_minutes:g}"
        message = f"Sign out and sign in again, then delete within {minutes} minutes."
        return await _settings_page(accounts, viewer, 403, delete_error=message)
    await anyio.to_thread.run_sync(delete_account, services, viewer.user_id)
    return redirect("/login?deleted=1", sign_out_cookie(accounts))
