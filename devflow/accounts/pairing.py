"""Device pairing (contract §3.5 and §5): the state machine, its exchange limiter and its cleanup.

```
create ─► pending ──approve (mint token + store plaintext, one transaction)──► approved
approved ──first exchange (returns token, clears plaintext)──► consumed
any status + now > expires_at ─► expired (derived; exchange deletes the row, undelivered token revoked)
```

Every transition runs in one database transaction holding the pairing row's lock
(``SELECT … FOR UPDATE`` on PostgreSQL; SQLite transactions here are ``BEGIN IMMEDIATE`` and so
serialised), which is what makes token delivery exactly-once under concurrent exchanges and
approval all-or-nothing. The exchange limiter is the atomic conditional ``UPDATE`` of §5.4 on the
pairing row itself: no state exists for unknown ids, and it holds across replicas.
"""

from __future__ import annotations

import enum
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Row, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from devflow.accounts.models import ApiToken, PairingCode, User
from devflow.accounts.service import mint_api_token

USER_CODE_ALPHABET = "BCDFGHJKMNPQRSTVWXZ23456789"
USER_CODE_PATTERN = re.compile(rf"[{USER_CODE_ALPHABET}]{{4}}-[{USER_CODE_ALPHABET}]{{4}}")
PAIRING_ID_PATTERN = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
)
PAIRING_TTL = timedelta(seconds=600)
EXCHANGE_INTERVAL = timedelta(milliseconds=1000)
CREATE_ATTEMPTS = 5
CLEANUP_GRACE = timedelta(seconds=3600)

PENDING, APPROVED, CONSUMED = "pending", "approved", "consumed"


class PairingCodesExhausted(RuntimeError):
    """No free user code after 5 draws: the contract's only pairing-create error (a 500)."""


def new_user_code() -> str:
    """8 symbols of the 27-letter alphabet drawn uniformly with a CSPRNG, shown as ``XXXX-XXXX``."""
    symbols = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
    return f"{symbols[:4]}-{symbols[4:]}"


def create_pairing(
    db: sessionmaker[Session], now: datetime, draw_code: Callable[[], str] = new_user_code
) -> PairingCode:
    """Insert a pending pairing; the pending-only unique index rejects a colliding code.

    ``draw_code`` is the code source (the CSPRNG draw; tests pass a fixed sequence to force collisions).
    """
    for _ in range(CREATE_ATTEMPTS):
        row = PairingCode(
            id=uuid.uuid4(),
            user_code=draw_code(),
            status=PENDING,
            expires_at=now + PAIRING_TTL,
            created_at=now,
        )
        try:
            with db.begin() as session:
                session.add(row)
        except IntegrityError:
            continue
        return row
    raise PairingCodesExhausted("no free pairing code after 5 attempts")


class ApproveOutcome(enum.Enum):
    APPROVED = "approved"
    EXPIRED = "expired"
    ALREADY_USED = "already_used"
    NOT_FOUND = "not_found"
    USER_MISSING = "user_missing"


def paired_token_name(now: datetime) -> str:
    """``VSCode (paired YYYY-MM-DD)``, the UTC date of the approval (§5.1)."""
    return f"VSCode (paired {now.date().isoformat()})"


def approve_pairing(
    db: sessionmaker[Session], user_code: str, user_id: uuid.UUID, now: datetime
) -> ApproveOutcome:
    """Contract §3.5 approve, steps 3–6 (the caller has done 401/403).

    Only pending rows are candidates; the token is minted in the same transaction that marks the
    row approved, so a failure in either step leaves the row pending and no token behind.
    """
    if USER_CODE_PATTERN.fullmatch(user_code) is None:
        return ApproveOutcome.NOT_FOUND
    with db.begin() as session:
        pending = _lock_pending(session, user_code)
        if pending is not None:
            pairing_id, expires_at = pending
            if now > expires_at:
                session.execute(delete(PairingCode).where(PairingCode.id == pairing_id))
                return ApproveOutcome.EXPIRED
            if session.get(User, user_id) is None:
                return ApproveOutcome.USER_MISSING
            issued = mint_api_token(session, user_id, paired_token_name(now), now)
            session.execute(
                update(PairingCode)
                .where(PairingCode.id == pairing_id)
                .values(
                    status=APPROVED,
                    user_id=user_id,
                    api_token_id=issued.row.id,
                    token_plaintext=issued.plaintext,
                )
            )
            return ApproveOutcome.APPROVED
        newest_other = session.execute(
            select(PairingCode.expires_at)
            .where(PairingCode.user_code == user_code, PairingCode.status != PENDING)
            .order_by(PairingCode.created_at.desc())
            .limit(1)
        ).first()
    if newest_other is None:
        return ApproveOutcome.NOT_FOUND
    return ApproveOutcome.EXPIRED if now > newest_other[0] else ApproveOutcome.ALREADY_USED


