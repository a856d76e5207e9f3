"""Ground truth: the sessions a persona makes "should be nudged", by rule.

The generator knows what each persona is designed to do; these labels state it per session, so a
backtest can score the nudges of a threshold grid (precision, recall) against intent instead of
against the rule itself. A session is labelled with a rule when its user's persona is designed to
trip that rule and the session on its own meets the rule's condition at the default threshold:

=========================== ========== ======================================================
rule                        whose      which sessions
=========================== ========== ======================================================
``very_long_session``       anyone's   lasting more than 240 minutes
``long_session``            persona's  lasting more than 120 minutes, and at most 240
``high_churn``              persona's  whose deleted/added lines exceed 0.4
``delete_heavy_rewriting``  persona's  deleting more lines than they add, with more than 50
                                       lines added and deleted
``rapid_context_switching`` persona's  with more than 30 flagged rapid switches
=========================== ========== ======================================================

("persona's": the sessions of the planted persona named after the rule.)
A session's duration is its last event minus its first; its lines are the line-delta totals the ETL
computes from its events (contract §6.1); ``date`` is the UTC date of its first event. A session of a
planted persona that falls short of its rule is not labelled. Labels are a pure function of a
:class:`~devflow.analytics.synthetic.dataset.UserDay`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

import pyarrow as pa

from devflow.analytics.synthetic.dataset import SyntheticDataset, UserDay
from devflow.analytics.synthetic.day_writer import SessionSummary
from devflow.analytics.synthetic.personas import (
    DELETE_HEAVY_REWRITING,
    HIGH_CHURN,
    LONG_SESSION,
    RAPID_CONTEXT_SWITCHING,
    VERY_LONG_SESSION,
)

# The default RULE_* thresholds (devflow.insights.rules.RuleThresholds) the personas are designed
# against; fixed here so that labels state the design, whatever a deployment configures.
VERY_LONG_SESSION_MIN: Final = 240.0
LONG_SESSION_MIN: Final = 120.0
HIGH_CHURN_RATIO: Final = 0.4
DELETE_HEAVY_TOTAL: Final = 50.0
RAPID_SWITCH_COUNT: Final = 30.0

#: The columns of ``labels.parquet``.
LABELS_SCHEMA: Final = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("session_id", pa.string(), nullable=False),
        pa.field("date", pa.date32(), nullable=False),
        pa.field("rule", pa.string(), nullable=False),
        pa.field("persona", pa.string(), nullable=False),
    ]
)

_MINUTE_MS = 60_000
_DAY_MS = 86_400_000
_EPOCH_DAY = date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class SessionLabel:
    """One user-session that ``persona`` is designed to make ``rule`` nudge."""

    user_id: str
    session_id: str
    date: date  # UTC date of the session's first event
    rule: str
    persona: str


def _persona_rule_holds(persona: str, session: SessionSummary) -> bool:
    """Whether ``session`` on its own meets the condition of the rule ``persona`` is designed to trip."""
    added, deleted = session.lines_added, session.lines_deleted
    if persona == LONG_SESSION:
        # past 240 minutes the session is very_long_session's, whoever the user is
        return LONG_SESSION_MIN * _MINUTE_MS < session.duration_ms <= VERY_LONG_SESSION_MIN * _MINUTE_MS
    if persona == HIGH_CHURN:
        return added > 0 and deleted / added > HIGH_CHURN_RATIO
    if persona == DELETE_HEAVY_REWRITING:
        return deleted > added and added + deleted > DELETE_HEAVY_TOTAL
    if persona == RAPID_CONTEXT_SWITCHING:
        return session.rapid_switches > RAPID_SWITCH_COUNT
    return False


def session_labels(user_day: UserDay, *, complete_by_ms: int | None = None) -> list[SessionLabel]:
    """The labels of one user-day's sessions, in session order.

    Sessions whose last event is later than ``complete_by_ms`` are left out: they were still running
    at that instant, so their events (and their fate) are not all known yet.
    """
    user = user_day.user
    persona = user.persona
    labels: list[SessionLabel] = []
    for session in user_day.sessions:
        if complete_by_ms is not None and session.last_ms > complete_by_ms:
            continue
        rules: list[str] = []
        if session.duration_ms > VERY_LONG_SESSION_MIN * _MINUTE_MS:
            rules.append(VERY_LONG_SESSION)
        if _persona_rule_holds(persona, session):
            rules.append(persona)
        started = _EPOCH_DAY + timedelta(days=session.first_ms // _DAY_MS)
        labels.extend(
            SessionLabel(str(user.user_id), session.session_id, started, rule, persona) for rule in rules
        )
    return labels


def dataset_labels(dataset: SyntheticDataset | Iterable[UserDay]) -> list[SessionLabel]:
    """The labels of every session of a dataset (or of some user-days), in generation order."""
    days = dataset.days if isinstance(dataset, SyntheticDataset) else dataset
    return [label for user_day in days for label in session_labels(user_day)]


def labels_table(labels: Iterable[SessionLabel]) -> pa.Table:
    """``labels`` as a table with :data:`LABELS_SCHEMA`."""
    rows = list(labels)
    return pa.table(
        {
            "user_id": [label.user_id for label in rows],
            "session_id": [label.session_id for label in rows],
            "date": [label.date for label in rows],
            "rule": [label.rule for label in rows],
            "persona": [label.persona for label in rows],
        },
        schema=LABELS_SCHEMA,
    )
