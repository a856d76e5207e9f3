"""``create_app(settings)``: the only place that wires Litestar to the services, routes and jobs."""

from __future__ import annotations

import gc
import logging
import multiprocessing
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from litestar import Litestar
from litestar.di import Provide
from litestar.types import ControllerRouterHandler

from devflow import services as service_lifecycle
from devflow.accounts import Accounts
from devflow.accounts.routes import ROUTES as ACCOUNT_ROUTES
from devflow.accounts.routes import resolve_principal
from devflow.config import Settings, warn_if_proxy_unconfigured
from devflow.http.body import DEFAULT_BODY_LIMIT
from devflow.http.edge import EdgeGate
from devflow.http.errors import exception_handlers
from devflow.http.health import health
from devflow.http.observe import Observer
from devflow.http.openapi import docs_page, openapi_config, openapi_json
from devflow.http.routers import OneAppRouter
from devflow.insights import Insights
from devflow.insights.routes import ROUTES as INSIGHT_ROUTES
from devflow.jobs import start_scheduler, stop_scheduler
from devflow.kernel import instruments
from devflow.kernel.clock import Clock, utc_now
from devflow.kernel.files import restrict_new_files
from devflow.metrics import Metrics
from devflow.metrics.routes import ROUTES as METRICS_ROUTES
from devflow.rights.deletion import resume_deletions
from devflow.rights.routes import ROUTES as RIGHTS_ROUTES
from devflow.services import Services, build_services
from devflow.telemetry import Telemetry
from devflow.telemetry.routes import ROUTES as TELEMETRY_ROUTES
from devflow.web import error_page, page_aware, template_config, web_routes

log = logging.getLogger("devflow.app")

API_PREFIX = "/api/v1"


_interpreter_tuned = False


def _tune_interpreter() -> None:
    """Keep the cyclic GC and the GIL's hand-offs off the request path's back. Once per process: apps
    built later (tests) are not frozen.

    Everything alive after start-up (modules, the app, SQLAlchemy and pyarrow objects) is moved to
    the permanent generation, so full collections no longer traverse it; the young generation is
    collected less often (ingest allocates hundreds of short-lived containers per request that
    reference counting frees anyway). A thread holding the GIL (the lake flusher converting rows, the
    syncer settling futures) hands it to the event loop after 1 ms instead of 5 ms.
    """
    global _interpreter_tuned
    if _interpreter_tuned:
        return
    _interpreter_tuned = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
    sys.setswitchinterval(0.001)


def _constant(value: Any) -> Provide:
    def provide() -> Any:
        return value

    return Provide(provide, use_cache=True, sync_to_thread=False)


def service_dependencies(services: Services) -> dict[str, Provide]:
    """The objects handlers receive by name (``accounts: Accounts``, ``metrics: Metrics``, …)."""
    provided: dict[str, Services | Settings | Accounts | Telemetry | Metrics | Insights] = {
        "services": services,
        "settings": services.settings,
        "accounts": services.accounts,
        "telemetry": services.telemetry,
        "metrics": services.metrics,
        "insights": services.insights,
    }
    return {name: _constant(value) for name, value in provided.items()}


def create_app(
    settings: Settings,
    extra_route_handlers: Sequence[ControllerRouterHandler] = (),
    *,
    clock: Clock = utc_now,
) -> Litestar:
    """Build the ASGI application. Only the lifespan performs I/O.

    ``extra_route_handlers`` are mounted under ``/api/v1`` too (embedding, and probe routes in tests);
    ``clock`` is the time every context reads (tests move it instead of sleeping).
    """
    restrict_new_files()  # the data dir, database, secret, spool and lake are the service's alone
    settings = settings.with_dev_secret()
    if settings.metrics_exporter_enabled:
        # Worker processes of one server share a folder (the supervisor empties it at start-up).
        worker = multiprocessing.parent_process() is not None
        instruments.enable(instruments.multiprocess_folder(settings.data_dir) if worker else None)
    services = build_services(settings, clock=clock, with_writer=True)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state["services"] = services
        # The lake writer replays spools left by crashed processes before the first request.
        await anyio.to_thread.run_sync(service_lifecycle.start, services)
        # Account deletions a killed process left half-done finish before the first request (a
        # database that is down does not stop the start: the scheduled job retries).
        try:
            await anyio.to_thread.run_sync(resume_deletions, services)
        except Exception:
            log.exception("resuming account deletions failed; the scheduled job will retry")
        if multiprocessing.parent_process() is None:  # uvicorn workers: the supervisor warned once
            warn_if_proxy_unconfigured(settings)
        # Background jobs (ETL, pairing cleanup, insights), each guarded by its runner lock.
        scheduler = start_scheduler(services)
        _tune_interpreter()
        try:
            yield
        finally:
            stop_scheduler(scheduler)
            try:
                await anyio.to_thread.run_sync(service_lifecycle.close, services)  # flushes the spool
            finally:
                instruments.process_exiting()

    api = OneAppRouter(
        path=API_PREFIX,
        route_handlers=[
            health,
            openapi_json,
            docs_page,
            *ACCOUNT_ROUTES,
            *TELEMETRY_ROUTES,
            *METRICS_ROUTES,
            *INSIGHT_ROUTES,
            *RIGHTS_ROUTES,
            *extra_route_handlers,
        ],
        dependencies={"principal": Provide(resolve_principal)},
    )
    app = Litestar(
        route_handlers=[api, *web_routes(settings)],  # the built-in pages live outside /api/v1
        dependencies=service_dependencies(services),
        lifespan=[lifespan],
        exception_handlers=page_aware(exception_handlers(), API_PREFIX),
        template_config=template_config(),
        request_max_body_size=DEFAULT_BODY_LIMIT,
        openapi_config=openapi_config(),
        debug=False,
        logging_config=None,
    )
    app.state["services"] = services
    # The edge gate wraps routing and exception handling so that every response, 404/405/500 included,
    # carries the contract's headers, and refuses cross-site cookie writes before any route runs (§1.6).
    gate = EdgeGate(
        app.asgi_handler,
        settings.cors_allowed_origins,
        settings.public_url,
        page_error=error_page,
        api_prefix=API_PREFIX,
    )
    # Outermost: request ids and request metrics for every response, the gate's own included.
    app.asgi_handler = Observer(
        gate, export=settings.metrics_exporter_enabled, token=settings.metrics_exporter_token
    )
    return app
