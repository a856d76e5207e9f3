"""``POST /api/v1/telemetry`` (contract §3.6): the ingest hot path.

The handler is thin: auth is the router's ``principal`` dependency (401 first), the body is read
within the route's 16 MiB limit (413), and everything else — decoding, validation, sessions and the
durable lake append — runs in a worker thread (:func:`devflow.telemetry.ingest.ingest_batch`).
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from litestar import MediaType, Request, Response, post
from litestar.di import NamedDependency
from litestar.types import ControllerRouterHandler

from devflow.http.auth import Principal
from devflow.http.body import TELEMETRY_BODY_LIMIT, is_json_content_type
from devflow.http.context import request_context
from devflow.http.errors import ServiceUnavailable
from devflow.telemetry.ingest import Caller, ingest_batch
from devflow.telemetry.sessions import SessionCache


@post(
    "/telemetry",
    status_code=202,
    operation_id="ingest_telemetry",
    tags=["telemetry"],
    request_max_body_size=TELEMETRY_BODY_LIMIT,
)
async def ingest_telemetry(
    request: Request[Any, Any, Any], principal: NamedDependency[Principal]
) -> Response[bytes]:
    """Accept a batch: always ``202`` once the body is an object with 1–10,000 ``events``."""
    body = await request.body()
    # §1.2: without a JSON content type, or with 0 bytes, the body is absent.
    payload = body if body and is_json_content_type(request) else None
    ctx = request_context(request)
    if ctx.lake_writer is None:
        raise ServiceUnavailable()
    caller = Caller(user_id=principal.user_id, via_jwt=not principal.via_token)
    sessions: SessionCache | None = ctx.extras.get("telemetry_sessions")
    if sessions is None:
        sessions = ctx.extras.setdefault("telemetry_sessions", SessionCache())
    content = await anyio.to_thread.run_sync(ingest_batch, ctx.db, ctx.lake_writer, caller, payload, sessions)
    return Response(content=content, status_code=202, media_type=MediaType.JSON)


ROUTES: list[ControllerRouterHandler] = [ingest_telemetry]
