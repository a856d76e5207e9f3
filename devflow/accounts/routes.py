"""HTTP handlers of the accounts context (contract §3.2–§3.5), registered under ``/api/v1``.

Handlers are thin: they follow each endpoint's check order, push database work and bcrypt to
worker threads, and map outcomes to the contract's errors. Bodies are read by hand after
authentication (``read_json_body`` / ``drain_body``) so that the check order stays exact. The
:class:`~devflow.accounts.Accounts` object and the caller's :class:`Principal` come by dependency
injection (:func:`resolve_principal` is the router-wide ``principal`` dependency).

Routing note: Litestar resolves static segments before parameters and does not fall back, so
``GET /auth/register`` (and login, logout, pairings) lands on the static POST-only route and gets
``405``, while any other single-segment ``GET /auth/{x}`` is the OAuth start.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import anyio.to_thread
from litestar import Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.types import ControllerRouterHandler

from devflow.accounts import Accounts, oauth
from devflow.accounts.authentication import Principal
from devflow.accounts.credentials import API_TOKEN_PREFIX, JWT_TTL_SECONDS, issue_jwt
from devflow.accounts.pairing import (
    PAIRING_TTL,
    ApproveOutcome,
    ExchangeStatus,
    approve_pairing,
    create_pairing,
    exchange_pairing,
)
from devflow.accounts.schemas import (
    AuthOut,
    ExchangeExpired,
    ExchangeOut,
    LoginIn,
    OkOut,
    PairingCreated,
    RegisterIn,
    TokenCreated,
    TokenIn,
    TokenList,
    UserOut,
    parse_login,
    parse_register,
    parse_token_name,
)
from devflow.accounts.service import (
    find_or_create_oauth_user,
    issue_api_token,
    list_api_tokens,
    load_user,
    revoke_api_token,
    user_out,
)
from devflow.accounts.user_settings import (
    SettingsOut,
    SettingsPatch,
    load_settings,
    parse_settings_patch,
    update_settings,
)
from devflow.config import Settings
from devflow.http.body import drain_body, read_json_body
from devflow.http.clients import client_ip
from devflow.http.credentials import extract_credential
from devflow.http.credentials import session_cookie as http_session_cookie
from devflow.http.openapi import Param, api_doc, response_spec
from devflow.kernel.clock import iso_ms
from devflow.kernel.errors import (
    AlreadyDone,
    BadInput,
    Expired,
    NotFound,
    RateLimited,
    Unauthenticated,
    Unavailable,
    UpstreamFailed,
)

log = logging.getLogger("devflow.accounts")

T = TypeVar("T")
AnyRequest = Request[Any, Any, Any]

TOKENS_JWT_ONLY = "API tokens cannot manage other tokens"
APPROVE_JWT_ONLY = "API tokens cannot approve pairings"
_TAGS = ["accounts"]

_SCHEMA_400 = (
    '`{"error":"Invalid JSON"}`, or the schema-validation error `{"error":"Validation failed",'
    '"message":"Request body does not match required schema","details":[{"instancePath","message"}…]}`'
)
_COOKIE_DOC = "Sets `session` cookie (§1.5)"
_USER_CODE = Param(
    "user_code",
    {"type": "string", "pattern": "^[BCDFGHJKMNPQRSTVWXZ23456789]{4}-[BCDFGHJKMNPQRSTVWXZ23456789]{4}$"},
    "The code shown by the extension (case-sensitive); anything else is 404",
)
_PAIRING_ID = Param("pairing_id", {"type": "string", "format": "uuid"}, "Any other value is 410 expired")
_PROVIDER = Param(
    "provider", {"type": "string", "enum": ["google", "github"]}, "Others: 400 Unsupported provider"
)
_EXCHANGE_STATUS: dict[ExchangeStatus, Literal["pending", "approved", "consumed"]] = {
    ExchangeStatus.PENDING: "pending",
    ExchangeStatus.APPROVED: "approved",
    ExchangeStatus.CONSUMED: "consumed",
}
_REDIRECT = {302: response_spec("Redirect (`Location`)", None)}


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(fn, *args)


async def resolve_principal(request: AnyRequest, accounts: NamedDependency[Accounts]) -> Principal:
    """The router-wide ``principal`` dependency: the caller, or 401."""
    credential = extract_credential(request)
    if not credential:
        raise Unauthenticated()
    if credential.startswith(API_TOKEN_PREFIX):  # a database lookup: off the event loop
        return await _in_thread(accounts.authenticator.authenticate, credential)
    return accounts.authenticator.authenticate(credential)


# -- session cookie (§1.5) -------------------------------------------------------------------


def session_cookie(value: str, settings: Settings, max_age: int = JWT_TTL_SECONDS) -> str:
    """The exact ``Set-Cookie`` value: Lax in development, ``SameSite=None; Secure`` in production."""
    return http_session_cookie(value, production=settings.production, max_age=max_age)


def _signed_in(user: UserOut, token: str, settings: Settings, status_code: int) -> Response[AuthOut]:
    return Response(
        AuthOut(user=user, token=token),
        status_code=status_code,
        headers={"Set-Cookie": session_cookie(token, settings)},
    )


# -- password accounts (§3.2) -----------------------------------------------------------------


async def _count_ip_attempt(request: AnyRequest, accounts: Accounts) -> None:
    """§1.8: the per-IP limit comes before the body is read."""
    ip = client_ip(request, accounts.settings.trust_proxy)
    if accounts.limiter.enabled and ip is not None:  # no thread hop when nothing is counted
        await _in_thread(accounts.count_ip_attempt, ip)


@post(
    "/auth/register",
    status_code=201,
    operation_id="register",
    tags=_TAGS,
    response_description=_COOKIE_DOC,
    **api_doc(
        auth="none",
        body=RegisterIn,
        errors=(409, 429),
        error_texts={400: _SCHEMA_400, 409: '`{"error":"Email already registered"}`'},
    ),
)
async def register(request: AnyRequest, accounts: NamedDependency[Accounts]) -> Response[AuthOut]:
    """Create a password account, set the session cookie: ``201 {user, token}``."""
    await _count_ip_attempt(request, accounts)
    credentials = parse_register(await read_json_body(request))
    signed_in = await _in_thread(accounts.register, credentials)
    return _signed_in(user_out(signed_in.user), signed_in.token, accounts.settings, 201)


@post(
    "/auth/login",
    status_code=200,
    operation_id="login",
    tags=_TAGS,
    response_description=_COOKIE_DOC,
    **api_doc(
        auth="none",
        body=LoginIn,
        errors=(401, 429),
        error_texts={400: _SCHEMA_400, 401: '`{"error":"Invalid credentials"}`'},
    ),
)
async def login(request: AnyRequest, accounts: NamedDependency[Accounts]) -> Response[AuthOut]:
    """Check email + password, set the session cookie: ``200 {user, token}``."""
    await _count_ip_attempt(request, accounts)
    credentials = parse_login(await read_json_body(request))
    signed_in = await _in_thread(accounts.sign_in, credentials)
    return _signed_in(user_out(signed_in.user), signed_in.token, accounts.settings, 200)


@get(
    "/auth/me",
    operation_id="me",
    tags=_TAGS,
    **api_doc(auth="either", errors=(404,), error_texts={404: '`{"error":"User not found"}`'}),
)
async def me(accounts: NamedDependency[Accounts], principal: NamedDependency[Principal]) -> UserOut:
    """The caller's user (JWT or API token); ``404 User not found`` for a deleted user's JWT."""
    user = await _in_thread(load_user, accounts.db, principal.user_id)
    if user is None:
        raise NotFound("User not found")
    return user_out(user)


@post(
    "/auth/logout",
    status_code=204,
    operation_id="logout",
    tags=_TAGS,
    response_description="Clears the `session` cookie",
    **api_doc(auth="none"),
)
async def logout(request: AnyRequest, accounts: NamedDependency[Accounts]) -> Response[None]:
    """Always ``204`` with a cookie-clearing ``Set-Cookie``; the body is never parsed."""
    await drain_body(request)
    return Response(
        None, status_code=204, headers={"Set-Cookie": session_cookie("", accounts.settings, max_age=0)}
    )


# -- OAuth (§3.3) -----------------------------------------------------------------------------


def _supported_provider(provider: str) -> None:
    if provider not in oauth.SUPPORTED_PROVIDERS:
        raise BadInput("Unsupported provider")


def _redirect(location: str, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(b"", status_code=302, headers={"Location": location, **(headers or {})})


@get(
    "/auth/{provider:str}",
    operation_id="oauth_start",
    tags=_TAGS,
    status_code=302,
    **api_doc(
        auth="none",
        errors=(400, 503),
        error_texts={
            400: '`{"error":"Unsupported provider"}`',
            503: '`{"error":"Provider not configured"}`, or the database is unreachable',
        },
        responses=_REDIRECT,
        path=(_PROVIDER,),
        query=(
            Param(
                "client_type", {"type": "string"}, "`vscode` → the editor's deep link; anything else → web"
            ),
            Param("display", {"type": "string"}, "Accepted and ignored"),
        ),
    ),
)
async def oauth_start(
    request: AnyRequest, accounts: NamedDependency[Accounts], provider: FromPath[str]
) -> Response[bytes]:
    """``302`` to the provider's authorize URL with a fresh state and PKCE challenge."""
    _supported_provider(provider)
    settings = accounts.settings
    client_type = (
        oauth.CLIENT_TYPE_VSCODE
        if request.query_params.get("client_type") == oauth.CLIENT_TYPE_VSCODE
        else oauth.CLIENT_TYPE_WEB
    )
    config = oauth.provider_config(settings, provider)
    if not oauth.is_configured(settings, config, client_type):
        raise Unavailable("Provider not configured")
    location = await _in_thread(
        oauth.start_login, accounts.db, settings, config, client_type, accounts.clock()
    )
    return _redirect(location)


