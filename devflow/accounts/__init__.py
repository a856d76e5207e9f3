"""Accounts: users, passwords, JWTs and API tokens, device pairing, OAuth logins and login rate limits
(contract §3.2–§3.5, §5). Other contexts use this module only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from devflow.accounts.authentication import Authenticator, Principal
from devflow.accounts.credentials import API_TOKEN_PREFIX, JWT_TTL_SECONDS, issue_jwt
from devflow.accounts.deletion import (
    FINISHED as DELETION_FINISHED,
)
from devflow.accounts.deletion import (
    check_deletion_allowed,
    deletion_step,
    erased_user_ids,
    find_user_id_by_email,
    pending_deletions,
    record_deletion_step,
    start_deletion,
)
from devflow.accounts.models import AccountDeletion, ApiToken, User
from devflow.accounts.oauth import configured_providers
from devflow.accounts.pairing import (
    ApproveOutcome,
    PairingRequest,
    PairingState,
    approve_pairing,
    cleanup_pairings,
    deny_pairing,
    find_pairing_request,
    normalise_user_code,
)
from devflow.accounts.passwords import hash_password
from devflow.accounts.ratelimit import AuthRateLimiter
from devflow.accounts.schemas import Credentials, TokenItem, parse_login, parse_register, parse_token_name
from devflow.accounts.service import (
    IssuedToken,
    issue_api_token,
    list_api_tokens,
    load_user,
    revoke_api_token,
)
from devflow.accounts.signin import SignedIn, count_attempt, register_password_account, sign_in_with_password
from devflow.accounts.user_settings import (
    SettingsOut,
    SettingsPatch,
    effective_path_privacy,
    is_valid_time_zone,
    load_settings,
    update_settings,
    user_path_privacy_modes,
    user_time_zone,
)
from devflow.config import Settings
from devflow.kernel.clock import Clock

__all__ = [
    "API_TOKEN_PREFIX",
    "DELETION_FINISHED",
    "JWT_TTL_SECONDS",
    "AccountDeletion",
    "Accounts",
    "ApiToken",
    "ApproveOutcome",
    "Authenticator",
    "Credentials",
    "IssuedToken",
    "PairingRequest",
    "PairingState",
    "Principal",
    "SettingsOut",
    "SettingsPatch",
    "SignedIn",
    "TokenItem",
    "User",
    "approve_pairing",
    "check_deletion_allowed",
    "cleanup_pairings",
    "configured_providers",
    "deletion_step",
    "deny_pairing",
    "effective_path_privacy",
    "erased_user_ids",
    "find_pairing_request",
    "find_user_id_by_email",
    "hash_password",
    "is_valid_time_zone",
    "issue_api_token",
    "issue_jwt",
    "list_api_tokens",
    "load_settings",
    "load_user",
    "normalise_user_code",
    "parse_login",
    "parse_register",
    "parse_token_name",
    "pending_deletions",
    "record_deletion_step",
    "revoke_api_token",
    "start_deletion",
    "update_settings",
    "user_path_privacy_modes",
    "user_time_zone",
]


# register_password_account and sign_in_with_password: (db, limiter, jwt secret, body, now, cost).
_PasswordStep = Callable[[sessionmaker[Session], AuthRateLimiter, str, Credentials, datetime, int], SignedIn]


@dataclass(frozen=True, slots=True)
class Accounts:
    """What the accounts routes and jobs need, built once per process."""

    settings: Settings
    db: sessionmaker[Session]
    authenticator: Authenticator
    limiter: AuthRateLimiter
    clock: Clock

    @classmethod
    def build(cls, settings: Settings, engine: Engine, db: sessionmaker[Session], clock: Clock) -> Accounts:
        """The context's objects for ``settings`` (no I/O)."""
        return cls(
            settings=settings,
            db=db,
            authenticator=Authenticator(engine, db, settings.jwt_secret, clock),
            limiter=AuthRateLimiter(db, settings.auth_rate_limit_per_minute),
            clock=clock,
        )

    def count_ip_attempt(self, client_ip: str | None) -> None:
        """One login/register attempt from ``client_ip`` (None: not counted); ``RateLimited`` past the
        limit. Blocking."""
        count_attempt(self.limiter, "ip", client_ip, self.clock())

    def register(self, credentials: Credentials) -> SignedIn:
        """Create a password account from a validated body (per-email limit, bcrypt); ``AlreadyDone``
        when the email is registered. Blocking."""
        return self._password_step(register_password_account, credentials)

    def sign_in(self, credentials: Credentials) -> SignedIn:
        """Check a validated email + password (per-email limit, bcrypt); ``Unauthenticated`` when
        wrong. Blocking."""
        return self._password_step(sign_in_with_password, credentials)

    def _password_step(self, step: _PasswordStep, credentials: Credentials) -> SignedIn:
        return step(
            self.db,
            self.limiter,
            self.settings.jwt_secret,
            credentials,
            self.clock(),
            self.settings.password_bcrypt_cost,
        )
