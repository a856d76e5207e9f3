"""Evaluation of one user (``real`` / ``force`` / ``demo``, contract §7.2) and the scheduled pass (§7.1).

Concurrency: every evaluation of a user runs under the user's lease (:mod:`devflow.insights.leases`,
a committed row that expires on its own) plus a process-local lock, so threads, worker processes
and replicas never evaluate the same user at once. No transaction is open across the lake reads or
the model call: the gate and session reads are one short transaction, the verdict another; a slow
model therefore holds no pooled connection. The partial unique index on pending recommendations
backs the one-pending invariant in the database as well.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final, Literal

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from devflow.config import Settings
from devflow.insights.features import TodayMetrics, build_features, load_current_sessions, sessions_frame
from devflow.insights.gates import COOLDOWN, CooldownPolicy, apply_gates, gate_columns
from devflow.insights.generators import GenerationFailed, RecommendationGenerator, generator_for
from devflow.insights.leases import hold_lease, lease_ttl
from devflow.insights.models import InsightEvaluation, Recommendation, WorkflowState
from devflow.insights.rules import RuleThresholds, apply_rules
from devflow.insights.schema import (
    MAX_PATH_CHARS_IN_INPUT,
    TOP_FILES_IN_INPUT,
    GeneratorInput,
    GeneratorOutput,
    SessionInput,
    TodayInput,
    TopFile,
    guard_evidence,
)
from devflow.kernel.clock import Clock, iso_ms, utc_now
from devflow.kernel.lazy import pl
from devflow.telemetry import current_sessions

log = logging.getLogger("devflow.insights")

Mode = Literal["real", "force", "demo"]
MODES: Final[tuple[str, ...]] = ("real", "force", "demo")

#: Model calls in flight per process (contract §7.1: SHOULD be ≤ 4).
MAX_CONCURRENT_GENERATIONS: Final = 4

DEMO_TEXT: Final = (
    "You've been heads-down for a while. Consider stepping away for 5 minutes — your next bug is "
    "probably hiding behind a clear head."
)
DEMO_CODE_CONTEXT: Final[dict[str, Any]] = {
    "reasoning": "Manually triggered demo recommendation; no Gemini call was made.",
    "triggered_rule": "demo_trigger",
    "evidence": [
        {"metric": "duration_minutes", "value": 145},
        {"metric": "lines_added", "value": 220},
        {"metric": "lines_deleted", "value": 180},
        {"metric": "churn_ratio", "value": 0.82},
    ],
    "generator": "demo",
}


@dataclass(frozen=True, slots=True)
class TriggerResult:
    """What an evaluation did; :meth:`body` is the trigger endpoint's JSON body."""

    skipped: bool
    reason: str | None = None
    rule: str | None = None
    state_type: str | None = None
    recommendation_id: int | None = None
    mode: Mode = "real"

    def body(self) -> dict[str, Any]:
        """The §3.8 trigger response body for this outcome."""
        if self.skipped:
            return {"skipped": True, "reason": self.reason}
        if self.mode == "demo":
            return {"skipped": False, "mode": "demo", "recommendation_id": self.recommendation_id}
        return {
            "skipped": False,
            "rule": self.rule,
            "state_type": self.state_type,
            "recommendation_id": self.recommendation_id,
        }


# ---------------------------------------------------------------------------------------------
# Per-user lock
# ---------------------------------------------------------------------------------------------


