"""The accounts side of an account deletion: who may delete, and the journal that makes it resumable.

The journal row (``account_deletions``) is written in the same transaction that removes the user's
API tokens and pairings, so from the moment ``DELETE /me`` commits the editor's token gets ``401``.
The row outlives the user: a process killed at any later step finds it on its next start and finishes
the work, and a finished row stays as the tombstone that keeps spooled rows of the user out of the
lake (:func:`erased_user_ids`). It holds the user id only, nothing else personal.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from devflow.accounts.credentials import jwt_issued_at
from devflow.accounts.models import AccountDeletion, ApiToken, PairingCode, User
from devflow.accounts.passwords import verify_password
from devflow.accounts.service import PASSWORD_PROVIDER
from devflow.kernel.errors import NotFound, NotPermitted, Unauthenticated

FIRST_STEP = "requested"
FINISHED = "finished"


def check_deletion_allowed(
    db: sessionmaker[Session],
    jwt_secret: str,
    user_id: uuid.UUID,
    jwt: str,
    password: str | None,
    now: datetime,
    fresh_signin: timedelta,
) -> None:
    """Password accounts re-enter their password; OAuth accounts need a JWT issued within
    ``fresh_signin`` (they have no password to re-enter). Blocking (bcrypt)."""
    with db() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound("User not found")
        provider, password_hash = user.provider, user.password_hash
    if provider == PASSWORD_PROVIDER:
        if password is None or not verify_password(password, password_hash):
            raise Unauthenticated("Invalid credentials")
        return
    issued = jwt_issued_at(jwt_secret, jwt)
    if issued is None or now.timestamp() - issued > fresh_signin.total_seconds():
        raise NotPermitted("Sign in again to delete your account")


def start_deletion(db: sessionmaker[Session], user_id: uuid.UUID, now: datetime) -> None:
    """Journal the deletion and revoke every credential of the user, in one transaction (idempotent)."""
    with db.begin() as session:
        if session.get(AccountDeletion, user_id) is None:
            session.add(AccountDeletion(user_id=user_id, requested_at=now, step=FIRST_STEP, updated_at=now))
        session.execute(delete(PairingCode).where(PairingCode.user_id == user_id))
        session.execute(delete(ApiToken).where(ApiToken.user_id == user_id))


def deletion_step(db: sessionmaker[Session], user_id: uuid.UUID) -> str | None:
    """The journal's step for the user (None: no deletion requested)."""
    with db() as session:
        row = session.get(AccountDeletion, user_id)
        return None if row is None else (FINISHED if row.finished_at is not None else row.step)


def record_deletion_step(db: sessionmaker[Session], user_id: uuid.UUID, step: str, now: datetime) -> None:
    """Advance the journal to ``step`` (``finished`` sets ``finished_at``)."""
    with db.begin() as session:
        row = session.get(AccountDeletion, user_id, with_for_update=True)
        if row is None:
            return
        row.step = step
        row.updated_at = now
        if step == FINISHED:
            row.finished_at = now


def pending_deletions(db: sessionmaker[Session]) -> list[uuid.UUID]:
    """Users whose deletion has not finished, oldest request first."""
    with db() as session:
        return list(
            session.scalars(
                select(AccountDeletion.user_id)
                .where(AccountDeletion.finished_at.is_(None))
                .order_by(AccountDeletion.requested_at)
            )
        )


def erased_user_ids(db: sessionmaker[Session]) -> frozenset[str]:
    """Every user id with a deletion journal row (pending or finished), as text."""
    with db() as session:
        return frozenset(str(u) for u in session.scalars(select(AccountDeletion.user_id)))


def find_user_id_by_email(db: sessionmaker[Session], email: str) -> uuid.UUID | None:
    """The id of the account with this email (case-insensitive), for operators' commands."""
    with db() as session:
        return session.scalars(select(User.id).where(func.lower(User.email) == email.strip().lower())).first()