@get(
    "/auth/{provider:str}/callback",
    operation_id="oauth_callback",
    tags=_TAGS,
    status_code=302,
    **api_doc(
        auth="none",
        errors=(400, 502, 503),
        error_texts={
            400: '`{"error":"Unsupported provider"}`, `{"error":"Provider error","code":…}`, '
            '`{"error":"Invalid or expired state"}` or `{"error":"Missing code"}`',
            503: '`{"error":"Provider not configured"}`, or the database is unreachable',
        },
        responses=_REDIRECT,
        path=(_PROVIDER,),
        query=(
            Param("code", {"type": "string"}, "The provider's authorization code"),
            Param("state", {"type": "string"}, "The state of the start route (single use, 5 minutes)"),
            Param("error", {"type": "string"}, "Set by the provider when the user refused"),
        ),
    ),
)
async def oauth_callback(
    request: AnyRequest, accounts: NamedDependency[Accounts], provider: FromPath[str]
) -> Response[bytes]:
    """Finish the login: web → cookie + ``302`` to the app; vscode → ``302`` to the deep link."""
    _supported_provider(provider)
    query = request.query_params
    if "error" in query:  # the provider refused; the state stays usable
        raise BadInput("Provider error", extra={"code": query.get("error") or ""})
    settings = accounts.settings
    state = await _in_thread(
        oauth.consume_state, accounts.db, query.get("state") or "", provider, accounts.clock()
    )
    if state is None:
        raise BadInput("Invalid or expired state")
    code = query.get("code") or ""
    if not code:
        raise BadInput("Missing code")
    config = oauth.provider_config(settings, provider)
    if not oauth.is_configured(settings, config, state.client_type):
        raise Unavailable("Provider not configured")
    try:
        profile = await oauth.fetch_profile(settings, config, code, state.code_verifier)
    except oauth.ProviderRequestFailed as exc:
        log.warning("OAuth %s provider request failed: %s", provider, exc)
        raise UpstreamFailed() from exc
    user = await _in_thread(
        find_or_create_oauth_user,
        accounts.db,
        provider,
        profile.provider_user_id,
        profile.email,
        profile.username_base,
    )
    token = issue_jwt(settings.jwt_secret, user.id, provider)
    if state.client_type == oauth.CLIENT_TYPE_VSCODE:
        return _redirect(f"{settings.vscode_deeplink}?token={quote(token, safe='')}")
    return _redirect(settings.web_app_url, {"Set-Cookie": session_cookie(token, settings)})


