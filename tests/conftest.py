"""Shared fixtures: a clean real database per test (PostgreSQL when DEVFLOW_TEST_DATABASE_URL is
set, else SQLite), a temporary data dir and lake, and the real app behind Litestar's test client."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from devflow.app import create_app
from devflow.config import Settings
from devflow.db.engine import make_engine
from devflow.db.migrate import upgrade
from devflow.kernel.clock import Clock, utc_now
from devflow.models import Base

_PG_BASE_URL = os.environ.get("DEVFLOW_TEST_DATABASE_URL", "").strip()
# pytest-xdist runs tests in several processes; each gets its own PostgreSQL database (tests clear
# every table), named after the given one plus the worker id.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
PG_URL = (
    make_url(_PG_BASE_URL)
    .set(database=f"{make_url(_PG_BASE_URL).database}_{_WORKER}")
    .render_as_string(hide_password=False)
    if _PG_BASE_URL and _WORKER
    else _PG_BASE_URL
)
# A copy of ../shared/contract/vectors: the real request/response bodies of the two clients.
VECTORS = Path(__file__).resolve().parent / "vectors"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the tests for ``--dist worksteal`` (the Makefile's), which hands out the collection as
    one contiguous block per xdist worker and lets an idle worker take the not-yet-started tail of
    another's block, never its head. The tests marked ``slow(waits=True)`` (they mostly sleep: a
    real scheduler tick, a slow model) lead the first block, and the other ``slow`` ones (server
    processes, browsers) are dealt over the heads of the other blocks: the sleepers overlap with
    work, and no worker runs every heavy test one after the other. The tests of the shared browser
    and server (``web_server``) stay together at the head of the last block: each worker that runs
    one of them starts its own server and browser."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))

    def rank(item: pytest.Item) -> int:
        if "web_server" in getattr(item, "fixturenames", ()):
            return 3
        slow = item.get_closest_marker("slow")
        return 2 if slow is None else 0 if slow.kwargs.get("waits") else 1

    waiting, heavy, fast, web = ([item for item in items if rank(item) == r] for r in range(4))
    heads: list[list[pytest.Item]] = [list(waiting)] + [[] for _ in range(workers - 1)]
    others = heads[1:] or heads
    others[-1].extend(web)
    for i, item in enumerate(heavy):
        others[i % len(others)].append(item)
    blocks: list[pytest.Item] = []
    remaining = len(items)
    for i, head in enumerate(heads):
        size = remaining // (workers - i)  # the block the worksteal scheduler sends this worker
        take = max(0, size - len(head))
        blocks += head + fast[:take]
        fast = fast[take:]
        remaining -= size
    items[:] = blocks + fast


BASE_ENV: dict[str, str] = {
    "JWT_SECRET": "test-secret-which-is-long-enough-for-hs256",
    "AUTH_RATE_LIMIT_PER_MINUTE": "0",
    "CORS_ALLOWED_ORIGINS": "http://localhost:5173",
    "METRICS_ETL_ENABLED": "false",
    "INSIGHTS_ENABLED": "false",
    "LOG_LEVEL": "warning",
    # bcrypt's lowest cost keeps registrations and logins cheap; the tests of the production cost
    # leave it unset.
    "PASSWORD_BCRYPT_COST": "4",
}


@pytest.fixture(scope="session")
def _db_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate once per run: the PostgreSQL test database, or a template SQLite file."""
    if PG_URL:
        if PG_URL != _PG_BASE_URL:
            _create_database(PG_URL)
        engine = make_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        upgrade(engine)
        engine.dispose()
        try:
            yield PG_URL
        finally:
            if PG_URL != _PG_BASE_URL:
                _drop_database(PG_URL)
    else:
        path = tmp_path_factory.mktemp("dbtemplate") / "template.sqlite3"
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        engine.dispose()
        yield str(path)


def _admin_engine(url: str) -> Engine:
    """A connection to the server's ``postgres`` database, outside any transaction."""
    return make_engine(
        make_url(url).set(database="postgres").render_as_string(hide_password=False)
    ).execution_options(isolation_level="AUTOCOMMIT")


def _create_database(url: str) -> None:
    name = make_url(url).database
    engine = _admin_engine(url)
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def _drop_database(url: str) -> None:
    engine = _admin_engine(url)
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    engine.dispose()


def _empty_all(engine: Engine) -> None:
    """Delete every row, children first: on tables this small a DELETE costs the server less than
    a TRUNCATE, which makes a new file for every table and index."""
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture(scope="session")
def _cleaner(_db_template: str) -> Iterator[Engine | None]:
    """One connection that empties the PostgreSQL database before each test (a new connection
    would start a new server process each time)."""
    if not PG_URL:
        yield None
        return
    engine = make_engine(PG_URL, pool_size=1)
    yield engine
    engine.dispose()


@pytest.fixture()
def database_url(_db_template: str, _cleaner: Engine | None, tmp_path: Path) -> str:
    """A clean, migrated database for this test."""
    if _cleaner is not None:
        _empty_all(_cleaner)
        return PG_URL
    return _sqlite_copy(_db_template, tmp_path / "data")


def _sqlite_copy(template: str, data_dir: Path) -> str:
    """The URL of a copy of the migrated SQLite template in ``data_dir``."""
    target = data_dir / "devflow.sqlite3"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


@pytest.fixture(scope="module")
def module_settings(_db_template: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings shared by one module's tests (see ``module_client``): its own data dir, and the
    worker's PostgreSQL database or a copy of the SQLite template."""
    data = tmp_path_factory.mktemp("module") / "data"
    url = PG_URL or _sqlite_copy(_db_template, data)
    return Settings.from_env({**BASE_ENV, "DEVFLOW_DATA_DIR": str(data), "DATABASE_URL": url})


@pytest.fixture(scope="module")
def module_client(module_settings: Settings) -> Iterator[TestClient[Any]]:
    """One app for a module of stateless checks (e.g. a table of bad queries), where a fresh app
    per case would cost more than the case. Each test creates the rows it needs (a new user); on
    PostgreSQL other tests may empty the tables between them."""
    with TestClient(app=create_app(module_settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture()
def make_settings(database_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings for this test; keyword arguments are extra environment variables."""

    def build(**env: str) -> Settings:
        merged = {
            **BASE_ENV,
            "DEVFLOW_DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": database_url,
            **env,
        }
        return Settings.from_env(merged)

    return build


@pytest.fixture()
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture()
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient[Any]]]:
    """Start the real app with extra environment variables (and, optionally, a clock that the test
    moves instead of sleeping); closed at teardown."""
    clients: list[TestClient[Any]] = []

    def build(*, clock: Clock = utc_now, **env: str) -> TestClient[Any]:
        client: TestClient[Any] = TestClient(
            app=create_app(make_settings(**env), clock=clock), raise_server_exceptions=False
        )
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture()
def client(make_client: Callable[..., TestClient[Any]]) -> TestClient[Any]:
    return make_client()
