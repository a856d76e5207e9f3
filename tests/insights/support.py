"""Insight test set-up: rows with timestamps the test controls, and a fake Gemini HTTP server."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session as DbSession

from devflow.config import Settings
from devflow.db.engine import make_engine
from devflow.insights.models import InsightEvaluation, Recommendation, WorkflowState
from devflow.telemetry.models import Session


def now_utc() -> datetime:
    return datetime.now(UTC)


@contextmanager
def database(settings: Settings) -> Iterator[DbSession]:
    engine: Engine = make_engine(settings.database_url)
    try:
        with DbSession(engine, expire_on_commit=False) as session, session.begin():
            yield session
    finally:
        engine.dispose()


def add_session(
    settings: Settings, user_id: uuid.UUID, minutes: float, *, ended_ago: timedelta = timedelta(0)
) -> uuid.UUID:
    """A session of ``minutes`` length whose last event was ``ended_ago`` before now."""
    session_id = uuid.uuid4()
    last = now_utc() - ended_ago
    with database(settings) as db:
        db.add(
            Session(
                id=session_id,
                user_id=user_id,
                start_time=last - timedelta(minutes=minutes),
                last_event_at=last,
            )
        )
    return session_id


def add_recommendation(
    settings: Settings,
    user_id: uuid.UUID,
    *,
    created_ago: timedelta,
    user_action: str | None = None,
    acted_ago: timedelta | None = None,
    state_type: str = "stuck_loop",
    confidence: str = "0.60",
    code_context: dict[str, Any] | None = None,
) -> int:
    """A recommendation (and its workflow state) created ``created_ago`` before now."""
    now = now_utc()
    with database(settings) as db:
        state = WorkflowState(
            user_id=user_id,
            session_id=None,
            state_type=state_type,
            confidence_score=Decimal(confidence),
            created_at=now - created_ago,
        )
        db.add(state)
        db.flush()
        rec = Recommendation(
            user_id=user_id,
            workflow_state_id=state.id,
            recommendation_type="change_approach",
            recommendation_text="Write a failing test first.",
            code_context=code_context
            if code_context is not None
            else {
                "reasoning": "seeded",
                "triggered_rule": "high_churn",
                "evidence": [],
                "generator": "template",
            },
            user_action=user_action,
            acted_at=None if acted_ago is None else now - acted_ago,
            created_at=now - created_ago,
        )
        db.add(rec)
        db.flush()
        return int(rec.id)


def add_evaluation(settings: Settings, user_id: uuid.UUID, *, called_ago: timedelta, outcome: str) -> None:
    with database(settings) as db:
        db.add(InsightEvaluation(user_id=user_id, called_at=now_utc() - called_ago, outcome=outcome))


def recommendation_rows(settings: Settings, user_id: uuid.UUID) -> list[Recommendation]:
    with database(settings) as db:
        rows = db.execute(
            select(Recommendation).where(Recommendation.user_id == user_id).order_by(Recommendation.id)
        ).scalars()
        return list(rows)


def pending_count(settings: Settings, user_id: uuid.UUID) -> int:
    with database(settings) as db:
        return int(
            db.execute(
                select(func.count())
                .select_from(Recommendation)
                .where(Recommendation.user_id == user_id, Recommendation.user_action.is_(None))
            ).scalar_one()
        )


def evaluations(settings: Settings, user_id: uuid.UUID) -> list[str]:
    with database(settings) as db:
        return list(
            db.execute(
                select(InsightEvaluation.outcome)
                .where(InsightEvaluation.user_id == user_id)
                .order_by(InsightEvaluation.id)
            ).scalars()
        )


def workflow_states(settings: Settings, user_id: uuid.UUID) -> list[tuple[str, Decimal]]:
    with database(settings) as db:
        return [
            (row.state_type, row.confidence_score)
            for row in db.execute(
                select(WorkflowState).where(WorkflowState.user_id == user_id).order_by(WorkflowState.id)
            ).scalars()
        ]


# ---------------------------------------------------------------------------------------------
# Fake Gemini
# ---------------------------------------------------------------------------------------------


@dataclass
class Reply:
    """How the fake answers the next calls: a model text, an HTTP status, or a delay first."""

    text: str | None = None
    status: int = 200
    delay: float = 0.0


@dataclass
class FakeGemini:
    """``POST …/models/<model>:generateContent`` on 127.0.0.1, answering with :attr:`reply`."""

    reply: Reply = field(default_factory=Reply)
    calls: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    in_flight: int = 0
    max_in_flight: int = 0
    _count_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def answer_json(self, obj: Any) -> None:
        self.reply = Reply(text=json.dumps(obj))

    def start(self) -> FakeGemini:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                fake.calls.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers.items()),
                        "body": json.loads(raw or b"{}"),
                    }
                )
                reply = fake.reply
                with fake._count_lock:
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                if reply.delay:
                    time.sleep(reply.delay)
                with fake._count_lock:
                    fake.in_flight -= 1
                if reply.status != 200:
                    payload = json.dumps(
                        {"error": {"code": reply.status, "message": "fake failure", "status": "UNAVAILABLE"}}
                    ).encode()
                else:
                    payload = json.dumps(
                        {
                            "candidates": [
                                {
                                    "content": {"role": "model", "parts": [{"text": reply.text or ""}]},
                                    "finishReason": "STOP",
                                }
                            ],
                            "modelVersion": "fake",
                        }
                    ).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out first
                    pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self.server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def model_output(**overrides: Any) -> dict[str, Any]:
    """A schema-valid model reply; ``overrides`` replace fields."""
    out: dict[str, Any] = {
        "state_type": "stuck_loop",
        "confidence_score": 0.78,
        "recommendation_type": "change_approach",
        "recommendation_text": "This session has run 250 minutes — write the next step down first.",
        "reasoning": "The session is 250 minutes long.",
        "evidence": [{"metric": "duration_minutes", "value": 250}],
    }
    out.update(overrides)
    return out
