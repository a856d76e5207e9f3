"""Rule evaluation for 10,000 synthetic users: gates → features → rules, excluding generator calls.

The issue's goal is < 1 s. Run: ``.venv/bin/python bench/rules.py [users] [repeats]``.
Prints the median and best wall time of :func:`screen_candidates` (the scheduled pass's screen)
(gate frame → cooldown decisions, feature frame from sessions and today's metrics, the five rules)
and how many users each rule caught.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import polars as pl

from devflow.insights import RuleThresholds, apply_rules, build_features
from devflow.insights.gates import CooldownPolicy, gate_columns
from devflow.insights.pipeline import drop_users_in_cooldown


def screen_candidates(
    sessions: pl.DataFrame,
    gate_inputs: pl.DataFrame,
    day_metrics: pl.DataFrame,
    now: datetime,
    policy: CooldownPolicy,
    thresholds: RuleThresholds,
) -> pl.DataFrame:
    """What :func:`devflow.insights.run_insights` does before any evaluation: the gates, then the
    features and rules of the users they let through (one row per user, with ``rule``)."""
    open_sessions = drop_users_in_cooldown(sessions, gate_inputs, now, policy)
    return apply_rules(build_features(open_sessions, day_metrics), thresholds)


def synthetic_inputs(
    users: int, now: datetime, seed: int = 7
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Sessions, gate inputs and day metrics for ``users`` users with a realistic spread of values."""
    rng = random.Random(seed)
    ids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(users)]
    starts, lasts = [], []
    for _ in ids:
        last = now - timedelta(seconds=rng.randint(0, 1800))
        starts.append(last - timedelta(minutes=rng.expovariate(1 / 70)))
        lasts.append(last)
    sessions = pl.DataFrame(
        {
            "user_id": ids,
            "session_id": [str(uuid.uuid4()) for _ in ids],
            "start_time": starts,
            "last_event_at": lasts,
        },
        schema={
            "user_id": pl.String,
            "session_id": pl.String,
            "start_time": pl.Datetime("us", "UTC"),
            "last_event_at": pl.Datetime("us", "UTC"),
        },
    )
    actions = [None, None, "accepted", "dismissed", "snoozed", "expired"]
    gate_rows: dict[str, list[object]] = {"user_id": ids, **{name: [] for name in gate_columns()}}
    for _ in ids:
        has_rec = rng.random() < 0.6
        action = rng.choice(actions) if has_rec else None
        created = now - timedelta(minutes=rng.randint(1, 600)) if has_rec else None
        gate_rows["rec_created_at"].append(created)
        gate_rows["rec_user_action"].append(action)
        acted = None if action in (None, "expired") else now - timedelta(minutes=rng.randint(0, 60))
        gate_rows["rec_acted_at"].append(acted)
        has_eval = rng.random() < 0.5
        gate_rows["eval_called_at"].append(now - timedelta(minutes=rng.randint(1, 300)) if has_eval else None)
        gate_rows["eval_outcome"].append(
            rng.choice(["normal", "failed", "recommendation"]) if has_eval else None
        )
    gate_inputs = pl.DataFrame(gate_rows, schema={"user_id": pl.String, **gate_columns()})
    day_metrics = pl.DataFrame(
        {
            "user_id": ids,
            "lines_added": [rng.randint(0, 400) for _ in ids],
            "lines_deleted": [rng.randint(0, 250) for _ in ids],
            "switch_count": [rng.randint(0, 120) for _ in ids],
            "rapid_switch_count": [rng.randint(0, 45) for _ in ids],
        }
    )
    return sessions, gate_inputs, day_metrics


