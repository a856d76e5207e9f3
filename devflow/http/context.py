"""The application context: long-lived resources built by ``create_app`` and kept on ``app.state``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from litestar import Request
from litestar.datastructures import State
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from devflow.config import Settings

if TYPE_CHECKING:
    from devflow.lake.storage import LakeStorage
    from devflow.lake.writer import LakeWriter


@dataclass(slots=True)
class AppContext:
    """Everything a request handler may need. Contexts add their own resources to ``extras``."""

    settings: Settings
    engine: Engine
    db: sessionmaker[Session]
    extras: dict[str, Any] = field(default_factory=dict)
    # The lake (Settings.lake_url) and this process's durable writer; set by the app lifespan.
    lake: LakeStorage | None = None
    lake_writer: LakeWriter | None = None


def app_context(state: State) -> AppContext:
    ctx: AppContext = state["ctx"]
    return ctx


def request_context(request: Request[Any, Any, Any]) -> AppContext:
    return app_context(request.app.state)
