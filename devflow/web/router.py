"""The pages' router: every page behind Litestar's CSRF middleware, and the static files beside it."""

from __future__ import annotations

import hashlib
import hmac

from litestar.config.csrf import CSRFConfig
from litestar.datastructures import CacheControlHeader
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from devflow.config import Settings
from devflow.http.routers import OneAppRouter
from devflow.web.auth_pages import (
    landing_page,
    login_page,
    login_submit,
    logout_submit,
    register_page,
    register_submit,
)
from devflow.web.dashboard import dashboard_page, recommendation_action
from devflow.web.pairing_page import pair_decision, pair_page
from devflow.web.rendering import STATIC_DIR, STATIC_PREFIX
from devflow.web.settings_page import (
    create_token,
    delete_account_page,
    export_data,
    revoke_token,
    set_time_zone,
    settings_page,
)

CSRF_COOKIE = "csrftoken"
PAGES: list[ControllerRouterHandler] = [
    landing_page,
    login_page,
    login_submit,
    register_page,
    register_submit,
    logout_submit,
    pair_page,
    pair_decision,
    dashboard_page,
    recommendation_action,
    settings_page,
    create_token,
    revoke_token,
    set_time_zone,
    export_data,
    delete_account_page,
]


def csrf_config(settings: Settings) -> CSRFConfig:
    """Double-submit tokens signed with a key derived from ``JWT_SECRET`` (every worker and replica
    checks every other's tokens). The cookie is Lax: a cross-site form post arrives without it."""
    key = hmac.new(settings.jwt_secret.encode(), b"devflow web pages csrf", hashlib.sha256).hexdigest()
    return CSRFConfig(
        secret=key,
        cookie_name=CSRF_COOKIE,
        cookie_httponly=True,
        cookie_secure=settings.production,
        cookie_samesite="lax",
    )


def web_routes(settings: Settings) -> list[ControllerRouterHandler]:
    """The pages at the service root and ``/static``. The CSRF middleware sits on the pages' router
    only: the JSON API never sees it (its clients send no CSRF token; the edge gate's Origin check
    covers it)."""
    pages = OneAppRouter(
        path="/",
        route_handlers=PAGES,
        middleware=[DefineMiddleware(CSRFMiddleware, config=csrf_config(settings))],
        include_in_schema=False,
    )
    static = create_static_files_router(
        path=STATIC_PREFIX,
        directories=[STATIC_DIR],
        # URLs carry a content hash (rendering.static_url), so a file never changes under its URL.
        cache_control=CacheControlHeader(max_age=31_536_000, public=True),
        include_in_schema=False,
    )
    return [pages, static]
