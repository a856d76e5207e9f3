"""Fixtures of the accounts tests: direct database access for set-up and inspection, and the
fake OAuth provider on 127.0.0.1."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import bcrypt
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from devflow.accounts.models import User
from devflow.config import Settings
from devflow.db.engine import make_session_factory
from tests.accounts.fake_provider import FakeProvider
from tests.support.accounts import engine_on


@pytest.fixture()
def engine(settings: Settings) -> Iterator[Engine]:
    """An engine on this test's database (the app under test has its own); on PostgreSQL the
    worker's kept one."""
    with engine_on(settings.database_url) as eng:
        yield eng


@pytest.fixture()
def db(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture()
def fake_provider() -> Iterator[FakeProvider]:
    provider = FakeProvider().start()
    yield provider
    provider.stop()


def insert_password_user(
    db: sessionmaker[Session], email: str, password: str, username: str | None = None
) -> User:
    """A password account inserted directly, hashed at bcrypt cost 4 to keep set-up cheap.

    Only tests that do not measure bcrypt time use it; login verifies any cost.
    """
    user = User(
        id=uuid.uuid4(),
        username=username or f"u-{uuid.uuid4().hex[:10]}",
        email=email,
        provider="password",
        provider_user_id=email,
        password_hash=bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode(),
    )
    with db.begin() as session:
        session.add(user)
    return user
