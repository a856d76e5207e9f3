"""The ``devflow`` command: ``serve``, ``db upgrade|current`` and the command groups of
:mod:`devflow.cli.jobs` and :mod:`devflow.cli.analytics`. Heavy modules are imported inside the
commands that use them, so ``devflow --help`` and short commands start fast."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, cast

from devflow.config import ConfigError, Settings
from devflow.kernel.files import restrict_new_files
from devflow.logging import configure_logging

log = logging.getLogger("devflow.cli")

Command = Callable[[argparse.Namespace, Settings], int]

# Two processes: the telemetry hot path holds the GIL for most of its work, so one process uses about
# one core. The lake writer (per-process spool segments, flock) and the database (SQLite WAL +
# BEGIN IMMEDIATE) are safe with several processes.
DEFAULT_WORKERS = 2


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    if args.workers > 1:
        import subprocess

        # In a child process: the supervisor only watches the workers, and stays small when it never
        # loads SQLAlchemy, Alembic and the migrations.
        migrated = subprocess.run(
            [sys.executable, "-m", "devflow", "db", "upgrade"], stdout=subprocess.DEVNULL, check=False
        )
        if migrated.returncode != 0:
            return migrated.returncode
    else:
        from devflow.db.engine import make_engine
        from devflow.db.migrate import upgrade_with_lock

        engine = make_engine(settings.database_url)
        upgrade_with_lock(engine)
        engine.dispose()
    settings = settings.with_dev_secret()
    port = args.port or settings.port
    backend = settings.database_url.split(":", 1)[0].split("+", 1)[0]
    log.info("devflow listening on http://%s:%s (database: %s)", args.host, port, backend)
    if args.workers > 1 and settings.metrics_exporter_enabled:
        import shutil

        from devflow.kernel.instruments import multiprocess_folder

        # The workers' value files of a previous run would be summed into this run's figures.
        shutil.rmtree(multiprocess_folder(settings.data_dir), ignore_errors=True)
    if args.workers > 1:
        from devflow.config import warn_if_proxy_unconfigured

        warn_if_proxy_unconfigured(settings)  # once per server, not once per worker process
    uvicorn.run(
        "devflow.cli:app_from_env",
        factory=True,
        host=args.host,
        port=port,
        workers=args.workers,
        access_log=args.access_log,
        log_config=None,
        proxy_headers=False,
    )
    return 0


def app_from_env() -> object:
    """uvicorn factory: each worker process reads the environment itself."""
    # Arrow's default allocator (mimalloc) keeps the pages of freed flush buffers; the system one
    # returns them, which lowers a worker's peak under load at no cost in throughput
    # (bench/ingest.py). Read when pyarrow is first imported; an operator's own choice wins.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    from devflow.app import create_app

    _die_with_supervisor()

    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)


def _die_with_supervisor() -> None:
    """In a uvicorn worker process (``--workers`` > 1): be SIGKILLed when the supervisor dies.

    ``kill -9`` of the server must stop the whole server, as it does with one process; orphaned
    workers would keep serving and hold the port. Acknowledged events stay safe either way (the
    spool is fsync'd before every 202 and replayed at the next start). Linux only; a no-op elsewhere.
    """
    import multiprocessing
    import signal

    if multiprocessing.parent_process() is None or not sys.platform.startswith("linux"):
        return
    import ctypes

    supervisor = os.getppid()
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != supervisor:  # the supervisor died before prctl took effect
        os.kill(os.getpid(), signal.SIGKILL)


def _cmd_db_upgrade(_: argparse.Namespace, settings: Settings) -> int:
    from devflow.db.engine import make_engine
    from devflow.db.migrate import current_revision, upgrade_with_lock

    engine = make_engine(settings.database_url)
    upgrade_with_lock(engine)
    print(f"database at revision {current_revision(engine)}")
    return 0


def _cmd_db_current(_: argparse.Namespace, settings: Settings) -> int:
    from devflow.db.engine import make_engine
    from devflow.db.migrate import current_revision

    print(current_revision(make_engine(settings.database_url)) or "(empty database)")
    return 0


class _DefaultsFormatter(argparse.HelpFormatter):
    """Appends ``(default: …)`` to an option's help unless the help already says it or the default
    is "unset" (None/False)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            "default" in text
            or not action.option_strings
            or action.default is None
            or action.default is False
            or action.default is argparse.SUPPRESS
            or isinstance(action, argparse._HelpAction)
        ):
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """Every (sub)command's parser shows the defaults of its options in ``--help``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="devflow", description="devflow backend")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also log database migrations and other INFO lines"
    )
    sub = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", required=True),
    )

    serve = sub.add_parser("serve", help="run the HTTP API (applies migrations first)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=None, help="default: $PORT or 3000")
    serve.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help=f"uvicorn worker processes (default {DEFAULT_WORKERS}: one interpreter's GIL bounds ingest)",
    )
    serve.add_argument("--access-log", action="store_true")
    serve.set_defaults(func=_cmd_serve)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply pending migrations").set_defaults(func=_cmd_db_upgrade)
    db.add_parser("current", help="print the current revision").set_defaults(func=_cmd_db_current)

    for register in _context_commands():
        register(sub)
    return parser


def _context_commands() -> list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]]:
    """Each group of commands contributes a ``register(subparsers)`` function here."""
    from devflow.cli.analytics import register as register_analytics
    from devflow.cli.jobs import register as register_jobs
    from devflow.cli.rights import register as register_rights

    return [register_jobs, register_analytics, register_rights]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    restrict_new_files()
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"devflow: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    if not args.verbose:
        # Migrations run before most commands: their INFO lines would bury the command's output.
        logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))
    func: Command = args.func
    return func(args, settings)


if __name__ == "__main__":
    raise SystemExit(main())
