"""``GET /api/v1/health`` — performs no I/O (contract §3.1)."""

from __future__ import annotations

from typing import Literal

import msgspec
from litestar import get

from devflow.http.openapi import api_doc


class HealthOut(msgspec.Struct):
    status: Literal["ok"]


_OK = HealthOut(status="ok")


@get("/health", operation_id="health", tags=["ops"], sync_to_thread=False, **api_doc(auth="none"))
def health() -> HealthOut:
    """Liveness: 200 ``{"status":"ok"}``."""
    return _OK
