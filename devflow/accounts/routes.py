"""HTTP handlers of the accounts context (contract §3.2–§3.5), registered under ``/api/v1``.

Handlers are thin: they follow each endpoint's check order, push database work and bcrypt to
worker threads, and map outcomes to the contract's statuses. Bodies are read by hand after
authentication (``read_json_body`` / ``drain_body``) so that the check order stays exact.

Routing note: Litestar resolves static segments before parameters and does not fall back, so
``GET /auth/register`` (and login, logout, pairings) lands on the static POST-only route and gets
``405``, while any other single-segment ``GET /auth/{x}`` is the OAuth start.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

import anyio.to_thread
from litestar import Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.types import ControllerRouterHandler

from devflow.accounts import oauth
from devflow.accounts.credentials import JWT_TTL_SECONDS, issue_jwt
from devflow.accounts.pairing import (
    PAIRING_TTL,
    ApproveOutcome,
    ExchangeStatus,
    approve_pairing,
    create_pairing,
    exchange_pairing,
)
from devflow.accounts.passwords import hash_password, normalise_email, verify_password
from devflow.accounts.ratelimit import AuthRateLimiter, client_ip, limiter_key
from devflow.accounts.schemas import (
    AuthOut,
    PairingCreated,
    TokenCreated,
    TokenList,
    UserOut,
    parse_login,
    parse_register,
    parse_token_name,
)
from devflow.accounts.service import (
    PASSWORD_PROVIDER,
    create_password_user,
    find_or_create_oauth_user,
    find_password_user,
    issue_api_token,
    list_api_tokens,
    load_user,
    password_account_exists,
    revoke_api_token,
    user_out,
)
from devflow.config import Settings
from devflow.http.auth import Principal
from devflow.http.body import drain_body, read_json_body
from devflow.http.context import AppContext, request_context
from devflow.http.errors import (
    ApiError,
    BadGateway,
    BadRequest,
    Conflict,
    Gone,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)
from devflow.http.format import iso_ms

log = logging.getLogger("devflow.accounts")

T = TypeVar("T")
AnyRequest = Request[Any, Any, Any]

TOKENS_JWT_ONLY = "API tokens cannot manage other tokens"
APPROVE_JWT_ONLY = "API tokens cannot approve pairings"
SESSION_COOKIE = "session"
_TAGS = ["accounts"]


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(fn, *args)


def _now() -> datetime:
    return datetime.now(UTC)


# -- session cookie (§1.5) -------------------------------------------------------------------


def session_cookie(value: str, settings: Settings, max_age: int = JWT_TTL_SECONDS) -> str:
    """The exact ``Set-Cookie`` value: Lax in development, ``SameSite=None; Secure`` in production."""
    same_site = "SameSite=None; Secure" if settings.production else "SameSite=Lax"
    return f"{SESSION_COOKIE}={value}; HttpOnly; Path=/; Max-Age={max_age}; {same_site}"


def _signed_in(user: UserOut, token: str, settings: Settings, status_code: int) -> Response[AuthOut]:
    return Response(
        AuthOut(user=user, token=token),
        status_code=status_code,
        headers={"Set-Cookie": session_cookie(token, settings)},
    )


# -- login / register rate limits (§1.8) -------------------------------------------------------


def _limiter(ctx: AppContext) -> AuthRateLimiter:
    limiter: AuthRateLimiter | None = ctx.extras.get("auth_rate_limiter")
    if limiter is None:
        limiter = AuthRateLimiter(ctx.db, ctx.settings.auth_rate_limit_per_minute)
        ctx.extras["auth_rate_limiter"] = limiter
    return limiter


async def _count_attempt(limiter: AuthRateLimiter, kind: str, value: str | None) -> None:
    if not limiter.enabled or value is None:
        return
    retry_after = await _in_thread(limiter.attempt, limiter_key(kind, value), _now())
    if retry_after is not None:
        raise TooManyRequests(retry_after)


async def _count_ip_attempt(request: AnyRequest, ctx: AppContext) -> AuthRateLimiter:
    limiter = _limiter(ctx)
    await _count_attempt(limiter, "ip", client_ip(request, ctx.settings.trust_proxy))
    return limiter


# -- password accounts (§3.2) -----------------------------------------------------------------


@post("/auth/register", status_code=201, operation_id="register", tags=_TAGS)
async def register(request: AnyRequest) -> Response[AuthOut]:
    """Create a password account, set the session cookie: ``201 {user, token}``."""
    ctx = request_context(request)
    limiter = await _count_ip_attempt(request, ctx)
    credentials = parse_register(await read_json_body(request))
    email = normalise_email(credentials.email)
    await _count_attempt(limiter, "email", email)
    if await _in_thread(password_account_exists, ctx.db, email):
        raise Conflict("Email already registered")
    password_hash = await _in_thread(hash_password, credentials.password)
    user = await _in_thread(create_password_user, ctx.db, email, password_hash, credentials.username)
    if user is None:  # a concurrent registration of the same email won the race
        raise Conflict("Email already registered")
    token = issue_jwt(ctx.settings.jwt_secret, user.id, PASSWORD_PROVIDER)
    return _signed_in(user_out(user), token, ctx.settings, 201)


@post("/auth/login", status_code=200, operation_id="login", tags=_TAGS)
async def login(request: AnyRequest) -> Response[AuthOut]:
    """Check email + password, set the session cookie: ``200 {user, token}``."""
    ctx = request_context(request)
    limiter = await _count_ip_attempt(request, ctx)
    credentials = parse_login(await read_json_body(request))
    email = normalise_email(credentials.email)
    await _count_attempt(limiter, "email", email)
    user = await _in_thread(find_password_user, ctx.db, email)
    # Unknown email: verify against the dummy hash anyway, so timing does not reveal accounts.
    valid = await _in_thread(verify_password, credentials.password, user.password_hash if user else None)
    if user is None or not valid:
        raise Unauthorized("Invalid credentials")
    token = issue_jwt(ctx.settings.jwt_secret, user.id, PASSWORD_PROVIDER)
    return _signed_in(user_out(user), token, ctx.settings, 200)


@get("/auth/me", operation_id="me", tags=_TAGS)
async def me(request: AnyRequest, principal: NamedDependency[Principal]) -> UserOut:
    """The caller's user (JWT or API token); ``404 User not found`` for a deleted user's JWT."""
    user = await _in_thread(load_user, request_context(request).db, principal.user_id)
    if user is None:
        raise NotFound("User not found")
    return user_out(user)


@post("/auth/logout", status_code=204, operation_id="logout", tags=_TAGS)
async def logout(request: AnyRequest) -> Response[None]:
    """Always ``204`` with a cookie-clearing ``Set-Cookie``; the body is never parsed."""
    await drain_body(request)
    settings = request_context(request).settings
    return Response(None, status_code=204, headers={"Set-Cookie": session_cookie("", settings, max_age=0)})


# -- OAuth (§3.3) -----------------------------------------------------------------------------


def _supported_provider(provider: str) -> None:
    if provider not in oauth.SUPPORTED_PROVIDERS:
        raise BadRequest("Unsupported provider")


def _redirect(location: str, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(b"", status_code=302, headers={"Location": location, **(headers or {})})


@get("/auth/{provider:str}", operation_id="oauth_start", tags=_TAGS)
async def oauth_start(request: AnyRequest, provider: FromPath[str]) -> Response[bytes]:
    """``302`` to the provider's authorize URL with a fresh state and PKCE challenge."""
    _supported_provider(provider)
    ctx = request_context(request)
    client_type = (
        oauth.CLIENT_TYPE_VSCODE
        if request.query_params.get("client_type") == oauth.CLIENT_TYPE_VSCODE
        else oauth.CLIENT_TYPE_WEB
    )
    config = oauth.provider_config(ctx.settings, provider)
    if not oauth.is_configured(ctx.settings, config, client_type):
        raise ServiceUnavailable("Provider not configured")
    location = await _in_thread(oauth.start_login, ctx.db, ctx.settings, config, client_type, _now())
    return _redirect(location)


