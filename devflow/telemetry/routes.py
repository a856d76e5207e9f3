"""``POST /api/v1/telemetry`` (contract §3.6): the ingest hot path.

The handler is thin: a request without a credential is refused at once (401), the body is read within
the route's 16 MiB limit (413), and everything else — the credential check, decoding, validation,
sessions and the write to the lake writer's spool — runs in ONE call: in a worker thread (a single
thread hop per request instead of one for the router's ``principal`` dependency and another for the
ingest), or, on SQLite and for a body of ordinary size, on the event loop itself
(:meth:`Telemetry.runs_inline <devflow.telemetry.Telemetry.runs_inline>`).
The 202 is sent once the event loop has seen the spool's fsync cover the request's rows (group commit
by the writer's syncer). The contract's order holds: the credential is checked before anything about
the body is reported (a body over the limit is answered 413 only once the credential is known good).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio.to_thread
import msgspec
from litestar import MediaType, Request, Response, post
from litestar.di import NamedDependency
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import ControllerRouterHandler

from devflow.accounts import Accounts
from devflow.http.body import TELEMETRY_BODY_LIMIT, is_json_content_type
from devflow.http.credentials import extract_credential
from devflow.http.openapi import api_doc, response_spec
from devflow.kernel.errors import Unauthenticated
from devflow.telemetry import Telemetry
from devflow.telemetry.ingest import MAX_EVENTS, Caller, IngestResponse

# -- the body as the OpenAPI description shows it (validation itself is per event, §4.6) ----------

_Optional = msgspec.UnsetType


class EventFile(msgspec.Struct):
    """The ``file`` object of ``file_save`` and ``text_change`` (§4.3); only ``path`` is required."""

    path: str
    name: str | _Optional = msgspec.UNSET
    absolute_path: str | _Optional = msgspec.UNSET
    extension: str | _Optional = msgspec.UNSET
    language: str | _Optional = msgspec.UNSET
    workspace: str | _Optional = msgspec.UNSET
    lines: int | _Optional = msgspec.UNSET
    size_bytes: int | _Optional = msgspec.UNSET


class LineRange(msgspec.Struct):
    start: int
    end: int


class EventMetrics(msgspec.Struct):
    """``metrics`` of ``text_change`` (the first eight fields) or ``editor_switch`` (the last three)."""

    characters_added: int | _Optional = msgspec.UNSET
    characters_deleted: int | _Optional = msgspec.UNSET
    change_count: int | _Optional = msgspec.UNSET
    affected_line_ranges: list[LineRange] | _Optional = msgspec.UNSET
    edit_duration_ms: int | _Optional = msgspec.UNSET
    is_large_paste: bool | _Optional = msgspec.UNSET
    is_possible_rewrite: bool | _Optional = msgspec.UNSET
    is_possible_undo_cycle: bool | _Optional = msgspec.UNSET
    switch_interval_seconds: float | _Optional = msgspec.UNSET
    is_cross_module_switch: bool | _Optional = msgspec.UNSET
    is_rapid_context_switching: bool | _Optional = msgspec.UNSET


class SwitchEnd(msgspec.Struct):
    """``from`` / ``to`` of an ``editor_switch``."""

    file: str | _Optional = msgspec.UNSET
    language: str | _Optional = msgspec.UNSET
    module: str | _Optional = msgspec.UNSET


class DebugInfo(msgspec.Struct):
    name: str
    type: str
    launch_configuration_name: str | _Optional = msgspec.UNSET


class TerminalInfo(msgspec.Struct):
    name: str
    shell_type: str | _Optional = msgspec.UNSET


class GitInfo(msgspec.Struct):
    changed_files_count: Annotated[int, msgspec.Meta(ge=0)]
    branch: str | _Optional = msgspec.UNSET


class TelemetryEvent(msgspec.Struct, rename={"switch_from": "from", "switch_to": "to"}):
    """One event (§4.2–§4.4). Each event is validated on its own: an invalid one is rejected with a
    reason in the 202 body (never the whole batch); unknown keys are kept."""

    type: Literal[
        "file_save", "text_change", "editor_switch", "debug_session_start", "terminal_open", "git_activity"
    ]
    timestamp: Annotated[
        str,
        msgspec.Meta(
            extra_json_schema={"format": "date-time"},
            description="RFC 3339 with `Z` or an offset, years 1–9999 in UTC, at most 1 hour ahead",
        ),
    ]
    workspace: str
    session_id: Annotated[str, msgspec.Meta(extra_json_schema={"format": "uuid"})]
    file: EventFile | _Optional = msgspec.UNSET
    metrics: EventMetrics | _Optional = msgspec.UNSET
    switch_from: SwitchEnd | _Optional = msgspec.UNSET
    switch_to: SwitchEnd | _Optional = msgspec.UNSET
    debug: DebugInfo | _Optional = msgspec.UNSET
    terminal: TerminalInfo | _Optional = msgspec.UNSET
    git: GitInfo | _Optional = msgspec.UNSET


class SessionSnapshot(msgspec.Struct):
    """The extension's current-session snapshot; recorded at most, never computed on."""

    active_minutes: float | _Optional = msgspec.UNSET
    idle_minutes: float | _Optional = msgspec.UNSET
    total_events_collected: int | _Optional = msgspec.UNSET
    save_frequency: float | _Optional = msgspec.UNSET
    editor_switch_frequency: float | _Optional = msgspec.UNSET


class TelemetryBatch(msgspec.Struct):
    """``POST /telemetry`` (§4.1): only ``events`` is required."""

    events: Annotated[list[TelemetryEvent], msgspec.Meta(min_length=1, max_length=MAX_EVENTS)]
    workspace: str | _Optional = msgspec.UNSET
    machine_timestamp: str | _Optional = msgspec.UNSET
    session: SessionSnapshot | _Optional = msgspec.UNSET


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
    **api_doc(
        auth="either",
        body=TelemetryBatch,
        body_required=True,
        errors=(404,),
        error_texts={
            400: '`{"error":"Invalid JSON"}`, or `{"error":"Validation failed","message":…}` with '
            '"body must be a JSON object" or "events must be a non-empty array"',
            404: '`{"error":"User not found"}` (a JWT whose user is gone)',
            413: '`{"error":"Payload too large"}` over 16 MiB; with more than 10,000 events also '
            '`"message":"events must contain at most 10000 items"`',
        },
        responses={
            202: response_spec(
                "The batch was taken: accepted events are durable, rejected ones listed with their reason",
                IngestResponse,
            )
        },
    ),
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
    if telemetry.runs_inline(len(body)):
        ticket, content = _authenticate_and_ingest(accounts, telemetry, credential, payload)
    else:
        limiter = telemetry.thread_limiter()
        ticket, content = await anyio.to_thread.run_sync(
            _authenticate_and_ingest, accounts, telemetry, credential, payload, limiter=limiter
        )
    if ticket and telemetry.writer is not None:
        await telemetry.writer.wait_durable(ticket)  # acknowledged means on disk
    return Response(content=content, status_code=202, media_type=MediaType.JSON)


ROUTES: list[ControllerRouterHandler] = [ingest_telemetry]
