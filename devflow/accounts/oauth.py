"""OAuth 2 authorization-code login with PKCE S256 for Google and GitHub (contract §3.3).

The state lives in the ``oauth_states`` table, so a login started on one replica (or before a
restart) completes on another. States are single-use and live 5 minutes; the callback consumes
a state atomically under its row lock, also when it then turns out to belong to another provider.
Provider endpoints come from Settings, so tests run the whole flow against a local fake provider.
Client secrets and access tokens are sent to the provider only and never logged.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from devflow.accounts.models import OAuthState
from devflow.accounts.schemas import EMAIL_MAX_LENGTH
from devflow.config import Settings

if TYPE_CHECKING:
    import httpx

SUPPORTED_PROVIDERS = ("google", "github")
STATE_TTL = timedelta(minutes=5)
# States are kept a little past their TTL (so "expired" and "unknown" stay distinguishable in
# logs), then purged whenever a new login starts: the table stays bounded without a scheduler.
_STATE_RETENTION = timedelta(minutes=30)
PROVIDER_TIMEOUT_SECONDS = 10.0
USER_AGENT = "devflow-backend"
PROVIDER_USER_ID_MAX_LENGTH = 320
CLIENT_TYPE_VSCODE = "vscode"
CLIENT_TYPE_WEB = "web"


class ProviderRequestFailed(Exception):
    """Network failure, non-2xx answer, or an answer without the fields we need (→ 502)."""


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One provider's endpoints and credentials, as configured."""

    name: str
    client_id: str | None
    client_secret: str | None
    authorize_url: str
    token_url: str
    scope: str


def provider_config(settings: Settings, provider: str) -> ProviderConfig:
    """Endpoints and credentials of a supported provider (``provider`` must be supported)."""
    if provider == "google":
        return ProviderConfig(
            name="google",
            client_id=settings.google_client_id,
            client_secret=settings.google_client_secret,
            authorize_url=settings.oauth_google_authorize_url,
            token_url=settings.oauth_google_token_url,
            scope="openid email profile",
        )
    return ProviderConfig(
        name="github",
        client_id=settings.github_client_id,
        client_secret=settings.github_client_secret,
        authorize_url=settings.oauth_github_authorize_url,
        token_url=settings.oauth_github_token_url,
        scope="read:user user:email",
    )


def is_configured(settings: Settings, provider: ProviderConfig, client_type: str) -> bool:
    """Client id, secret and callback base are set (and the deep link, for VS Code logins)."""
    if not (provider.client_id and provider.client_secret and settings.oauth_callback_base_url):
        return False
    return client_type != CLIENT_TYPE_VSCODE or settings.vscode_deeplink is not None


def configured_providers(settings: Settings, client_type: str = CLIENT_TYPE_WEB) -> list[str]:
    """The providers a login of ``client_type`` can use with these settings, in the contract's order."""
    return [
        name
        for name in SUPPORTED_PROVIDERS
        if is_configured(settings, provider_config(settings, name), client_type)
    ]


