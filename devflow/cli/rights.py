"""``devflow users delete --email E``, ``devflow export --email E --out FILE`` and
``devflow lake retain [--dry-run]`` (issue 16)."""

from __future__ import annotations

import argparse

from devflow.cli.common import command_services
from devflow.config import Settings


def _cmd_users_delete(args: argparse.Namespace, settings: Settings) -> int:
    from devflow.accounts import find_user_id_by_email, pending_deletions
    from devflow.rights.deletion import delete_account, finish_deletion

    with command_services(settings) as services:
        user_id = find_user_id_by_email(services.db, args.email)
        if user_id is None:
            # The user row goes in step 2: a deletion killed after it is finished from the journal.
            for pending in pending_deletions(services.db):
                finish_deletion(services, pending)
            print(f"no account with email {args.email}")
            return 1
        done = delete_account(services, user_id)
        print(f"deleted account {user_id}" + ("" if done else " (lake step pending: the ETL holds its lock)"))
        return 0 if done else 3


def _cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    import os
    from pathlib import Path

    from devflow.accounts import find_user_id_by_email
    from devflow.rights.export import export_zip

    with command_services(settings) as services:
        user_id = find_user_id_by_email(services.db, args.email)
        if user_id is None:
            print(f"no account with email {args.email}")
            return 1
        out = Path(args.out)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as handle:
            for chunk in export_zip(services, user_id):
                handle.write(chunk)
        tmp.replace(out)  # a half-written export never carries the final name
        print(f"exported account {user_id} to {out} ({out.stat().st_size} bytes)")
        return 0


def _cmd_lake_retain(args: argparse.Namespace, settings: Settings) -> int:
    from devflow.rights.retention import apply_retention

    with command_services(settings) as services:
        decisions = apply_retention(services, dry_run=args.dry_run)
        if decisions is None:
            print("the metrics ETL is running; try again")
            return 1
        verb = "would drop" if args.dry_run else "dropped"
        for d in decisions:
            print(f"{verb if d.drop else 'keep'} {d.kind} date={d.date} ({len(d.files)} files): {d.reason}")
        print(f"{sum(d.drop for d in decisions)} partition(s) {verb}")
        return 0


def add_retain_command(lake: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``devflow lake retain [--dry-run]`` (added to the ``lake`` group of :mod:`devflow.cli.jobs`)."""
    retain = lake.add_parser(
        "retain",
        help="drop raw event and quarantine partitions past their retention",
    )
    retain.add_argument("--dry-run", action="store_true", help="only show what would go")
    retain.set_defaults(func=_cmd_lake_retain)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``users`` to the ``devflow`` command."""
    users = sub.add_parser("users", help="user accounts").add_subparsers(dest="users_command", required=True)
    delete = users.add_parser("delete", help="delete an account and every row of it, lake included")
    delete.add_argument("--email", required=True)
    delete.set_defaults(func=_cmd_users_delete)
    export = sub.add_parser("export", help="write one user's data export (a ZIP)")
    export.add_argument("--email", required=True)
    export.add_argument("--out", required=True, help="the ZIP file to write")
    export.set_defaults(func=_cmd_export)
