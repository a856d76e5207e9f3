"""Lake fixtures: the real migrated database and a lake folder under ``tmp_path``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from devflow.db.engine import make_engine, make_session_factory
from devflow.lake.storage import LakeStorage


@pytest.fixture()
def db(database_url: str) -> Iterator[sessionmaker[Session]]:
    """A session factory on this test's clean database."""
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture()
def storage(tmp_path: Path) -> LakeStorage:
    """An empty local lake."""
    return LakeStorage.from_url(str(tmp_path / "lake"))