class _ProcessUserLocks:
    """One ``threading.Lock`` per user while anyone holds or waits for it (bounded by concurrency)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[uuid.UUID, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, user_id: uuid.UUID) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(user_id, (threading.Lock(), 0))
            self._locks[user_id] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[user_id]
                if users <= 1:
                    del self._locks[user_id]
                else:
                    self._locks[user_id] = (lock, users - 1)


@contextmanager
def user_lease(insights: Insights, user_id: uuid.UUID) -> Iterator[None]:
    """Hold the user's evaluation: this process's lock first (threads queue without polling), then
    the lease shared with the other processes and replicas."""
    with insights.user_locks.hold(user_id):
        with hold_lease(insights.db, user_id, lease_ttl(insights.settings.gemini_timeout_seconds)):
            yield


# ---------------------------------------------------------------------------------------------
# Gate inputs
# ---------------------------------------------------------------------------------------------


#: Users per IN (...) list: SQLite allows at most 32,766 bound parameters per statement.
ID_CHUNK: Final = 5000


def _latest_rows(
    db: DbSession, user_ids: list[uuid.UUID]
) -> tuple[dict[uuid.UUID, Any], dict[uuid.UUID, Any]]:
    rec_ranked = (
        select(
            Recommendation.user_id,
            Recommendation.created_at,
            Recommendation.user_action,
            Recommendation.acted_at,
            func.row_number()
            .over(
                partition_by=Recommendation.user_id,
                order_by=(Recommendation.created_at.desc(), Recommendation.id.desc()),
            )
            .label("rank"),
        )
        .where(Recommendation.user_id.in_(user_ids))
        .subquery()
    )
    eval_ranked = (
        select(
            InsightEvaluation.user_id,
            InsightEvaluation.called_at,
            InsightEvaluation.outcome,
            func.row_number()
            .over(
                partition_by=InsightEvaluation.user_id,
                order_by=(InsightEvaluation.called_at.desc(), InsightEvaluation.id.desc()),
            )
            .label("rank"),
        )
        .where(InsightEvaluation.user_id.in_(user_ids))
        .subquery()
    )
    recs = {row.user_id: row for row in db.execute(select(rec_ranked).where(rec_ranked.c.rank == 1))}
    evals = {row.user_id: row for row in db.execute(select(eval_ranked).where(eval_ranked.c.rank == 1))}
    return recs, evals


def load_gate_inputs(db: DbSession, user_ids: list[uuid.UUID]) -> pl.DataFrame:
    """Each user's latest recommendation and latest generator call, as the frame :func:`apply_gates` reads."""
    recs: dict[uuid.UUID, Any] = {}
    evals: dict[uuid.UUID, Any] = {}
    for offset in range(0, len(user_ids), ID_CHUNK):
        chunk_recs, chunk_evals = _latest_rows(db, user_ids[offset : offset + ID_CHUNK])
        recs.update(chunk_recs)
        evals.update(chunk_evals)
    columns: dict[str, list[Any]] = {"user_id": [], **{name: [] for name in gate_columns()}}
    for user_id in user_ids:
        rec, ev = recs.get(user_id), evals.get(user_id)
        columns["user_id"].append(str(user_id))
        columns["rec_created_at"].append(rec.created_at if rec else None)
        columns["rec_user_action"].append(rec.user_action if rec else None)
        columns["rec_acted_at"].append(rec.acted_at if rec else None)
        columns["eval_called_at"].append(ev.called_at if ev else None)
        columns["eval_outcome"].append(ev.outcome if ev else None)
    return pl.DataFrame(columns, schema={"user_id": pl.String(), **gate_columns()})


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Insights:
    """What an evaluation uses, chosen by configuration and built once per process."""

    settings: Settings
    engine: Engine
    db: sessionmaker[DbSession]
    generator: RecommendationGenerator
    metrics: TodayMetrics
    thresholds: RuleThresholds
    policy: CooldownPolicy
    clock: Clock = utc_now
    model_slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(MAX_CONCURRENT_GENERATIONS)
    )
    user_locks: _ProcessUserLocks = field(default_factory=_ProcessUserLocks)

    @classmethod
    def build(
        cls,
        settings: Settings,
        engine: Engine,
        db: sessionmaker[DbSession],
        metrics: TodayMetrics,
        clock: Clock = utc_now,
    ) -> Insights:
        """The context's objects for ``settings`` (the Gemini client is created here, once)."""
        return cls(
            settings=settings,
            engine=engine,
            db=db,
            generator=generator_for(settings),
            metrics=metrics,
            thresholds=RuleThresholds.from_settings(settings),
            policy=CooldownPolicy.from_settings(settings),
            clock=clock,
        )


