"""Routers for apps built more than once in a process (each test builds its own app)."""

from __future__ import annotations

from typing import Any

from litestar import Router


class OneAppRouter(Router):
    """A router built for one app, which that app need not deep-copy.

    Litestar deep-copies every router it registers, so that one router can be mounted on several
    apps, and copying the handlers' parsed signatures is a large part of building an app. This router
    is built per app and its handlers are already copies (``Router.register`` copies each handler it
    takes), so building it again from its arguments gives the app the independent copy it asks for.
    """

    def __init__(self, **arguments: Any) -> None:
        super().__init__(**arguments)
        self._arguments = arguments

    def __deepcopy__(self, memo: dict[int, Any]) -> OneAppRouter:
        return OneAppRouter(**self._arguments)
