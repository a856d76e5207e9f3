"""Lake helpers for tests: write event tables the way a flush or an import does, and look at the lake."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from litestar.testing import TestClient
from sqlalchemy.orm import Session, sessionmaker

from devflow.lake.partitions import WrittenFile, write_partitioned
from devflow.lake.registry import register_files
from devflow.lake.storage import LakeStorage
from devflow.services import Services
from devflow.telemetry import EVENTS_TABLE


def write_event_files(
    storage: LakeStorage, db: sessionmaker[Session], table: pa.Table, *, file_id: str | None = None
) -> list[WrittenFile]:
    """Write an ``EVENT_SCHEMA`` table as one file per UTC date and register each (after the rename)."""
    files = write_partitioned(storage, EVENTS_TABLE, table, file_id=file_id)
    register_files(db, files)
    return files


def services_of(client: TestClient[Any]) -> Services:
    """The running app's services."""
    services: Services = client.app.state["services"]
    return services