# -- API tokens (§3.4) ------------------------------------------------------------------------


@post(
    "/auth/tokens",
    status_code=201,
    operation_id="create_api_token",
    tags=_TAGS,
    **api_doc(
        auth="jwt",
        body=TokenIn,
        errors=(404,),
        error_texts={
            400: _SCHEMA_400,
            403: f'`{{"error":"{TOKENS_JWT_ONLY}"}}`',
            404: '`{"error":"User not found"}`',
        },
    ),
)
async def create_token(
    request: AnyRequest, accounts: NamedDependency[Accounts], principal: NamedDependency[Principal]
) -> TokenCreated:
    """Mint an API token; its plaintext appears in this response only."""
    name = parse_token_name(await read_json_body(request))  # schema check comes before the 403
    principal.require_jwt(TOKENS_JWT_ONLY)
    issued = await _in_thread(issue_api_token, accounts.db, principal.user_id, name, accounts.clock())
    if issued is None:
        raise NotFound("User not found")
    return TokenCreated(
        id=str(issued.row.id),
        name=issued.row.name,
        token=issued.plaintext,
        token_prefix=issued.row.token_prefix,
        created_at=iso_ms(issued.row.created_at) or "",
    )


@get(
    "/auth/tokens",
    operation_id="list_api_tokens",
    tags=_TAGS,
    **api_doc(auth="jwt", error_texts={403: f'`{{"error":"{TOKENS_JWT_ONLY}"}}`'}),
)
async def list_tokens(
    accounts: NamedDependency[Accounts], principal: NamedDependency[Principal]
) -> TokenList:
    """All of the caller's tokens, newest first, revoked ones included."""
    principal.require_jwt(TOKENS_JWT_ONLY)
    return TokenList(tokens=await _in_thread(list_api_tokens, accounts.db, principal.user_id))