def _lock_pending(session: Session, user_code: str) -> Row[uuid.UUID, datetime] | None:
    """The pending row of a code (id, expires_at), locked until the transaction ends."""
    return session.execute(
        select(PairingCode.id, PairingCode.expires_at)
        .where(PairingCode.user_code == user_code, PairingCode.status == PENDING)
        .with_for_update()
    ).first()


def deny_pairing(db: sessionmaker[Session], user_code: str, now: datetime) -> ApproveOutcome:
    """The user refuses a pending code: the pairing ends as expired (the exchange answers 410).

    Its expiry is moved into the past rather than the row deleted, so the code's page keeps saying
    what happened to it; no token was minted, so none needs revoking. Outcomes as :func:`approve_pairing`
    (``APPROVED`` meaning "denied").
    """
    if USER_CODE_PATTERN.fullmatch(user_code) is None:
        return ApproveOutcome.NOT_FOUND
    with db.begin() as session:
        pending = _lock_pending(session, user_code)
        if pending is not None:
            pairing_id, expires_at = pending
            if now > expires_at:
                return ApproveOutcome.EXPIRED
            session.execute(
                update(PairingCode)
                .where(PairingCode.id == pairing_id)
                .values(expires_at=now - timedelta(seconds=1))
            )
            return ApproveOutcome.APPROVED
    request = find_pairing_request(db, user_code, now)
    if request.state is PairingState.UNKNOWN:
        return ApproveOutcome.NOT_FOUND
    return ApproveOutcome.EXPIRED if request.state is PairingState.EXPIRED else ApproveOutcome.ALREADY_USED


class PairingState(enum.Enum):
    """What a person opening a pairing link can still do with its code."""

    PENDING = "pending"  # waiting for approval
    USED = "used"  # approved (and perhaps already collected by the editor)
    EXPIRED = "expired"  # past its ten minutes, or denied
    UNKNOWN = "unknown"  # never issued, malformed, or cleaned up long ago


@dataclass(frozen=True, slots=True)
class PairingRequest:
    """A pairing as its approval page shows it: state, when the editor asked and until when."""

    user_code: str
    state: PairingState
    created_at: datetime | None = None
    expires_at: datetime | None = None


def normalise_user_code(raw: str) -> str:
    """A code as a person or a link may spell it (lower case, spaces around) in the stored form."""
    return raw.strip().upper()


def find_pairing_request(db: sessionmaker[Session], user_code: str, now: datetime) -> PairingRequest:
    """The newest pairing with ``user_code`` seen as :func:`approve_pairing` would judge it (read only)."""
    if USER_CODE_PATTERN.fullmatch(user_code) is None:
        return PairingRequest(user_code, PairingState.UNKNOWN)
    with db() as session:
        # A pending row wins over used ones with the same code (codes are unique among pending rows).
        row = session.execute(
            select(PairingCode.status, PairingCode.created_at, PairingCode.expires_at)
            .where(PairingCode.user_code == user_code)
            .order_by((PairingCode.status == PENDING).desc(), PairingCode.created_at.desc())
            .limit(1)
        ).first()
    if row is None:
        return PairingRequest(user_code, PairingState.UNKNOWN)
    status, created_at, expires_at = row
    if now > expires_at:
        state = PairingState.EXPIRED
    else:
        state = PairingState.PENDING if status == PENDING else PairingState.USED
    return PairingRequest(user_code, state, created_at, expires_at)


