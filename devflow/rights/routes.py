"""HTTP handlers of the data-rights routes: ``DELETE /me`` (and ``GET /me/export``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio.to_thread
import msgspec
from litestar import Request, delete, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Stream
from litestar.types import ControllerRouterHandler

from devflow.accounts import Principal, check_deletion_allowed, load_user
from devflow.http.body import read_json_body
from devflow.http.credentials import extract_credential
from devflow.http.openapi import api_doc
from devflow.kernel.errors import NotFound, SchemaValidationFailed
from devflow.kernel.jsontext import ABSENT
from devflow.rights.deletion import delete_account
from devflow.rights.export import stream_export
from devflow.services import Services

AnyRequest = Request[Any, Any, Any]
_TAGS = ["data rights"]
DELETE_JWT_ONLY = "API tokens cannot delete the account"
EXPORT_JWT_ONLY = "API tokens cannot export the account"


class DeleteAccountIn(msgspec.Struct, forbid_unknown_fields=True):
    """``DELETE /me``: the password of a password account (OAuth accounts send nothing)."""

    password: str | None = None


def _parse(body: Any) -> DeleteAccountIn:
    if body is ABSENT:
        return DeleteAccountIn()
    try:
        return msgspec.convert(body, DeleteAccountIn)
    except msgspec.ValidationError as exc:
        raise SchemaValidationFailed([{"instancePath": "", "message": str(exc)}]) from exc


@delete(
    "/me",
    status_code=204,
    operation_id="delete_my_account",
    tags=_TAGS,
    **api_doc(
        auth="jwt",
        body=DeleteAccountIn,
        errors=(404,),
        error_texts={
            400: "Invalid JSON, or a body that is not {password?: string}",
            401: "No valid credential, or a wrong password",
            403: "An API token, or an OAuth sign-in older than DELETION_FRESH_SIGNIN_MINUTES",
            404: '`{"error":"User not found"}`',
        },
    ),
)
async def delete_me(
    request: AnyRequest, services: NamedDependency[Services], principal: NamedDependency[Principal]
) -> None:
    """Delete the caller's account and every row of theirs, lake included (see README)."""
    principal.require_jwt(DELETE_JWT_ONLY)
    body = _parse(await read_json_body(request))
    settings = services.settings
    await anyio.to_thread.run_sync(
        check_deletion_allowed,
        services.db,
        settings.jwt_secret,
        principal.user_id,
        extract_credential(request) or "",
        body.password,
        services.clock(),
        timedelta(minutes=settings.deletion_fresh_signin_minutes),
    )
    await anyio.to_thread.run_sync(delete_account, services, principal.user_id)


@get(
    "/me/export",
    operation_id="export_my_data",
    tags=_TAGS,
    **api_doc(
        auth="jwt",
        errors=(404,),
        error_texts={403: "An API token", 404: '`{"error":"User not found"}`'},
        responses={
            200: ResponseSpec(
                data_container=bytes,
                media_type="application/zip",
                description="The ZIP, streamed (`Content-Disposition: attachment`); entries in the README",
                generate_examples=False,
            )
        },
    ),
)
async def export_me(services: NamedDependency[Services], principal: NamedDependency[Principal]) -> Stream:
    """A ZIP (``application/zip``) of everything stored about the caller, streamed as it is built."""
    principal.require_jwt(EXPORT_JWT_ONLY)
    user = await anyio.to_thread.run_sync(load_user, services.db, principal.user_id)
    if user is None:
        raise NotFound("User not found")
    stamp = services.clock().strftime("%Y%m%dT%H%M%SZ")
    return Stream(
        stream_export(services, principal.user_id),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="devflow-export-{stamp}.zip"',
            "Cache-Control": "no-store",
        },
    )


ROUTES: list[ControllerRouterHandler] = [delete_me, export_me]
