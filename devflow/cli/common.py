"""What every ``devflow`` command shares: the services of a command-line process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from devflow.config import Settings
from devflow.services import Services, build_services, close


@contextmanager
def command_services(settings: Settings, *, migrate: bool = True) -> Iterator[Services]:
    """The process's services (no lake writer: commands write the lake directly), with the schema
    migrated first; closed at the end."""
    from devflow.db.migrate import upgrade_with_lock

    services = build_services(settings)
    try:
        if migrate:
            upgrade_with_lock(services.engine)
        yield services
    finally:
        close(services)
