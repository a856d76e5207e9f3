"""Ground-truth labels: which sessions each persona should get nudged in, consistent with the events."""

from __future__ import annotations

from datetime import date

import pytest

from devflow.analytics.synthetic import (
    LABELS_SCHEMA,
    PLANTED_PERSONAS,
    REGULAR,
    VERY_LONG_SESSION,
    SyntheticDataset,
    SyntheticSpec,
    dataset_labels,
    generate,
    labels_table,
    session_labels,
)
from devflow.analytics.synthetic import labels as labels_module
from devflow.insights.rules import RuleThresholds
from tests.analytics.synthetic_sessions import ObservedSession, observed_sessions

SPEC = SyntheticSpec(users=14, days=8, seed=7, end_date=date(2026, 5, 14))


@pytest.fixture(scope="module")
def dataset() -> SyntheticDataset:
    return generate(SPEC)


def _meets_rule(rule: str, session: ObservedSession) -> bool:
    """The rule's condition on one session alone, at the default thresholds."""
    defaults = RuleThresholds()
    added, deleted = session.lines_added, session.lines_deleted
    if rule == "very_long_session":
        return session.minutes > defaults.very_long_session_min
    if rule == "long_session":
        return defaults.long_session_min < session.minutes <= defaults.very_long_session_min
    if rule == "high_churn":
        return added > 0 and deleted / added > defaults.high_churn_ratio
    if rule == "delete_heavy_rewriting":
        return deleted > added and added + deleted > defaults.delete_heavy_total
    if rule == "rapid_context_switching":
        return session.rapid_switches > defaults.rapid_switch_count
    raise AssertionError(rule)


def test_label_thresholds_are_the_rules_defaults() -> None:
    defaults = RuleThresholds()
    assert labels_module.VERY_LONG_SESSION_MIN == defaults.very_long_session_min
    assert labels_module.LONG_SESSION_MIN == defaults.long_session_min
    assert labels_module.HIGH_CHURN_RATIO == defaults.high_churn_ratio
    assert labels_module.DELETE_HEAVY_TOTAL == defaults.delete_heavy_total
    assert labels_module.RAPID_SWITCH_COUNT == defaults.rapid_switch_count


def test_labels_are_exactly_the_sessions_that_meet_their_personas_rule(dataset: SyntheticDataset) -> None:
    """Recomputed from the events alone: every label's session exists, starts on the label's UTC
    date and meets the rule; every session that meets its persona's rule (or lasts over 240 min) has
    its label."""
    labels = {(label.session_id, label.rule): label for label in dataset_labels(dataset)}
    expected: set[tuple[str, str]] = set()
    for user_day in dataset.days:
        persona = user_day.user.persona
        for sid, session in observed_sessions(user_day).items():
            for rule in {VERY_LONG_SESSION, persona} - {REGULAR}:
                if _meets_rule(rule, session):
                    expected.add((sid, rule))
                    label = labels[(sid, rule)]
                    assert label.user_id == str(user_day.user.user_id) and label.persona == persona
                    assert label.date == session.utc_date
    assert set(labels) == expected
    assert {rule for _, rule in labels} == set(PLANTED_PERSONAS), "every planted rule is labelled"


def test_sessions_still_running_are_not_labelled(dataset: SyntheticDataset) -> None:
    user_day = next(d for d in dataset.days if session_labels(d))
    label = session_labels(user_day)[0]
    summary = next(s for s in user_day.sessions if s.session_id == label.session_id)
    assert label in session_labels(user_day, complete_by_ms=summary.last_ms)
    assert label not in session_labels(user_day, complete_by_ms=summary.last_ms - 1)


def test_labels_table_has_the_labels_schema(dataset: SyntheticDataset) -> None:
    labels = dataset_labels(dataset)
    table = labels_table(labels)
    assert table.schema == LABELS_SCHEMA and table.num_rows == len(labels) > 0
    assert table.to_pylist()[0] == {
        "user_id": labels[0].user_id,
        "session_id": labels[0].session_id,
        "date": labels[0].date,
        "rule": labels[0].rule,
        "persona": labels[0].persona,
    }
