"""``devflow generate`` and ``devflow backtest``: the analysts' and researchers' commands."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from devflow.cli.common import command_services, progress_bar
from devflow.config import Settings


def _cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    from devflow.analytics.generate import default_end_date, write_synthetic
    from devflow.analytics.synthetic import SyntheticSpec

    spec = SyntheticSpec(
        users=args.users,
        days=args.days,
        seed=args.seed,
        end_date=args.end_date or default_end_date(),
        intensity=args.intensity,
    )
    with command_services(settings) as services, progress_bar("generating user-days") as update:
        report = write_synthetic(settings, spec, db=services.db, workers=args.workers, progress=update)
    first = spec.end_date - timedelta(days=spec.days - 1)
    print(
        f"generated {report.events_written} events for {spec.users} users over {spec.days} days "
        f"({first} – {spec.end_date}, seed {spec.seed}): {report.user_days} user-days, "
        f"{report.sessions} sessions, {report.files_written} files, {report.users_created} new users "
        f"in {report.seconds:.1f} s"
    )
    if report.events_skipped_future:
        print(f"left out {report.events_skipped_future} events later than now")
    print(f"lake: {settings.lake_url}")
    for persona, names in sorted(report.planted.items()):
        print(f"planted {persona}: {', '.join(names)}")
    return 0


def _cmd_backtest(args: argparse.Namespace, settings: Settings) -> int:
    from devflow.analytics.backtest import format_scores, format_table, parse_grid, run_backtest
    from devflow.analytics.runs import compare_runs, resolve_run, write_run

    root = args.out or (settings.data_dir / "backtest")
    if args.compare:
        try:
            a, b = (resolve_run(ref, root) for ref in args.compare)
        except ValueError as exc:
            print(f"devflow backtest: {exc}", file=sys.stderr)
            return 2
        print(compare_runs(a, b))
        return 0
    try:
        grid = parse_grid(args.set or [])
    except ValueError as exc:
        print(f"devflow backtest: {exc}", file=sys.stderr)
        return 2
    if args.labels is not None and not args.labels.exists():
        print(f"devflow backtest: labels file {args.labels} not found", file=sys.stderr)
        return 2
    started = time.perf_counter()
    with progress_bar("backtest steps") as update:
        result = run_backtest(
            args.lake,
            settings=settings,
            grid=grid,
            date_from=args.date_from,
            date_to=args.date_to,
            cadence=timedelta(minutes=args.cadence_minutes) if args.cadence_minutes else None,
            labels=args.labels,
            progress=update,
        )
    computed = time.perf_counter() - started
    folder = write_run(result, root, settings)
    print(
        f"backtest {result.date_from} – {result.date_to}, every {result.cadence.total_seconds() / 60:g} min: "
        f"{result.features.height} evaluations, {result.summary.height} combinations in {computed:.1f} s"
    )
    print(format_table(result.summary))
    if not result.summary["current"].any():
        print("(the configured thresholds are not on this grid: no ★ row)")
    print(format_scores(result.scores, result.summary))
    print(f"run: {folder}  (manifest.json, backtest.csv/.parquet, scores, per_user, nudges, backtest.png)")
    return 0


def _cmd_sql(args: argparse.Namespace, settings: Settings) -> int:
    import duckdb

    from devflow.analytics import connect

    con = connect(args.lake, settings)
    try:
        relation = con.sql(args.query)
        if relation is None:  # a statement without a result (SET, CREATE VIEW …)
            return 0
        if args.csv:
            relation.write_csv(str(args.csv), header=True)
            print(f"{relation.shape[0]} rows → {args.csv}")
        elif args.parquet:
            relation.write_parquet(str(args.parquet))
            print(f"{relation.shape[0]} rows → {args.parquet}")
        else:
            relation.show(max_width=args.width, max_rows=args.max_rows)
    except duckdb.Error as exc:
        print(f"devflow sql: {exc}", file=sys.stderr)
        return 2
    finally:
        con.close()
    return 0


def _cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from sqlalchemy import func, select

    from devflow.accounts import User, issue_api_token

    if settings.production:
        print("devflow token: development only (DEVFLOW_ENV=production)", file=sys.stderr)
        return 2
    with command_services(settings) as services:
        with services.db() as session:
            user = session.scalars(
                select(User).where(func.lower(User.email) == args.email.strip().lower())
            ).first()
        if user is None:
            print(f"devflow token: no user with email {args.email}", file=sys.stderr)
            return 2
        issued = issue_api_token(services.db, user.id, args.name, datetime.now(UTC))
    if issued is None:
        print(f"devflow token: user {args.email} was just deleted", file=sys.stderr)
        return 2
    # The token itself is the command's output (stdout only; never logged).
    print(issued.plaintext)
    return 0


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected YYYY-MM-DD") from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("expected an integer >= 1")
    return value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``generate`` and ``backtest`` to the ``devflow`` command."""
    gen = sub.add_parser(
        "generate",
        help="write realistic synthetic telemetry (users, sessions, events) through the ingest path",
    )
    gen.add_argument(
        "--users", type=_positive_int, default=20, help="users to create (planted personas included)"
    )
    gen.add_argument(
        "--days", type=_positive_int, default=7, help="local days per user, ending at --end-date"
    )
    gen.add_argument("--seed", type=int, default=0, help="the same seed gives the same data")
    gen.add_argument("--end-date", type=_date, default=None, help="last local day (default: today, UTC)")
    gen.add_argument("--intensity", type=float, default=1.0, help="scales events per hour (default 1)")
    gen.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="processes that build the events (default 1: on a busy machine more only add overhead)",
    )
    gen.set_defaults(func=_cmd_generate)

    sql = sub.add_parser(
        "sql",
        help="run one SQL query over the analyst views (events, users, sessions, metrics, …)",
        description="Run a DuckDB query over the analyst views of devflow.analytics.connect() and "
        "print the result, or write it to a CSV or Parquet file. The data dictionary: "
        "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE comment IS NOT NULL.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sql.add_argument("query", help='e.g. "SELECT type, count(*) FROM events GROUP BY type"')
    target = sql.add_mutually_exclusive_group()
    target.add_argument("--csv", type=Path, default=None, help="write the result to this CSV file")
    target.add_argument("--parquet", type=Path, default=None, help="write the result to this Parquet file")
    sql.add_argument("--lake", default=None, help="lake path or URL (default: DEVFLOW_LAKE_URL)")
    sql.add_argument("--max-rows", type=int, default=40, help="rows printed (the file gets them all)")
    sql.add_argument("--width", type=int, default=120, help="printed table width")
    sql.set_defaults(func=_cmd_sql)

    token = sub.add_parser(
        "token",
        help="development only: print a new API token for a user (e.g. a generated one) by email",
        description="Mint an API token (dvf_…) for the user with this email and print it, to call the "
        "API as that user: curl -H 'Authorization: Bearer <token>' … Refused when DEVFLOW_ENV=production.",
    )
    token.add_argument("--email", required=True, help="the user's email, e.g. dana0000@devflow.example")
    token.add_argument("--name", default="devflow token (development)", help="the token's name")
    token.set_defaults(func=_cmd_token)

    bt = sub.add_parser("backtest", help="replay the insight rules over history for a grid of thresholds")
    bt.add_argument(
        "--set",
        action="append",
        metavar="NAME=v1,v2",
        help="a threshold and the values to try, e.g. RULE_HIGH_CHURN_RATIO=0.3,0.4,0.5 (repeatable)",
    )
    bt.add_argument(
        "--from", dest="date_from", type=_date, default=None, help="first UTC day (default: lake)"
    )
    bt.add_argument("--to", dest="date_to", type=_date, default=None, help="last UTC day (default: lake)")
    bt.add_argument(
        "--cadence-minutes",
        type=float,
        default=None,
        help="evaluation cadence (default: INSIGHT_CHECK_INTERVAL_SECONDS)",
    )
    bt.add_argument("--lake", default=None, help="lake path or URL (default: DEVFLOW_LAKE_URL)")
    bt.add_argument(
        "--out",
        type=Path,
        default=None,
        help="runs folder; each run gets a subfolder (default: <data dir>/backtest)",
    )
    bt.add_argument(
        "--labels",
        type=Path,
        default=None,
        help="labels to score against, Parquet or CSV with user_id, session_id, rule "
        "(default: <lake>/labels.parquet)",
    )
    bt.add_argument(
        "--compare",
        nargs=2,
        metavar=("RUN_A", "RUN_B"),
        default=None,
        help="compare two earlier runs (folders or run ids under --out) instead of running",
    )
    bt.set_defaults(func=_cmd_backtest)
