"""What every ``devflow`` command shares: the services of a command-line process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from devflow.config import Settings

if TYPE_CHECKING:  # the services (every context) load only in the commands that use them
    from devflow.services import Services


@contextmanager
def command_services(settings: Settings, *, migrate: bool = True) -> Iterator[Services]:
    """The process's services (no lake writer: commands write the lake directly), with the schema
    migrated first; closed at the end."""
    from devflow.db.migrate import upgrade_with_lock
    from devflow.services import build_services, close

    services = build_services(settings)
    try:
        if migrate:
            upgrade_with_lock(services.engine)
        yield services
    finally:
        close(services)


def _stderr() -> Console:
    return Console(stderr=True)


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[Callable[[int, int | None], None]]:
    """A progress bar on stderr when it is a terminal (nothing otherwise: logs and pipes stay clean).

    Yields ``update(done, total)``: ``done`` units of ``total`` (``total`` may change on the way).
    """
    console = _stderr()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(description, total=total)

        def update(done: int, new_total: int | None = None) -> None:
            bar.update(task, completed=done, total=new_total if new_total is not None else bar.tasks[0].total)

        yield update


@contextmanager
def spinner(description: str) -> Iterator[None]:
    """An indeterminate status line with the elapsed time, on a terminal only."""
    console = _stderr()
    if not console.is_terminal:
        yield
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        bar.add_task(description, total=None)
        yield
