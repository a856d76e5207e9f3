"""``POST /api/v1/telemetry`` (contract §3.6): the ingest hot path.

The handler is thin: a request without a credential is refused at once (401), the body is read
within the route's 16 MiB limit (413), and everything else — the credential check, decoding,
validation, sessions and the write to the lake writer's spool — runs in ONE worker-thread call
(:func:`devflow.telemetry.ingest.ingest_batch`): a single thread hop per request instead of one for
the router's ``principal`` dependency and another for the ingest. The 202 is sent once the event
loop has seen the spool's fsync cover the request's rows (group commit by the writer's syncer).
The contract's order holds: the credential is checked before anything about the body is reported
(a body over the limit is answered 413 only once the credential is known to be good).
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from litestar import MediaType, Request, Response, post
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import ControllerRouterHandler

from devflow.http.auth import authenticate_in_thread, extract_credential
from devflow.http.body import TELEMETRY_BODY_LIMIT, is_json_content_type
from devflow.http.context import AppContext, request_context
from devflow.http.errors import ServiceUnavailable, Unauthorized
from devflow.lake.writer import LakeUnavailable
from devflow.telemetry.ingest import Caller, ingest_batch
from devflow.telemetry.sessions import SessionCache

# Requests of one process that may be in their worker-thread part at once. That part is mostly
# Python holding the GIL, so more threads only add GIL hand-offs (measured: 2 threads cost ~14 % and
# 40 threads ~26 % more CPU per request than 1). The fsync is not waited for in the thread (the event
# loop awaits the lake writer's syncer), so on SQLite one thread never idles. PostgreSQL round trips
# (token lookup, session claims) do block the thread: two overlap them.
INGEST_THREADS = {"sqlite": 1}
INGEST_THREADS_DEFAULT = 2


def _authenticate_and_ingest(
    ctx: AppContext, credential: str, payload: bytes | None, sessions: SessionCache
) -> tuple[int, bytes]:
    """The worker-thread part of a request: 401, then 503 without a lake, then the ingest itself
    (rows written to the spool; the caller waits for their fsync before answering)."""
    principal = authenticate_in_thread(ctx, credential)
    if ctx.lake_writer is None:
        raise ServiceUnavailable()
    caller = Caller(user_id=principal.user_id, via_jwt=not principal.via_token)
    return ingest_batch(ctx.db, ctx.lake_writer, caller, payload, sessions)


@post(
    "/telemetry",
    status_code=202,
    operation_id="ingest_telemetry",
    tags=["telemetry"],
    request_max_body_size=TELEMETRY_BODY_LIMIT,
)
async def ingest_telemetry(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Accept a batch: always ``202`` once the body is an object with 1–10,000 ``events``."""
    credential = extract_credential(request)
    if not credential:
        raise Unauthorized()
    ctx = request_context(request)
    try:
        body = await request.body()
    except RequestEntityTooLarge:
        await anyio.to_thread.run_sync(authenticate_in_thread, ctx, credential)  # 401 comes first
        raise
    # §1.2: without a JSON content type, or with 0 bytes, the body is absent.
    payload = body if body and is_json_content_type(request) else None
    sessions: SessionCache | None = ctx.extras.get("telemetry_sessions")
    if sessions is None:
        sessions = ctx.extras.setdefault("telemetry_sessions", SessionCache())
    limiter: anyio.CapacityLimiter | None = ctx.extras.get("telemetry_limiter")
    if limiter is None:
        threads = INGEST_THREADS.get(ctx.engine.dialect.name, INGEST_THREADS_DEFAULT)
        limiter = ctx.extras.setdefault("telemetry_limiter", anyio.CapacityLimiter(threads))
    ticket, content = await anyio.to_thread.run_sync(
        _authenticate_and_ingest, ctx, credential, payload, sessions, limiter=limiter
    )
    if ticket:
        assert ctx.lake_writer is not None  # checked in the thread
        try:
            await ctx.lake_writer.wait_durable(ticket)  # acknowledged means on disk
        except LakeUnavailable as exc:
            raise ServiceUnavailable() from exc
    return Response(content=content, status_code=202, media_type=MediaType.JSON)


ROUTES: list[ControllerRouterHandler] = [ingest_telemetry]
