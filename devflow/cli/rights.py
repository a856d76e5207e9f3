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


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``users`` to the ``devflow`` command."""
    users = sub.add_parser("users", help="user accounts").add_subparsers(dest="users_command", required=True)
    delete = users.add_parser("delete", help="delete an account and every row of it, lake included")
    delete.add_argument("--email", required=True)
    delete.set_defaults(func=_cmd_users_delete)