@get("/auth/{provider:str}/callback", operation_id="oauth_callback", tags=_TAGS)
async def oauth_callback(request: AnyRequest, provider: FromPath[str]) -> Response[bytes]:
    """Finish the login: web → cookie + ``302`` to the app; vscode → ``302`` to the deep link."""
    _supported_provider(provider)
    query = request.query_params
    if "error" in query:  # the provider refused; the state stays usable
        raise ApiError("Provider error", extra={"code": query.get("error") or ""}, status_code=400)
    ctx = request_context(request)
    state = await _in_thread(oauth.consume_state, ctx.db, query.get("state") or "", provider, _now())
    if state is None:
        raise BadRequest("Invalid or expired state")
    code = query.get("code") or ""
    if not code:
        raise BadRequest("Missing code")
    config = oauth.provider_config(ctx.settings, provider)
    if not oauth.is_configured(ctx.settings, config, state.client_type):
        raise ServiceUnavailable("Provider not configured")
    try:
        profile = await oauth.fetch_profile(ctx.settings, config, code, state.code_verifier)
    except oauth.ProviderRequestFailed as exc:
        log.warning("OAuth %s provider request failed: %s", provider, exc)
        raise BadGateway() from exc
    user = await _in_thread(
        find_or_create_oauth_user,
        ctx.db,
        provider,
        profile.provider_user_id,
        profile.email,
        profile.username_base,
    )
    token = issue_jwt(ctx.settings.jwt_secret, user.id, provider)
    if state.client_type == oauth.CLIENT_TYPE_VSCODE:
        return _redirect(f"{ctx.settings.vscode_deeplink}?token={quote(token, safe='')}")
    return _redirect(ctx.settings.web_app_url, {"Set-Cookie": session_cookie(token, ctx.settings)})


