"""Password sign-up and sign-in (contract §3.2) with the login rate limits of §1.8.

The JSON API and the built-in pages both call these, so a page login is counted, hashed and
verified exactly like ``POST /auth/login``. Blocking (database and bcrypt): call from a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from devflow.accounts.credentials import issue_jwt
from devflow.accounts.models import User
from devflow.accounts.passwords import hash_password, normalise_email, verify_password
from devflow.accounts.ratelimit import AuthRateLimiter, limiter_key
from devflow.accounts.schemas import Credentials
from devflow.accounts.service import (
    PASSWORD_PROVIDER,
    create_password_user,
    find_password_user,
    password_account_exists,
)
from devflow.kernel.errors import AlreadyDone, RateLimited, Unauthenticated

EMAIL_TAKEN = "Email already registered"
INVALID_CREDENTIALS = "Invalid credentials"


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A user who just registered or logged in, with the JWT that becomes the ``session`` cookie."""

    user: User
    token: str


def count_attempt(limiter: AuthRateLimiter, kind: str, value: str | None, now: datetime) -> None:
    """One login/register attempt for ``kind`` (``ip`` or ``email``); :class:`RateLimited` past the limit.

    ``value`` None (a loopback or private peer without ``TRUST_PROXY``) is not counted.
    """
    if not limiter.enabled or value is None:
        return
    retry_after = limiter.attempt(limiter_key(kind, value), now)
    if retry_after is not None:
        raise RateLimited(retry_after)


def register_password_account(
    db: sessionmaker[Session],
    limiter: AuthRateLimiter,
    jwt_secret: str,
    credentials: Credentials,
    now: datetime,
    cost: int,
) -> SignedIn:
    """Register steps 4–7 after the body was validated: per-email limit, uniqueness, bcrypt, insert.

    :class:`AlreadyDone` when the email is registered (a concurrent registration included).
    """
    email = normalise_email(credentials.email)
    count_attempt(limiter, "email", email, now)
    if password_account_exists(db, email):
        raise AlreadyDone(EMAIL_TAKEN)
    user = create_password_user(db, email, hash_password(credentials.password, cost), credentials.username)
    if user is None:  # a concurrent registration of the same email won the race
        raise AlreadyDone(EMAIL_TAKEN)
    return SignedIn(user=user, token=issue_jwt(jwt_secret, user.id, PASSWORD_PROVIDER))


def sign_in_with_password(
    db: sessionmaker[Session],
    limiter: AuthRateLimiter,
    jwt_secret: str,
    credentials: Credentials,
    now: datetime,
    cost: int,
) -> SignedIn:
    """Login steps 4–6 after the body was validated; :class:`Unauthenticated` for any wrong pair."""
    email = normalise_email(credentials.email)
    count_attempt(limiter, "email", email, now)
    user = find_password_user(db, email)
    # Unknown email: verify against the dummy hash anyway, so timing does not reveal accounts.
    valid = verify_password(credentials.password, user.password_hash if user else None, cost)
    if user is None or not valid:
        raise Unauthenticated(INVALID_CREDENTIALS)
    return SignedIn(user=user, token=issue_jwt(jwt_secret, user.id, PASSWORD_PROVIDER))