@delete(
    "/auth/tokens/{token_id:str}",
    status_code=204,
    operation_id="revoke_api_token",
    tags=_TAGS,
    **api_doc(
        auth="jwt",
        errors=(404,),
        error_texts={403: f'`{{"error":"{TOKENS_JWT_ONLY}"}}`', 404: '`{"error":"Token not found"}`'},
        path=(Param("token_id", {"type": "string", "format": "uuid"}, "The token's id"),),
    ),
)
async def revoke_token(
    accounts: NamedDependency[Accounts], principal: NamedDependency[Principal], token_id: FromPath[str]
) -> None:
    """Revoke one of the caller's unrevoked tokens, else ``404 Token not found``."""
    principal.require_jwt(TOKENS_JWT_ONLY)
    try:
        parsed = uuid.UUID(token_id)
    except ValueError as exc:
        raise NotFound("Token not found") from exc
    if not await _in_thread(revoke_api_token, accounts.db, principal.user_id, parsed, accounts.clock()):
        raise NotFound("Token not found")


# -- device pairing (§3.5, §5) ----------------------------------------------------------------


@post("/auth/pairings", status_code=201, operation_id="create_pairing", tags=_TAGS, **api_doc(auth="none"))
async def create_pairing_route(request: AnyRequest, accounts: NamedDependency[Accounts]) -> PairingCreated:
    """Start a pairing for the extension: ``201`` with the code the user approves in the dashboard."""
    await drain_body(request)
    row = await _in_thread(create_pairing, accounts.db, accounts.clock())
    return PairingCreated(
        pairing_id=str(row.id),
        user_code=row.user_code,
        verification_uri=accounts.settings.verification_uri,
        expires_in=int(PAIRING_TTL.total_seconds()),
    )


