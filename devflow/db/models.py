"""Imports every context's models so ``Base.metadata`` is complete (Alembic, tests)."""

from devflow.accounts.models import AccountDeletion, ApiToken, OAuthState, PairingCode, RateLimitHit, User
from devflow.db.base import Base
from devflow.insights.models import EvaluationLease, InsightEvaluation, Recommendation, WorkflowState
from devflow.lake.models import LakeFile
from devflow.metrics.models import EtlRun
from devflow.telemetry.models import Session

__all__ = [
    "AccountDeletion",
    "ApiToken",
    "Base",
    "EtlRun",
    "EvaluationLease",
    "InsightEvaluation",
    "LakeFile",
    "OAuthState",
    "PairingCode",
    "RateLimitHit",
    "Recommendation",
    "Session",
    "User",
    "WorkflowState",
]
