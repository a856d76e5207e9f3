"""Users and API tokens: the synchronous database work behind the account routes.

Every function takes the sessionmaker and runs its own short transaction(s); routes call them
from a worker thread. Uniqueness races (two registrations of one email, two first OAuth logins
of one provider account, two users wanting one username) are settled by the database's unique
constraints, never by a check-then-insert alone.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from devflow.accounts.credentials import api_token_hash, api_token_prefix, new_api_token
from devflow.accounts.models import ApiToken, User
from devflow.accounts.schemas import TokenItem, UserOut
from devflow.kernel.clock import iso_ms

USERNAME_MAX_LENGTH = 50
PASSWORD_PROVIDER = "password"
# Each failed insert removes one candidate; a handful of rounds is plenty (the last resort is random).
_MAX_INSERT_ROUNDS = 8


def user_out(user: User) -> UserOut:
    """The four public keys of a user."""
    return UserOut(id=str(user.id), username=user.username, email=user.email, provider=user.provider)


def username_candidates(base: str, provider: str, provider_user_id: str) -> list[str]:
    """Contract §3.2 username candidates, in order, each cut to 50 characters."""
    second = f"{provider}-{provider_user_id[:8]}"[:USERNAME_MAX_LENGTH]
    third = f"{second}-{secrets.token_hex(3)}"[:USERNAME_MAX_LENGTH]
    candidates = [base[:USERNAME_MAX_LENGTH], second, third]
    return [c for c in candidates if c]


def _last_resort_username(provider: str) -> str:
    return f"{provider}-{secrets.token_hex(6)}"


def _account_exists(db: sessionmaker[Session], provider: str, provider_user_id: str) -> bool:
    with db() as session:
        return bool(
            session.scalar(
                select(exists().where(User.provider == provider, User.provider_user_id == provider_user_id))
            )
        )


def _find_account(db: sessionmaker[Session], provider: str, provider_user_id: str) -> User | None:
    with db() as session:
        return session.scalars(
            select(User).where(User.provider == provider, User.provider_user_id == provider_user_id)
        ).first()


def _insert_user(
    db: sessionmaker[Session],
    *,
    base: str,
    provider: str,
    provider_user_id: str,
    email: str | None,
    password_hash: str | None,
) -> User | None:
    """Create the user with the first free username; None when the provider account already exists."""
    refused: set[str] = set()
    for _ in range(_MAX_INSERT_ROUNDS):
        candidates = [c for c in username_candidates(base, provider, provider_user_id) if c not in refused]
        with db() as session:
            taken = set(session.scalars(select(User.username).where(User.username.in_(candidates))))
        username = next((c for c in candidates if c not in taken), _last_resort_username(provider))
        user = User(
            id=uuid.uuid4(),
            username=username,
            email=email,
            provider=provider,
            provider_user_id=provider_user_id,
            password_hash=password_hash,
        )
        try:
            with db.begin() as session:
                session.add(user)
        except IntegrityError:
            # Either the account itself (a concurrent registration won) or the username was taken
            # between our check and our insert: tell them apart by looking.
            if _account_exists(db, provider, provider_user_id):
                return None
            refused.add(username)
            continue
        return user
    raise RuntimeError("could not find a free username")


def password_account_exists(db: sessionmaker[Session], email: str) -> bool:
    """Is there a password account for this normalised email?"""
    return _account_exists(db, PASSWORD_PROVIDER, email)


def create_password_user(
    db: sessionmaker[Session], email: str, password_hash: str, username: str | None
) -> User | None:
    """Register step 6; None when the email is (now) already registered."""
    base = username if username is not None else email.split("@", 1)[0]
    return _insert_user(
        db,
        base=base,
        provider=PASSWORD_PROVIDER,
        provider_user_id=email,
        email=email,
        password_hash=password_hash,
    )


def find_password_user(db: sessionmaker[Session], email: str) -> User | None:
    """The password account of a normalised email, if any."""
    return _find_account(db, PASSWORD_PROVIDER, email)


def find_or_create_oauth_user(
    db: sessionmaker[Session], provider: str, provider_user_id: str, email: str | None, username_base: str
) -> User:
    """Contract §3.3 step 6: reuse the user of (provider, id) unchanged, else create it."""
    for _ in range(3):
        user = _find_account(db, provider, provider_user_id)
        if user is not None:
            return user
        created = _insert_user(
            db,
            base=username_base,
            provider=provider,
            provider_user_id=provider_user_id,
            email=email,
            password_hash=None,
        )
        if created is not None:
            return created
    raise RuntimeError("OAuth user vanished while being created")


def load_user(db: sessionmaker[Session], user_id: uuid.UUID) -> User | None:
    """The user row, or None (e.g. the JWT of a deleted user)."""
    with db() as session:
        return session.get(User, user_id)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A freshly minted API token: the row and its plaintext (shown once)."""

    row: ApiToken
    plaintext: str


def mint_api_token(session: Session, user_id: uuid.UUID, name: str, now: datetime) -> IssuedToken:
    """Add a new token row to ``session`` (the caller's transaction) and return it with its plaintext."""
    plaintext = new_api_token()
    row = ApiToken(
        id=uuid.uuid4(),
        user_id=user_id,
        name=name,
        token_hash=api_token_hash(plaintext),
        token_prefix=api_token_prefix(plaintext),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return IssuedToken(row=row, plaintext=plaintext)


def issue_api_token(
    db: sessionmaker[Session], user_id: uuid.UUID, name: str, now: datetime
) -> IssuedToken | None:
    """``POST /auth/tokens``; None when the user no longer exists."""
    with db.begin() as session:
        if session.get(User, user_id) is None:
            return None
        return mint_api_token(session, user_id, name, now)


def list_api_tokens(db: sessionmaker[Session], user_id: uuid.UUID) -> list[TokenItem]:
    """All of the user's tokens, revoked included, newest first (ties by id for a stable order)."""
    with db() as session:
        rows = session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        ).all()
    return [
        TokenItem(
            id=str(row.id),
            name=row.name,
            token_prefix=row.token_prefix,
            last_used_at=iso_ms(row.last_used_at),
            created_at=iso_ms(row.created_at) or "",
            revoked_at=iso_ms(row.revoked_at),
        )
        for row in rows
    ]


def revoke_api_token(
    db: sessionmaker[Session], user_id: uuid.UUID, token_id: uuid.UUID, now: datetime
) -> bool:
    """Revoke one of the user's unrevoked tokens; False when there is no such token."""
    with db.begin() as session:
        result = session.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id, ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]