@post(
    "/auth/pairings/{user_code:str}/approve",
    status_code=200,
    operation_id="approve_pairing",
    tags=_TAGS,
    **api_doc(
        auth="jwt",
        errors=(404, 409, 410),
        error_texts={
            403: f'`{{"error":"{APPROVE_JWT_ONLY}"}}`, or a cookie request from a foreign `Origin`',
            404: '`{"error":"Pairing not found or expired"}` or `{"error":"User not found"}`',
            409: '`{"error":"Pairing already used"}`',
            410: '`{"error":"Pairing expired"}`',
        },
        path=(_USER_CODE,),
    ),
)
async def approve_pairing_route(
    request: AnyRequest,
    accounts: NamedDependency[Accounts],
    principal: NamedDependency[Principal],
    user_code: FromPath[str],
) -> OkOut:
    """The dashboard approves a code: mints the API token the extension will collect."""
    await drain_body(request)
    principal.require_jwt(APPROVE_JWT_ONLY)
    outcome = await _in_thread(approve_pairing, accounts.db, user_code, principal.user_id, accounts.clock())
    if outcome is ApproveOutcome.APPROVED:
        return OkOut(ok=True)
    if outcome is ApproveOutcome.EXPIRED:
        raise Expired("Pairing expired")
    if outcome is ApproveOutcome.ALREADY_USED:
        raise AlreadyDone("Pairing already used")
    if outcome is ApproveOutcome.USER_MISSING:
        raise NotFound("User not found")
    raise NotFound("Pairing not found or expired")


@post(
    "/auth/pairings/{pairing_id:str}/exchange",
    status_code=200,
    operation_id="exchange_pairing",
    tags=_TAGS,
    **api_doc(
        auth="none",
        errors=(429,),
        error_texts={429: '`{"error":"Too many requests"}`: more than one exchange per second; keep polling'},
        responses={410: response_spec('`{"status":"expired"}`: the pairing is over', ExchangeExpired)},
        path=(_PAIRING_ID,),
    ),
)
async def exchange_pairing_route(
    request: AnyRequest, accounts: NamedDependency[Accounts], pairing_id: FromPath[str]
) -> Response[ExchangeOut]:
    """The extension polls: pending / approved (the token, exactly once) / consumed / 410 expired."""
    await drain_body(request)
    result = await _in_thread(exchange_pairing, accounts.db, pairing_id, accounts.clock())
    if result.status is ExchangeStatus.TOO_MANY:
        raise RateLimited(1)
    if result.status is ExchangeStatus.EXPIRED:
        # One of the two non-error-shaped bodies of the contract (§1.3).
        return Response(ExchangeExpired(status="expired"), status_code=410)  # type: ignore[arg-type]
    status = _EXCHANGE_STATUS[result.status]
    if result.token is not None:
        return Response(ExchangeOut(status=status, token=result.token), status_code=200)
    return Response(ExchangeOut(status=status), status_code=200)


# -- the user's settings (issue 16) ------------------------------------------------------------


_USER_GONE_TEXT = '`{"error":"User not found"}` (a deleted user\'s JWT)'


@get(
    "/me/settings",
    operation_id="get_my_settings",
    tags=_TAGS,
    **api_doc(auth="either", errors=(404,), error_texts={404: _USER_GONE_TEXT}),
)
async def get_settings(
    accounts: NamedDependency[Accounts], principal: NamedDependency[Principal]
) -> SettingsOut:
    """The caller's time zone and path-privacy mode (JWT or API token)."""
    return await _in_thread(load_settings, accounts.db, principal.user_id, accounts.settings.path_privacy)


@patch(
    "/me/settings",
    operation_id="update_my_settings",
    tags=_TAGS,
    **api_doc(
        auth="either",
        body=SettingsPatch,
        errors=(404,),
        error_texts={
            400: "Invalid JSON, an unknown field, an unknown IANA zone, or a mode laxer than the server's",
            404: _USER_GONE_TEXT,
        },
    ),
)
async def patch_settings(
    request: AnyRequest,
    accounts: NamedDependency[Accounts],
    principal: NamedDependency[Principal],
) -> SettingsOut:
    """Change ``time_zone`` (IANA name; null: UTC) and/or ``path_privacy`` (null: the server's).

    Body: :class:`~devflow.accounts.user_settings.SettingsPatch` (read by hand, like every body here,
    so the check order stays ours)."""
    server_mode = accounts.settings.path_privacy
    body = parse_settings_patch(await read_json_body(request), server_mode)
    return await _in_thread(update_settings, accounts.db, principal.user_id, body, server_mode)


ROUTES: list[ControllerRouterHandler] = [
    register,
    login,
    me,
    logout,
    oauth_start,
    oauth_callback,
    create_token,
    list_tokens,
    revoke_token,
    create_pairing_route,
    approve_pairing_route,
    exchange_pairing_route,
    get_settings,
    patch_settings,
]
