"""Test set-up for contexts other than accounts: a user with a JWT and an API token, inserted
directly through the real models (the accounts API itself is tested in tests/accounts/)."""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from devflow.accounts.credentials import api_token_hash, api_token_prefix, issue_jwt, new_api_token
from devflow.accounts.models import ApiToken, User
from devflow.config import Settings
from devflow.db.engine import make_engine


@dataclass(frozen=True)
class TestUser:
    __test__ = False  # not a pytest class

    id: uuid.UUID
    email: str
    jwt: str
    token: str

    @property
    def jwt_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.jwt}"}

    @property
    def token_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@functools.lru_cache(maxsize=4)
def shared_engine(url: str) -> Engine:
    """A kept PostgreSQL engine per database: a new connection starts a server process."""
    return make_engine(url)


@contextlib.contextmanager
def engine_on(url: str) -> Iterator[Engine]:
    """An engine on a test database: PostgreSQL's kept one, or a new one on a SQLite file (disposed
    after)."""
    if url.startswith("postgresql"):
        yield shared_engine(url)
        return
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def create_user(settings: Settings, email: str | None = None) -> TestUser:
    """Insert a password user (no usable password) plus one API token; return its credentials."""
    settings = settings.with_dev_secret()
    user_id = uuid.uuid4()
    email = email or f"user-{user_id.hex[:8]}@example.com"
    token = new_api_token()
    with engine_on(settings.database_url) as engine:
        with Session(engine) as session, session.begin():
            session.add(
                User(
                    id=user_id,
                    username=f"u-{user_id.hex[:12]}",
                    email=email,
                    provider="password",
                    provider_user_id=email,
                    password_hash=None,
                )
            )
            session.flush()
            session.add(
                ApiToken(
                    user_id=user_id,
                    name="test token",
                    token_hash=api_token_hash(token),
                    token_prefix=api_token_prefix(token),
                )
            )
    return TestUser(
        id=user_id, email=email, jwt=issue_jwt(settings.jwt_secret, user_id, "password"), token=token
    )
