"""``create_app(settings)``: the only place that wires Litestar, the database, the lake and jobs."""

from __future__ import annotations

import gc
import logging
import multiprocessing
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio.to_thread
from litestar import Litestar, Router
from litestar.di import Provide
from litestar.types import ControllerRouterHandler

from devflow.accounts.ratelimit import warn_if_proxy_unconfigured
from devflow.accounts.routes import ROUTES as ACCOUNT_ROUTES
from devflow.config import Settings
from devflow.db.engine import make_engine, make_session_factory
from devflow.http.auth import authenticate
from devflow.http.body import DEFAULT_BODY_LIMIT
from devflow.http.context import AppContext
from devflow.http.cors import CorsGate
from devflow.http.errors import exception_handlers
from devflow.http.health import health
from devflow.insights.routes import ROUTES as INSIGHT_ROUTES
from devflow.jobs.scheduler import start_scheduler, stop_scheduler
from devflow.kernel.files import restrict_new_files
from devflow.lake.writer import open_lake_writer
from devflow.metrics.routes import ROUTES as METRICS_ROUTES
from devflow.telemetry.routes import ROUTES as TELEMETRY_ROUTES

log = logging.getLogger("devflow.app")

API_PREFIX = "/api/v1"


_gc_tuned = False


def _tune_gc() -> None:
    """Keep the cyclic GC off the request path's back (NOTES.md: GC traversal drives p99).

    Everything alive after start-up (modules, the app, SQLAlchemy and pyarrow objects) is moved to
    the permanent generation, so full collections no longer traverse it; the young generation is
    collected less often (ingest allocates hundreds of short-lived containers per request that
    reference counting frees anyway). Once per process: apps built later (tests) are not frozen.
    """
    global _gc_tuned
    if _gc_tuned:
        return
    _gc_tuned = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


def create_app(settings: Settings, extra_route_handlers: Sequence[ControllerRouterHandler] = ()) -> Litestar:
    """Build the ASGI application. No I/O happens until the lifespan starts.

    ``extra_route_handlers`` are mounted under ``/api/v1`` too (embedding, and probe routes in tests).
    """
    restrict_new_files()  # the data dir, database, secret, spool and lake are the service's alone
    settings = settings.with_dev_secret()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        ctx = AppContext(settings=settings, engine=engine, db=make_session_factory(engine))
        app.state["ctx"] = ctx
        # The lake writer replays spools left by crashed processes before the first request.
        ctx.lake_writer = await anyio.to_thread.run_sync(open_lake_writer, settings, ctx.db)
        ctx.lake = ctx.lake_writer.storage
        if multiprocessing.parent_process() is None:  # uvicorn workers: the supervisor warned once
            warn_if_proxy_unconfigured(settings)
        # Background jobs (ETL, pairing cleanup, …), each guarded by its runner lock.
        scheduler = start_scheduler(ctx)
        _tune_gc()
        try:
            yield
        finally:
            stop_scheduler(scheduler)
            try:
                await anyio.to_thread.run_sync(ctx.lake_writer.stop)  # flush the spool to Parquet
            finally:
                engine.dispose()

    api = Router(
        path=API_PREFIX,
        route_handlers=[
            health,
            *ACCOUNT_ROUTES,
            *TELEMETRY_ROUTES,
            *METRICS_ROUTES,
            *INSIGHT_ROUTES,
            *extra_route_handlers,
        ],
        dependencies={"principal": Provide(authenticate)},
    )
    app = Litestar(
        route_handlers=[api],
        lifespan=[lifespan],
        exception_handlers=exception_handlers(),
        request_max_body_size=DEFAULT_BODY_LIMIT,
        openapi_config=None,
        debug=False,
        logging_config=None,
    )
    # CORS wraps routing and exception handling so that every response, 404/405/500 included,
    # carries the contract's headers, and refuses cross-site cookie writes before any route runs (§1.6).
    app.asgi_handler = CorsGate(app.asgi_handler, settings.cors_allowed_origins, settings.public_url)
    return app
