"""Routers for apps built more than once in a process (each test builds its own app)."""

from __future__ import annotations

from typing import Any

from litestar import Router


class OneAppRouter(Router):
    """A router built for one app, which that app takes as it is instead of deep-copying it.

    Litestar deep-copies every router it registers, so that one router can be mounted on several
    apps, and copying the handlers' parsed signatures is a large part of building an app. A router
    built per app and registered on that app alone has nothing to share: its handlers are already
    its own copies (``Router.register`` copies each handler it takes).
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> OneAppRouter:
        return self