def db_screen(
    sessions: pl.DataFrame,
    gate_inputs: pl.DataFrame,
    day_metrics: pl.DataFrame,
    now: datetime,
    policy: CooldownPolicy,
    thresholds: RuleThresholds,
) -> None:
    """The same screen with the sessions and gate inputs read from a fresh SQLite database."""
    import tempfile
    from pathlib import Path

    from sqlalchemy import insert

    from devflow.accounts.models import User
    from devflow.db.engine import make_engine, make_session_factory
    from devflow.db.migrate import upgrade
    from devflow.insights.features import load_current_sessions
    from devflow.insights.models import InsightEvaluation, Recommendation, WorkflowState
    from devflow.insights.pipeline import load_gate_inputs
    from devflow.telemetry.models import Session

    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.sqlite3'}")
        upgrade(engine)
        ids = [uuid.UUID(u) for u in sessions["user_id"]]
        with engine.begin() as conn:
            conn.execute(
                insert(User),
                [
                    {"id": u, "username": u.hex, "provider": "password", "provider_user_id": u.hex}
                    for u in ids
                ],
            )
            conn.execute(
                insert(Session),
                [
                    {
                        "id": uuid.UUID(r["session_id"]),
                        "user_id": uuid.UUID(r["user_id"]),
                        "start_time": r["start_time"],
                        "last_event_at": r["last_event_at"],
                    }
                    for r in sessions.iter_rows(named=True)
                ],
            )
            states, recs, evals = [], [], []
            for i, r in enumerate(gate_inputs.iter_rows(named=True), start=1):
                user_id = uuid.UUID(r["user_id"])
                if r["rec_created_at"] is not None:
                    states.append(
                        {
                            "id": i,
                            "user_id": user_id,
                            "state_type": "stuck_loop",
                            "confidence_score": 0.6,
                            "created_at": r["rec_created_at"],
                        }
                    )
                    recs.append(
                        {
                            "user_id": user_id,
                            "workflow_state_id": i,
                            "recommendation_type": "execute",
                            "recommendation_text": "t",
                            "code_context": {},
                            "user_action": r["rec_user_action"],
                            "acted_at": r["rec_acted_at"],
                            "created_at": r["rec_created_at"],
                        }
                    )
                if r["eval_called_at"] is not None:
                    evals.append(
                        {"user_id": user_id, "called_at": r["eval_called_at"], "outcome": r["eval_outcome"]}
                    )
            conn.execute(insert(WorkflowState), states)
            conn.execute(insert(Recommendation), recs)
            conn.execute(insert(InsightEvaluation), evals)
        factory = make_session_factory(engine)
        started = time.perf_counter()
        with factory() as db:
            loaded = load_current_sessions(db, active_since=now - timedelta(minutes=30))
            sessions_at = time.perf_counter()
            gates = load_gate_inputs(db, [uuid.UUID(u) for u in loaded["user_id"]])
        loaded_at = time.perf_counter()
        screened = screen_candidates(loaded, gates, day_metrics, now, policy, thresholds)
        done = time.perf_counter()
        engine.dispose()
    load_ms, screen_ms = 1000 * (loaded_at - started), 1000 * (done - loaded_at)
    sessions_ms, gates_ms = 1000 * (sessions_at - started), 1000 * (loaded_at - sessions_at)
    print(
        f"with SQLite reads ({loaded.height} candidates): load {load_ms:.0f} ms + screen {screen_ms:.1f} ms"
    )
    print(f"  sessions query {sessions_ms:.0f} ms, gate inputs {gates_ms:.0f} ms")
    print(f"  rule fired for {int(screened['rule'].is_not_null().sum())} users")


def main(argv: list[str]) -> int:
    args = [a for a in argv[1:] if not a.startswith("--")]
    users = int(args[0]) if args else 10_000
    repeats = int(args[1]) if len(args) > 1 else 7
    now = datetime.now(UTC)
    sessions, gate_inputs, day_metrics = synthetic_inputs(users, now)
    policy, thresholds = CooldownPolicy(), RuleThresholds()
    screen_candidates(sessions, gate_inputs, day_metrics, now, policy, thresholds)  # warm-up
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        screened = screen_candidates(sessions, gate_inputs, day_metrics, now, policy, thresholds)
        timings.append(time.perf_counter() - started)
    in_cooldown = sessions.height - screened.height
    by_rule = screened.filter(pl.col("rule").is_not_null()).group_by("rule").len().sort("rule").iter_rows()
    print(f"users: {users}  repeats: {repeats}")
    median_ms, best_ms = statistics.median(timings) * 1000, min(timings) * 1000
    print(f"gates+features+rules: median {median_ms:.1f} ms, best {best_ms:.1f} ms")
    print(f"in cooldown: {in_cooldown}")
    for rule, count in by_rule:
        print(f"  {rule}: {count}")
    quiet = int(screened["rule"].is_null().sum())
    print(f"no rule fired (not in cooldown): {quiet}")
    if "--with-db" in argv:
        db_screen(sessions, gate_inputs, day_metrics, now, policy, thresholds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