def callback_url(settings: Settings, provider: str) -> str:
    """``<OAUTH_CALLBACK_BASE_URL>/api/v1/auth/<provider>/callback``."""
    base = (settings.oauth_callback_base_url or "").rstrip("/")
    return f"{base}/api/v1/auth/{provider}/callback"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def pkce_challenge(verifier: str) -> str:
    """``base64url(SHA-256(verifier))`` (PKCE S256)."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def start_login(
    db: sessionmaker[Session], settings: Settings, provider: ProviderConfig, client_type: str, now: datetime
) -> str:
    """Store a fresh state + PKCE verifier and return the provider's authorize URL to redirect to."""
    state = _b64url(secrets.token_bytes(16))  # 22 characters
    verifier = _b64url(secrets.token_bytes(32))  # 43 characters
    with db.begin() as session:
        session.execute(delete(OAuthState).where(OAuthState.created_at < now - _STATE_RETENTION))
        session.add(
            OAuthState(
                state=state,
                provider=provider.name,
                client_type=client_type,
                code_verifier=verifier,
                created_at=now,
            )
        )
    query = urlencode(
        {
            "client_id": provider.client_id or "",
            "redirect_uri": callback_url(settings, provider.name),
            "response_type": "code",
            "scope": provider.scope,
            "state": state,
            "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    separator = "&" if "?" in provider.authorize_url else "?"
    return f"{provider.authorize_url}{separator}{query}"


@dataclass(frozen=True, slots=True)
class ConsumedState:
    """A state that was valid for this callback."""

    client_type: str
    code_verifier: str


def consume_state(
    db: sessionmaker[Session], state: str, provider: str, now: datetime
) -> ConsumedState | None:
    """Look up and consume ``state`` atomically; None when missing, used, too old or another provider's.

    A state that exists is consumed whatever else is wrong with it, so it can never be replayed.
    """
    if not state or "\x00" in state:
        return None
    with db.begin() as session:
        row = session.execute(
            select(
                OAuthState.provider, OAuthState.client_type, OAuthState.code_verifier, OAuthState.created_at
            )
            .where(OAuthState.state == state)
            .with_for_update()
        ).first()
        if row is None:
            return None
        consumed = session.execute(
            update(OAuthState)
            .where(OAuthState.state == state, OAuthState.consumed_at.is_(None))
            .values(consumed_at=now)
        ).rowcount  # type: ignore[attr-defined]
    row_provider, client_type, verifier, created_at = row
    if not consumed or now - created_at > STATE_TTL or row_provider != provider:
        return None
    return ConsumedState(client_type=client_type, code_verifier=verifier)


@dataclass(frozen=True, slots=True)
class ProviderProfile:
    """The provider account behind a login."""

    provider_user_id: str
    email: str | None
    username_base: str


def _json(response: httpx.Response) -> Any:
    if not response.is_success:
        raise ProviderRequestFailed(f"HTTP {response.status_code} from {response.request.url.host}")
    try:
        return response.json()
    except ValueError as exc:
        raise ProviderRequestFailed("provider answered with invalid JSON") from exc


def _non_empty_str(value: Any) -> str | None:
    """A non-empty string without NUL characters (which no database text column can store)."""
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "")
    return value or None


def _storable_email(value: str | None) -> str | None:
    # The column holds 320 characters (the longest valid address); anything longer is not an
    # address we could ever send mail to, so it is dropped rather than failing the login.
    return value if value is not None and len(value) <= EMAIL_MAX_LENGTH else None


async def fetch_profile(
    settings: Settings, provider: ProviderConfig, code: str, verifier: str
) -> ProviderProfile:
    """Exchange the code for an access token (with the PKCE verifier), then read the profile."""
    # Imported on the first login through a provider: a worker that never sees one does not hold it.
    import httpx

    try:
        async with httpx.AsyncClient(timeout=PROVIDER_TIMEOUT_SECONDS, follow_redirects=False) as client:
            token_body = _json(
                await client.post(
                    provider.token_url,
                    data={
                        "client_id": provider.client_id or "",
                        "client_secret": provider.client_secret or "",
                        "code": code,
                        "redirect_uri": callback_url(settings, provider.name),
                        "grant_type": "authorization_code",
                        "code_verifier": verifier,
                    },
                    headers={"Accept": "application/json"},
                )
            )
            access_token = (
                _non_empty_str(token_body.get("access_token")) if isinstance(token_body, dict) else None
            )
            if access_token is None:
                raise ProviderRequestFailed("token response without access_token")
            headers = {
                "Authorization": f"Bearer {access_token}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            }
            if provider.name == "google":
                return _google_profile(
                    _json(await client.get(settings.oauth_google_userinfo_url, headers=headers))
                )
            user = _json(await client.get(f"{settings.oauth_github_api_url}/user", headers=headers))
            if not isinstance(user, dict):
                raise ProviderRequestFailed("GitHub /user is not an object")
            emails: Any = None
            if _non_empty_str(user.get("email")) is None:
                emails = _json(
                    await client.get(f"{settings.oauth_github_api_url}/user/emails", headers=headers)
                )
            return _github_profile(user, emails)
    except httpx.HTTPError as exc:
        raise ProviderRequestFailed(type(exc).__name__) from exc


def _account_id(value: str) -> str:
    # The provider's account id is stored as-is: it must fit the column and hold no NUL.
    if value == "" or "\x00" in value or len(value) > PROVIDER_USER_ID_MAX_LENGTH:
        raise ProviderRequestFailed("provider account id is unusable")
    return value


def _google_profile(info: Any) -> ProviderProfile:
    if not isinstance(info, dict) or not isinstance(info.get("sub"), str):
        raise ProviderRequestFailed("Google userinfo without sub")
    sub = _account_id(info["sub"])
    email = _storable_email(_non_empty_str(info.get("email")))
    base = (
        _non_empty_str(info.get("name")) or (email.split("@", 1)[0] if email else None) or f"google-{sub[:8]}"
    )
    return ProviderProfile(provider_user_id=sub, email=email, username_base=base)


def _github_primary_email(emails: Any) -> str | None:
    """The first primary+verified address, else the first verified one, else None."""
    if not isinstance(emails, list):
        return None
    entries = [e for e in emails if isinstance(e, dict) and _non_empty_str(e.get("email"))]
    for entry in entries:
        if entry.get("primary") is True and entry.get("verified") is True:
            return _non_empty_str(entry["email"])
    for entry in entries:
        if entry.get("verified") is True:
            return _non_empty_str(entry["email"])
    return None


def _github_profile(user: dict[str, Any], emails: Any) -> ProviderProfile:
    raw_id = user.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, int | str) or raw_id == "":
        raise ProviderRequestFailed("GitHub /user without id")
    user_id = _account_id(str(raw_id))
    email = _storable_email(_non_empty_str(user.get("email")) or _github_primary_email(emails))
    base = _non_empty_str(user.get("login")) or f"github-{user_id}"
    return ProviderProfile(provider_user_id=user_id, email=email, username_base=base)