class ExchangeStatus(enum.Enum):
    EXPIRED = "expired"
    TOO_MANY = "too_many"
    PENDING = "pending"
    APPROVED = "approved"
    CONSUMED = "consumed"


@dataclass(frozen=True, slots=True)
class ExchangeResult:
    """What an exchange answered; ``token`` only for the one delivering exchange."""

    status: ExchangeStatus
    token: str | None = None


def exchange_pairing(
    db: sessionmaker[Session],
    pairing_id: str,
    now: datetime,
    min_interval: timedelta | None = EXCHANGE_INTERVAL,
) -> ExchangeResult:
    """Contract §3.5 exchange, steps 1–5. ``min_interval=None`` turns the limiter off (service tests)."""
    if PAIRING_ID_PATTERN.fullmatch(pairing_id) is None:
        return ExchangeResult(ExchangeStatus.EXPIRED)
    row_id = uuid.UUID(pairing_id)
    with db.begin() as session:
        row = session.execute(
            select(
                PairingCode.status,
                PairingCode.expires_at,
                PairingCode.api_token_id,
                PairingCode.token_plaintext,
            )
            .where(PairingCode.id == row_id)
            .with_for_update()
        ).first()
        if row is None:
            return ExchangeResult(ExchangeStatus.EXPIRED)
        status, expires_at, api_token_id, plaintext = row
        if now > expires_at:
            if status == APPROVED and api_token_id is not None:
                _revoke(session, [api_token_id], now)  # minted but never delivered
            session.execute(delete(PairingCode).where(PairingCode.id == row_id))
            return ExchangeResult(ExchangeStatus.EXPIRED)
        if min_interval is not None:
            allowed = session.execute(
                update(PairingCode)
                .where(
                    PairingCode.id == row_id,
                    or_(
                        PairingCode.last_exchange_at.is_(None),
                        PairingCode.last_exchange_at <= now - min_interval,
                    ),
                )
                .values(last_exchange_at=now)
            ).rowcount  # type: ignore[attr-defined]
            if not allowed:
                return ExchangeResult(ExchangeStatus.TOO_MANY)
        if status == PENDING:
            return ExchangeResult(ExchangeStatus.PENDING)
        if status == APPROVED:
            delivered = session.execute(
                update(PairingCode)
                .where(PairingCode.id == row_id, PairingCode.status == APPROVED)
                .values(status=CONSUMED, token_plaintext=None)
            ).rowcount  # type: ignore[attr-defined]
            if delivered and plaintext:
                return ExchangeResult(ExchangeStatus.APPROVED, token=plaintext)
        return ExchangeResult(ExchangeStatus.CONSUMED)


def _revoke(session: Session, token_ids: list[uuid.UUID], now: datetime) -> int:
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.id.in_(token_ids), ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class PairingCleanup:
    """What one cleanup pass did."""

    revoked_tokens: int
    deleted_pairings: int


def cleanup_pairings(db: sessionmaker[Session], now: datetime) -> PairingCleanup:
    """The periodic pass of §5.2 (scheduled every 300 s).

    Revokes the API tokens of approved pairings that expired undelivered (and drops their stored
    plaintext), then deletes pairings whose ``expires_at`` is more than an hour past.
    """
    with db.begin() as session:
        undelivered = [
            token_id
            for token_id in session.scalars(
                select(PairingCode.api_token_id).where(
                    PairingCode.status == APPROVED,
                    PairingCode.expires_at < now,
                    PairingCode.api_token_id.is_not(None),
                )
            )
            if token_id is not None
        ]
        revoked = _revoke(session, undelivered, now) if undelivered else 0
        session.execute(
            update(PairingCode)
            .where(PairingCode.status == APPROVED, PairingCode.expires_at < now)
            .values(token_plaintext=None)
        )
        deleted = session.execute(delete(PairingCode).where(PairingCode.expires_at < now - CLEANUP_GRACE))
        return PairingCleanup(revoked_tokens=revoked, deleted_pairings=int(deleted.rowcount))  # type: ignore[attr-defined]
