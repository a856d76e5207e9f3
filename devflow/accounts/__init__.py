"""Accounts: users, passwords, JWTs and API tokens, device pairing, OAuth logins and login rate limits
(contract §3.2–§3.5, §5). Other contexts use this module only."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from devflow.accounts.authentication import Authenticator, Principal
from devflow.accounts.credentials import issue_jwt
from devflow.accounts.models import AccountDeletion, ApiToken, User
from devflow.accounts.pairing import cleanup_pairings
from devflow.accounts.passwords import hash_password
from devflow.accounts.ratelimit import AuthRateLimiter
from devflow.accounts.service import load_user
from devflow.config import Settings
from devflow.kernel.clock import Clock

__all__ = [
    "AccountDeletion",
    "Accounts",
    "ApiToken",
    "Authenticator",
    "Principal",
    "User",
    "cleanup_pairings",
    "hash_password",
    "issue_jwt",
    "load_user",
]


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