# -- API tokens (§3.4) ------------------------------------------------------------------------


@post("/auth/tokens", status_code=201, operation_id="create_api_token", tags=_TAGS)
async def create_token(request: AnyRequest, principal: NamedDependency[Principal]) -> TokenCreated:
    """Mint an API token; its plaintext appears in this response only."""
    name = parse_token_name(await read_json_body(request))  # schema check comes before the 403
    principal.require_jwt(TOKENS_JWT_ONLY)
    issued = await _in_thread(issue_api_token, request_context(request).db, principal.user_id, name, _now())
    if issued is None:
        raise NotFound("User not found")
    return TokenCreated(
        id=str(issued.row.id),
        name=issued.row.name,
        token=issued.plaintext,
        token_prefix=issued.row.token_prefix,
        created_at=iso_ms(issued.row.created_at) or "",
    )


@get("/auth/tokens", operation_id="list_api_tokens", tags=_TAGS)
async def list_tokens(request: AnyRequest, principal: NamedDependency[Principal]) -> TokenList:
    """All of the caller's tokens, newest first, revoked ones included."""
    principal.require_jwt(TOKENS_JWT_ONLY)
    return TokenList(tokens=await _in_thread(list_api_tokens, request_context(request).db, principal.user_id))


@delete("/auth/tokens/{token_id:str}", status_code=204, operation_id="revoke_api_token", tags=_TAGS)
async def revoke_token(
    request: AnyRequest, principal: NamedDependency[Principal], token_id: FromPath[str]
) -> None:
    """Revoke one of the caller's unrevoked tokens, else ``404 Token not found``."""
    principal.require_jwt(TOKENS_JWT_ONLY)
    try:
        parsed = uuid.UUID(token_id)
    except ValueError as exc:
        raise NotFound("Token not found") from exc
    if not await _in_thread(revoke_api_token, request_context(request).db, principal.user_id, parsed, _now()):
        raise NotFound("Token not found")


# -- device pairing (§3.5, §5) ----------------------------------------------------------------


@post("/auth/pairings", status_code=201, operation_id="create_pairing", tags=_TAGS)
async def create_pairing_route(request: AnyRequest) -> PairingCreated:
    """Start a pairing for the extension: ``201`` with the code the user approves in the dashboard."""
    await drain_body(request)
    ctx = request_context(request)
    row = await _in_thread(create_pairing, ctx.db, _now())
    return PairingCreated(
        pairing_id=str(row.id),
        user_code=row.user_code,
        verification_uri=ctx.settings.verification_uri,
        expires_in=int(PAIRING_TTL.total_seconds()),
    )


@post("/auth/pairings/{user_code:str}/approve", status_code=200, operation_id="approve_pairing", tags=_TAGS)
async def approve_pairing_route(
    request: AnyRequest, principal: NamedDependency[Principal], user_code: FromPath[str]
) -> dict[str, bool]:
    """The dashboard approves a code: mints the API token the extension will collect."""
    await drain_body(request)
    principal.require_jwt(APPROVE_JWT_ONLY)
    outcome = await _in_thread(
        approve_pairing, request_context(request).db, user_code, principal.user_id, _now()
    )
    if outcome is ApproveOutcome.APPROVED:
        return {"ok": True}
    if outcome is ApproveOutcome.EXPIRED:
        raise Gone("Pairing expired")
    if outcome is ApproveOutcome.ALREADY_USED:
        raise Conflict("Pairing already used")
    if outcome is ApproveOutcome.USER_MISSING:
        raise NotFound("User not found")
    raise NotFound("Pairing not found or expired")


@post(
    "/auth/pairings/{pairing_id:str}/exchange", status_code=200, operation_id="exchange_pairing", tags=_TAGS
)
async def exchange_pairing_route(request: AnyRequest, pairing_id: FromPath[str]) -> Response[dict[str, str]]:
    """The extension polls: pending / approved (the token, exactly once) / consumed / 410 expired."""
    await drain_body(request)
    result = await _in_thread(exchange_pairing, request_context(request).db, pairing_id, _now())
    if result.status is ExchangeStatus.TOO_MANY:
        raise TooManyRequests(1)
    if result.status is ExchangeStatus.EXPIRED:
        # One of the two non-error-shaped bodies of the contract (§1.3).
        return Response({"status": "expired"}, status_code=410)
    body = {"status": result.status.value}
    if result.token is not None:
        body["token"] = result.token
    return Response(body, status_code=200)


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
]
