"""Who is calling (contract §1.4): a ``dvf_`` API token looked up by its SHA-256, or an HS256 JWT.

Every failure is :class:`~devflow.kernel.errors.Unauthenticated`; failing to *check* a credential
(database down) surfaces as a database error, which the HTTP layer answers with 503, never 401 — a
401 makes the extension delete its token.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from devflow.accounts.credentials import API_TOKEN_PREFIX, JwtClaims, api_token_hash, decode_jwt
from devflow.accounts.models import ApiToken, User
from devflow.kernel.clock import Clock
from devflow.kernel.errors import NotPermitted, Unauthenticated

log = logging.getLogger("devflow.accounts.auth")

LAST_USED_THROTTLE_SECONDS = 60.0
VERIFIED_JWT_CACHE_SIZE = 10_000  # distinct tokens remembered per process


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling. ``token_id`` is set for API-token callers, None for JWT callers."""

    user_id: uuid.UUID
    token_id: uuid.UUID | None = None
    provider: str | None = None

    @property
    def via_token(self) -> bool:
        return self.token_id is not None

    def require_jwt(self, message: str) -> None:
        """*jwt* mode: API-token callers are refused with ``message``."""
        if self.via_token:
            raise NotPermitted(message)

    def require_admin(self, admins: frozenset[uuid.UUID], token_message: str) -> None:
        """*admin* mode: JWT only, then the user must be listed in ``ADMIN_USER_IDS``."""
        self.require_jwt(token_message)
        if self.user_id not in admins:
            raise NotPermitted("Admin only")


class _TokenUseThrottle:
    """Remembers when this process last wrote ``last_used_at`` per token (bounded)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._seen: dict[uuid.UUID, float] = {}
        self._max = max_entries

    def due(self, token_id: uuid.UUID) -> bool:
        now = time.monotonic()
        last = self._seen.get(token_id)
        if last is not None and now - last < LAST_USED_THROTTLE_SECONDS:
            return False
        if len(self._seen) >= self._max:
            self._seen.clear()
        self._seen[token_id] = now
        return True


_TOKEN_LOOKUP = (
    select(ApiToken.id, ApiToken.user_id)
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("digest"), ApiToken.revoked_at.is_(None))
)


def _as_uuid(value: Any) -> uuid.UUID:
    """A UUID column as the driver returns it (psycopg: UUID; SQLite: 32 hex digits)."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


class Authenticator:
    """Resolves credentials; one per process (it remembers compiled SQL and recent token use)."""

    def __init__(self, engine: Engine, db: sessionmaker[Session], jwt_secret: str, clock: Clock) -> None:
        self._engine = engine
        self._db = db
        self._secret = jwt_secret
        self._clock = clock
        self._throttle = _TokenUseThrottle()
        # Verifying a JWT (header, HMAC, claims) cost as much as a whole metrics read; a token's
        # signature and claims never change, so only its expiry is checked again on a hit.
        self._verified: dict[str, JwtClaims] = {}
        statement = _TOKEN_LOOKUP.compile(dialect=engine.dialect)
        self._lookup_sql = str(statement)
        self._positional = engine.dialect.positional

    def authenticate(self, credential: str | None) -> Principal:
        """The caller behind ``credential``, or :class:`Unauthenticated`. Blocking (a database
        lookup for API tokens): call it from a worker thread."""
        if not credential:
            raise Unauthenticated()
        if credential.startswith(API_TOKEN_PREFIX):
            principal = self._api_token(credential)
            if principal is None:
                raise Unauthenticated()
            return principal
        claims = self._verified.get(credential)
        if claims is None:
            claims = decode_jwt(self._secret, credential)
            if claims is None:
                raise Unauthenticated()
            if len(self._verified) >= VERIFIED_JWT_CACHE_SIZE:
                self._verified.clear()
            self._verified[credential] = claims
        elif claims.expires_at <= time.time():
            raise Unauthenticated()
        return Principal(user_id=claims.user_id, provider=claims.provider)

    def _api_token(self, credential: str) -> Principal | None:
        if len(credential) <= len(API_TOKEN_PREFIX):
            return None
        row = self._token_row(api_token_hash(credential))
        if row is None:
            return None
        token_id, user_id = _as_uuid(row[0]), _as_uuid(row[1])
        if self._throttle.due(token_id):
            try:
                with self._db.begin() as session:
                    session.execute(
                        update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=self._now())
                    )
            except Exception as exc:  # best effort: a failed write never fails the request (§1.4)
                log.debug("last_used_at update skipped: %s", type(exc).__name__)
        return Principal(user_id=user_id, token_id=token_id)

    def _now(self) -> datetime:
        return self._clock()

    def _token_row(self, digest: str) -> tuple[Any, ...] | None:
        """The token lookup of every extension request, on a pooled DBAPI connection.

        Skipping SQLAlchemy's Connection and transaction layer makes this lookup several times
        cheaper under concurrent requests (it was most of the credential check). On SQLite
        (autocommit driver mode) the SELECT takes no lock; on PostgreSQL the pool rolls the
        connection back when it is returned. Driver errors are raised as SQLAlchemy's (parameters
        hidden), so an outage still answers 503.
        """
        engine = self._engine
        dbapi_error = engine.dialect.loaded_dbapi.Error
        try:
            conn = engine.raw_connection()
        except dbapi_error as exc:
            raise DBAPIError.instance(
                None, None, exc, dbapi_error, hide_parameters=True, dialect=engine.dialect
            ) from exc
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(self._lookup_sql, (digest,) if self._positional else {"digest": digest})
                row = cursor.fetchone()
            except dbapi_error as exc:
                invalidated = engine.dialect.is_disconnect(exc, conn.dbapi_connection, cursor)
                if invalidated:
                    conn.invalidate()
                raise DBAPIError.instance(
                    self._lookup_sql,
                    None,
                    exc,
                    dbapi_error,
                    hide_parameters=True,
                    connection_invalidated=invalidated,
                    dialect=engine.dialect,
                ) from exc
            finally:
                cursor.close()
        finally:
            conn.close()
        return tuple(row) if row is not None else None
