"""Every context's database models in one metadata (Alembic autogenerate, tests that clear tables).

It imports each context's models, so it sits with the delivery modules, above every context.
"""

from devflow.accounts.models import AccountDeletion, ApiToken, OAuthState, PairingCode, RateLimitHit, User
from devflow.db.base import Base
from devflow.insights.models import EvaluationLease, InsightEvaluation, Recommendation, WorkflowState
from devflow.lake.registry import LakeFile
from devflow.metrics.models import EtlFile, EtlRun
from devflow.telemetry.models import Session

__all__ = [
    "AccountDeletion",
    "ApiToken",
    "Base",
    "EtlFile",
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
