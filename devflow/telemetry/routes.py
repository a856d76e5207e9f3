"""``POST /api/v1/telemetry`` (contract §3.6): the ingest hot path.

The handler is thin: a request without a credential is refused at once (401), the body is read within
the route's 16 MiB limit (413), and everything else — the credential check, decoding, validation,
sessions and the write to the lake writer's spool — runs in ONE worker-thread call: a single thread
hop per request instead of one for the router's ``principal`` dependency and another for the ingest.
The 202 is sent once the event loop has seen the spool's fsync cover the request's rows (group commit
by the writer's syncer). The contract's order holds: the credential is checked before anything about
the body is reported (a body over the limit is answered 413 only once the credential is known good).
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from litestar import MediaType, Request, Response, post
from litestar.di import NamedDependency
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import ControllerRouterHandler

from devflow.accounts import Accounts
from devflow.http.body import TELEMETRY_BODY_LIMIT, is_json_content_type
from devflow.http.credentials import extract_credential
from devflow.kernel.errors import Unauthenticated
from devflow.telemetry import Telemetry
from devflow.telemetry.ingest import Caller


def _authenticate_and_ingest(
    accounts: Accounts, telemetry: Telemetry, credential: str, payload: bytes | None
) -> tuple[int, bytes]:
    """The worker-thread part of a request: 401, then the ingest itself (rows written to the spool;
    the caller waits for their fsync before answering)."""
    principal = accounts.authenticator.authenticate(credential)
    return telemetry.ingest(Caller(user_id=principal.user_id, via_jwt=not principal.via_token), payload)


@post(
    "/telemetry",
    status_code=202,
    operation_id="ingest_telemetry",
    tags=["telemetry"],
    request_max_body_size=TELEMETRY_BODY_LIMIT,
)
async def ingest_telemetry(
    request: Request[Any, Any, Any],
    accounts: NamedDependency[Accounts],
    telemetry: NamedDependency[Telemetry],
) -> Response[bytes]:
    """Accept a batch: always ``202`` once the body is an object with 1–10,000 ``events``."""
    credential = extract_credential(request)
    if not credential:
        raise Unauthenticated()
    try:
        body = await request.body()
    except RequestEntityTooLarge:
        await anyio.to_thread.run_sync(accounts.authenticator.authenticate, credential)  # 401 comes first
        raise
    # §1.2: without a JSON content type, or with 0 bytes, the body is absent.
    payload = body if body and is_json_content_type(request) else None
    ticket, content = await anyio.to_thread.run_sync(
        _authenticate_and_ingest, accounts, telemetry, credential, payload, limiter=telemetry.thread_limiter()
    )
    if ticket and telemetry.writer is not None:
        await telemetry.writer.wait_durable(ticket)  # acknowledged means on disk
    return Response(content=content, status_code=202, media_type=MediaType.JSON)


ROUTES: list[ControllerRouterHandler] = [ingest_telemetry]