def confidence_2dp(value: float) -> Decimal:
    """``confidence_score`` rounded half-up to 2 decimals, as stored."""
    return Decimal(repr(float(value))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _generator_input(row: dict[str, Any], rule: str, top: list[tuple[str, int]]) -> GeneratorInput:
    files = [TopFile(path=path[:MAX_PATH_CHARS_IN_INPUT], count=int(count)) for path, count in top]
    files = files[:TOP_FILES_IN_INPUT]
    return GeneratorInput(
        triggered_rule=rule,
        session=SessionInput(
            started_at=iso_ms(row["start_time"]) or "", duration_minutes=int(row["duration_minutes"])
        ),
        today=TodayInput(
            lines_added=int(row["lines_added"]),
            lines_deleted=int(row["lines_deleted"]),
            churn_ratio=row["churn_ratio"],
            switch_count=int(row["switch_count"]),
            rapid_switch_count=int(row["rapid_switch_count"]),
        ),
        top_file=files[0].path if files else None,
        top_files=files,
    )


def _expire_pending(db: DbSession, user_id: uuid.UUID) -> None:
    db.execute(
        update(Recommendation)
        .where(Recommendation.user_id == user_id, Recommendation.user_action.is_(None))
        .values(user_action="expired")
    )


def _persist_verdict(
    db: DbSession,
    *,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    output: GeneratorOutput,
    rule: str,
    generator: str,
    now: datetime,
) -> int | None:
    """§7.2 step 7: expire the pending recommendation, insert the state and (unless normal) the advice."""
    _expire_pending(db, user_id)
    state = WorkflowState(
        user_id=user_id,
        session_id=session_id,
        state_type=output.state_type,
        confidence_score=confidence_2dp(output.confidence_score),
        created_at=now,
    )
    db.add(state)
    db.flush()
    if output.state_type == "normal":
        return None
    recommendation = Recommendation(
        user_id=user_id,
        workflow_state_id=state.id,
        recommendation_type=output.recommendation_type,
        recommendation_text=output.recommendation_text,
        code_context={
            "reasoning": output.reasoning,
            "triggered_rule": rule,
            "evidence": [{"metric": item.metric, "value": item.value} for item in output.evidence],
            "generator": generator,
        },
        user_action=None,
        created_at=now,
    )
    db.add(recommendation)
    db.flush()
    return recommendation.id


def evaluate_user(insights: Insights, user_id: uuid.UUID, mode: Mode = "real") -> TriggerResult:
    """Run one evaluation of ``user_id`` in ``mode`` while holding the user's lease (contract §7.2)."""
    with user_lease(insights, user_id):
        if mode == "demo":
            return _run_demo(insights, user_id)
        return _evaluate_leased(insights, user_id, mode)


def _evaluate_leased(insights: Insights, user_id: uuid.UUID, mode: Mode) -> TriggerResult:
    services = insights
    now = services.clock()  # read after the lease: a waiting trigger sees the winner's rows
    with services.db() as db:
        if mode == "real":
            gates = apply_gates(load_gate_inputs(db, [user_id]), now, services.policy)
            if gates["gate"][0] == COOLDOWN:
                return TriggerResult(skipped=True, reason=COOLDOWN, mode=mode)
        sessions = load_current_sessions(db, [user_id])
    if sessions.is_empty():
        return TriggerResult(skipped=True, reason="no_session", mode=mode)
    today = today_utc(now)
    features = build_features(sessions, services.metrics.day_metrics([user_id], today))
    row = apply_rules(features, services.thresholds).row(0, named=True)
    rule: str | None = row["rule"]
    if rule is None:
        return TriggerResult(skipped=True, reason="no_rule_fired", mode=mode)
    payload = _generator_input(row, rule, services.metrics.top_files(user_id, today, TOP_FILES_IN_INPUT))
    called_at = services.clock()
    try:
        with services.model_slots:
            output = services.generator.generate(payload)
    except GenerationFailed as exc:
        log.warning("insight generation failed for one user: %s", exc)
        with services.db.begin() as db:
            db.add(InsightEvaluation(user_id=user_id, called_at=called_at, outcome="failed"))
        return TriggerResult(skipped=True, reason="llm_failed", mode=mode)
    output, downgraded = guard_evidence(payload, output)
    if downgraded:
        log.info("evidence guard downgraded a %s verdict (rule %s)", services.generator.name, rule)
    outcome = "normal" if output.state_type == "normal" else "recommendation"
    with services.db.begin() as db:
        db.add(InsightEvaluation(user_id=user_id, called_at=called_at, outcome=outcome))
        recommendation_id = _persist_verdict(
            db,
            user_id=user_id,
            session_id=uuid.UUID(row["session_id"]),
            output=output,
            rule=rule,
            generator=services.generator.name,
            now=services.clock(),
        )
    return TriggerResult(
        skipped=False,
        rule=rule,
        state_type=output.state_type,
        recommendation_id=recommendation_id,
        mode=mode,
    )


def _run_demo(insights: Insights, user_id: uuid.UUID) -> TriggerResult:
    """Demo mode: no gates, rules or generator; the canned recommendation on the current session."""
    clock = insights.clock
    with insights.db.begin() as db:
        sessions = load_current_sessions(db, [user_id])
        if sessions.is_empty():
            return TriggerResult(skipped=True, reason="no_session", mode="demo")
        now = clock()
        _expire_pending(db, user_id)
        state = WorkflowState(
            user_id=user_id,
            session_id=uuid.UUID(sessions["session_id"][0]),
            state_type="demo",
            confidence_score=Decimal("1.00"),
            created_at=now,
        )
        db.add(state)
        db.flush()
        recommendation = Recommendation(
            user_id=user_id,
            workflow_state_id=state.id,
            recommendation_type="execute",
            recommendation_text=DEMO_TEXT,
            code_context=dict(DEMO_CODE_CONTEXT),
            user_action=None,
            created_at=now,
        )
        db.add(recommendation)
        db.flush()
        return TriggerResult(skipped=False, mode="demo", recommendation_id=recommendation.id)


# ---------------------------------------------------------------------------------------------
# Scheduled pass (§7.1)
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class InsightRunSummary:
    """What one scheduled pass did."""

    candidates: int = 0
    in_cooldown: int = 0
    no_rule_fired: int = 0
    evaluated: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    duration_ms: int = 0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly view (CLI output, logs)."""
        return {
            "candidates": self.candidates,
            "in_cooldown": self.in_cooldown,
            "no_rule_fired": self.no_rule_fired,
            "evaluated": self.evaluated,
            "outcomes": dict(sorted(self.outcomes.items())),
            "errors": self.errors,
            "duration_ms": self.duration_ms,
        }


def drop_users_in_cooldown(
    sessions: pl.DataFrame, gate_inputs: pl.DataFrame, now: datetime, policy: CooldownPolicy
) -> pl.DataFrame:
    """The current sessions of the users whom neither cooldown gate blocks (§7.2 steps 1–2). Pure."""
    gated = apply_gates(gate_inputs, now, policy)
    open_users = gated.filter(pl.col("gate").is_null()).select("user_id")
    return sessions.join(open_users, on="user_id", how="semi")


def run_insights(insights: Insights) -> InsightRunSummary:
    """One scheduled pass: evaluate, in ``real`` mode, every user active within the activity window.

    Errors of one user are logged and counted, never fatal. At most
    :data:`MAX_CONCURRENT_GENERATIONS` users are evaluated at a time.
    """
    services = insights
    started = services.clock()
    summary = InsightRunSummary()
    window = timedelta(minutes=insights.settings.insight_activity_window_minutes)
    with insights.db() as db:
        spans = current_sessions(db, None, started - window)
        # Nobody active: nothing to evaluate, and an idle server does not load the frame library.
        sessions = sessions_frame(spans) if spans else None
        user_ids = [uuid.UUID(value) for value in sessions["user_id"]] if sessions is not None else []
        gate_inputs = load_gate_inputs(db, user_ids) if user_ids else None
    summary.candidates = len(user_ids)
    if sessions is not None and gate_inputs is not None:
        # Drop the users in cooldown first, so only the rest cost a metrics read (DESIGN flow 5).
        open_sessions = drop_users_in_cooldown(sessions, gate_inputs, started, services.policy)
        summary.in_cooldown = sessions.height - open_sessions.height
        open_ids = [uuid.UUID(value) for value in open_sessions["user_id"]]
        day_metrics = services.metrics.day_metrics(open_ids, today_utc(started))
        screened = apply_rules(build_features(open_sessions, day_metrics), services.thresholds)
        summary.no_rule_fired = int(screened["rule"].is_null().sum())
        due = [uuid.UUID(value) for value in screened.filter(pl.col("rule").is_not_null())["user_id"]]
        with ThreadPoolExecutor(
            max_workers=MAX_CONCURRENT_GENERATIONS, thread_name_prefix="insights"
        ) as pool:
            futures = {pool.submit(evaluate_user, insights, user_id, "real"): user_id for user_id in due}
            for future in futures:
                try:
                    result = future.result()
                except Exception:
                    summary.errors += 1
                    log.exception("insight evaluation failed for one user")
                    continue
                summary.evaluated += 1
                summary.outcomes[(result.reason if result.skipped else result.state_type) or "unknown"] += 1
    summary.duration_ms = int((services.clock() - started) / timedelta(milliseconds=1))
    log.info("insight pass: %s", summary.as_dict())
    return summary


def today_utc(now: datetime) -> date:
    """The UTC calendar day of ``now``."""
    return now.astimezone(UTC).date()
