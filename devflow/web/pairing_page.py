"""``/extension/pair?code=XXXX-XXXX``: the page the extension opens (``verification_uri``) where the
signed-in user approves or denies an editor's pairing request (contract §3.5, checklist #131)."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.response import Template

from devflow.accounts import (
    Accounts,
    ApproveOutcome,
    PairingState,
    approve_pairing,
    configured_providers,
    deny_pairing,
    find_pairing_request,
    normalise_user_code,
)
from devflow.kernel.errors import ValidationFailed
from devflow.web.rendering import SECURITY_HEADERS, page_context
from devflow.web.session import AnyRequest, current_viewer, redirect, sign_out_cookie, with_next

PAIR_PATH = "/extension/pair"
# The extension does not say which editor it runs in; this is what we know asked.
REQUESTER = "VS Code extension"

# What an approve/deny attempt found, as the page's state and HTTP status.
_APPROVE_RESULT = {
    ApproveOutcome.APPROVED: ("approved", 200),
    ApproveOutcome.ALREADY_USED: ("used", 409),
    ApproveOutcome.EXPIRED: ("expired", 410),
    ApproveOutcome.NOT_FOUND: ("unknown", 404),
}
_DENY_RESULT = {**_APPROVE_RESULT, ApproveOutcome.APPROVED: ("denied", 200)}


def pair_url(code: str) -> str:
    """The approval page of ``code``."""
    return f"{PAIR_PATH}?code={code}"


def _context(accounts: Accounts, **values: Any) -> dict[str, Any]:
    values.setdefault("pairing", None)
    values.setdefault("code", "")
    values.setdefault("state", None)
    values.setdefault("requester", REQUESTER)
    values.setdefault("providers", configured_providers(accounts.settings))
    # The embedded sign-in form's fields.
    values.setdefault("errors", {})
    values.setdefault("message", None)
    values.setdefault("email", "")
    values.setdefault("next", pair_url(values["code"]))
    return page_context(**values)


@get(PAIR_PATH, name="pair")
async def pair_page(request: AnyRequest, accounts: NamedDependency[Accounts]) -> Response[Any]:
    """Logged in: the request for the code with Approve and Deny (or why it can no longer be approved).
    Logged out: the code and a sign-in form that comes back here."""
    raw = request.query_params.get("code") or ""
    code = normalise_user_code(raw)
    viewer = await current_viewer(request, accounts)
    if not code:
        return Template(
            "pair.html", context=_context(accounts, viewer=viewer, state="enter"), headers=SECURITY_HEADERS
        )
    if viewer is None:
        context = _context(accounts, code=code, state="sign_in")
        return Template("pair.html", context=context, headers=SECURITY_HEADERS)
    pairing = await anyio.to_thread.run_sync(find_pairing_request, accounts.db, code, accounts.clock())
    state = {
        PairingState.PENDING: "pending",
        PairingState.USED: "used",
        PairingState.EXPIRED: "expired",
        PairingState.UNKNOWN: "unknown",
    }[pairing.state]
    context = _context(accounts, viewer=viewer, code=code, pairing=pairing, state=state)
    return Template("pair.html", context=context, headers=SECURITY_HEADERS)


@post(PAIR_PATH, name="pair_decision")
async def pair_decision(request: AnyRequest, accounts: NamedDependency[Accounts]) -> Response[Any]:
    """Approve (mint the token the extension's next exchange collects) or deny (the pairing ends as
    expired: the exchange answers 410)."""
    form = await request.form()
    raw = form.get("code")
    code = normalise_user_code(raw if isinstance(raw, str) else "")
    viewer = await current_viewer(request, accounts)
    if viewer is None:
        return redirect(with_next("/login", pair_url(code)))
    decision = form.get("decision")
    now = accounts.clock()
    if decision == "approve":
        outcome = await anyio.to_thread.run_sync(approve_pairing, accounts.db, code, viewer.user_id, now)
        if outcome is ApproveOutcome.USER_MISSING:  # the account was deleted under a live session
            return redirect(with_next("/login", pair_url(code)), sign_out_cookie(accounts))
        state, status = _APPROVE_RESULT[outcome]
    elif decision == "deny":
        state, status = _DENY_RESULT[await anyio.to_thread.run_sync(deny_pairing, accounts.db, code, now)]
    else:
        raise ValidationFailed("decision must be approve or deny")
    context = _context(accounts, viewer=viewer, code=code, state=state)
    return Template("pair.html", context=context, status_code=status, headers=SECURITY_HEADERS)
