"""``GET /api/v1/health`` — performs no I/O (contract §3.1)."""

from __future__ import annotations

from litestar import get


@get("/health", operation_id="health", tags=["ops"], sync_to_thread=False)
def health() -> dict[str, str]:
    """Liveness: 200 ``{"status":"ok"}``."""
    return {"status": "ok"}
