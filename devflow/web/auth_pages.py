"""The landing page, sign-in, sign-up and sign-out.

Sign-in and sign-up go through the accounts context exactly like ``POST /api/v1/auth/login`` and
``/register``: the same per-IP and per-email limits, the same schema rules, bcrypt and JWT, and the
same ``session`` cookie. Wrong credentials get one message whether or not the email exists.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.response import Template

from devflow.accounts import Accounts, SignedIn, configured_providers, parse_login, parse_register
from devflow.http.clients import client_ip
from devflow.kernel.errors import AlreadyDone, RateLimited, SchemaValidationFailed, Unauthenticated
from devflow.web.rendering import SECURITY_HEADERS, page_context
from devflow.web.session import (
    AnyRequest,
    current_viewer,
    redirect,
    safe_next,
    sign_in_cookie,
    sign_out_cookie,
)

WRONG_CREDENTIALS = "That email and password do not match an account."
# Sign-up cannot succeed for a registered email; the message does not say that is the reason.
SIGN_UP_REFUSED = (
    "We could not create an account with these details. If you already have an account, sign in instead."
)
TOO_MANY = "Too many attempts. Wait a minute and try again."
# The schema's field problems, said for people.
FIELD_PROBLEMS = {
    "/email": "Enter an email address like name@example.com.",
    "/password": "Use a password of at least 8 characters.",
    "/username": "A username has 3 to 50 characters.",
}


def _field(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _form_page(
    accounts: Accounts, template: str, status: int, headers: dict[str, str] | None = None, **values: Any
) -> Template:
    values.setdefault("errors", {})
    values.setdefault("message", None)
    values.setdefault("email", "")
    values.setdefault("username", "")
    values.setdefault("providers", configured_providers(accounts.settings))
    return Template(
        template,
        context=page_context(**values),
        status_code=status,
        headers={**SECURITY_HEADERS, **(headers or {})},
    )


def _field_errors(exc: SchemaValidationFailed) -> dict[str, str]:
    errors: dict[str, str] = {}
    for item in exc.details or []:
        path = str(item.get("instancePath", ""))
        errors.setdefault(path.lstrip("/") or "form", FIELD_PROBLEMS.get(path, "Check this field."))
    return errors


def _rate_limited(accounts: Accounts, template: str, exc: RateLimited, **values: Any) -> Template:
    return _form_page(
        accounts, template, 429, {"Retry-After": str(exc.retry_after)}, message=TOO_MANY, **values
    )


@get("/", name="home")
async def landing_page(request: AnyRequest, accounts: NamedDependency[Accounts]) -> Response[Any]:
    """Signed in: the dashboard. Otherwise a short introduction with sign-in and sign-up."""
    if await current_viewer(request, accounts) is not None:
        return redirect("/dashboard")
    return Template("landing.html", context=page_context(), headers=SECURITY_HEADERS)


@get("/login", name="login")
async def login_page(request: AnyRequest, accounts: NamedDependency[Accounts]) -> Response[Any]:
    """The sign-in form; ``?next=`` (a path on this site) is where a successful sign-in goes."""
    target = safe_next(request.query_params.get("next"))
    if await current_viewer(request, accounts) is not None:
        return redirect(target)
    return _form_page(accounts, "login.html", 200, next=target)


@post("/login", name="login_submit")
async def login_submit(request: AnyRequest, accounts: NamedDependency[Accounts]) -> Response[Any]:
    """Check the email and password like ``POST /api/v1/auth/login``; on success set the session cookie
    and go to ``next``."""
    form = await request.form()
    target = safe_next(_field(form, "next"))
    email = _field(form, "email")
    values: dict[str, Any] = {"next": target, "email": email}
    try:
        await anyio.to_thread.run_sync(
            accounts.count_ip_attempt, client_ip(request, accounts.settings.trust_proxy)
        )
        credentials = parse_login({"email": email, "password": _field(form, "password")})
        signed_in: SignedIn = await anyio.to_thread.run_sync(accounts.sign_in, credentials)
    except RateLimited as exc:
        return _rate_limited(accounts, "login.html", exc, **values)
    except SchemaValidationFailed as exc:
        return _form_page(accounts, "login.html", 400, errors=_field_errors(exc), **values)
    except Unauthenticated:
        return _form_page(accounts, "login.html", 400, message=WRONG_CREDENTIALS, **values)
    return redirect(target, sign_in_cookie(accounts, signed_in.token))


@get("/register", name="register")
async def register_page(request: AnyRequest, accounts: NamedDependency[Accounts]) -> Response[Any]:
    """The sign-up form (``?next=`` as for sign-in)."""
    target = safe_next(request.query_params.get("next"))
    if await current_viewer(request, accounts) is not None:
        return redirect(target)
    return _form_page(accounts, "register.html", 200, next=target)


@post("/register", name="register_submit")
async def register_submit(request: AnyRequest, accounts: NamedDependency[Accounts]) -> Response[Any]:
    """Create a password account like ``POST /api/v1/auth/register``, sign in, go to ``next``."""
    form = await request.form()
    target = safe_next(_field(form, "next"))
    email, username = _field(form, "email"), _field(form, "username").strip()
    values: dict[str, Any] = {"next": target, "email": email, "username": username}
    body = {"email": email, "password": _field(form, "password")}
    if username:
        body["username"] = username
    try:
        await anyio.to_thread.run_sync(
            accounts.count_ip_attempt, client_ip(request, accounts.settings.trust_proxy)
        )
        credentials = parse_register(body)
        signed_in: SignedIn = await anyio.to_thread.run_sync(accounts.register, credentials)
    except RateLimited as exc:
        return _rate_limited(accounts, "register.html", exc, **values)
    except SchemaValidationFailed as exc:
        return _form_page(accounts, "register.html", 400, errors=_field_errors(exc), **values)
    except AlreadyDone:
        return _form_page(accounts, "register.html", 400, message=SIGN_UP_REFUSED, **values)
    return redirect(target, sign_in_cookie(accounts, signed_in.token))


@post("/logout", name="logout")
async def logout_submit(accounts: NamedDependency[Accounts]) -> Response[Any]:
    """Clear the session cookie (like ``POST /api/v1/auth/logout``) and go to the sign-in page."""
    return redirect("/login", sign_out_cookie(accounts))
