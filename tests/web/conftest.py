"""The built-in pages in a real browser: Debian's Chromium driven by Playwright, against one real
``devflow serve`` (its own database and data dir) shared by every journey that a test process runs
(with ``pytest -n 2`` the journeys may spread over both processes: one server and browser each)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from sqlalchemy.engine import make_url

from devflow.accounts.credentials import issue_jwt
from tests.conftest import BASE_ENV, PG_URL, _create_database, _drop_database
from tests.support.server import ServerProcess

# Playwright cannot download its own browsers here: it drives the system's Chromium.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_ID = uuid.UUID("00000000-0000-4000-8000-00000000ad01")
PASSWORD = "correct-horse-battery"
LAPTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}


@dataclass(frozen=True)
class WebServer:
    """The running service and what the journeys need to talk to it."""

    process: ServerProcess
    log_path: Path

    @property
    def base_url(self) -> str:
        return self.process.base_url

    @property
    def port(self) -> int:
        return self.process.port

    def api(self) -> httpx.Client:
        """A plain HTTP client (no cookies shared with the browser) for ``/api/v1``."""
        return httpx.Client(base_url=self.base_url + "/api/v1", timeout=15)

    @property
    def admin_headers(self) -> dict[str, str]:
        """An admin's JWT (``ADMIN_USER_IDS``), for ``POST /metrics/etl/run``."""
        return {"Authorization": f"Bearer {issue_jwt(BASE_ENV['JWT_SECRET'], ADMIN_ID, 'password')}"}


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    """``devflow serve`` with one worker process (so the ETL endpoint flushes every accepted event),
    on its own database: other tests clear theirs between tests."""
    root = tmp_path_factory.mktemp("web-server")
    env = {**BASE_ENV, "DEVFLOW_DATA_DIR": str(root / "data"), "ADMIN_USER_IDS": str(ADMIN_ID)}
    database = ""
    if PG_URL:
        url = make_url(PG_URL)
        database = url.set(database=f"{url.database}_web").render_as_string(hide_password=False)
        _create_database(database)
        env["DATABASE_URL"] = database  # `devflow serve` migrates it; SQLite defaults to the data dir
    log_path = root / "server.log"
    process = ServerProcess(env, log_path=log_path, extra_args=["--workers", "1"])
    process.start(timeout=60)
    try:
        yield WebServer(process, log_path)
    finally:
        process.stop()
        if database:
            _drop_database(database)


@pytest.fixture(scope="package")
def browser(web_server: WebServer) -> Iterator[Browser]:
    """One headless Chromium for a run of this package's tests; each test gets its own context
    (cookies). Not for the session: Playwright's sync API keeps an event loop marked running in
    the main thread, where other packages' tests call ``asyncio.run``.

    It depends on the server so that it closes first: the server's graceful shutdown would otherwise
    wait for the browser's keep-alive connections."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture()
def context(browser: Browser, web_server: WebServer) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) at laptop size."""
    ctx = browser.new_context(viewport=LAPTOP)
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture()
def page(context: BrowserContext) -> Page:
    return context.new_page()
