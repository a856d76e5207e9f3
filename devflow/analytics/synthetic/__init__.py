"""Realistic synthetic telemetry with the extension's shape and rhythm (contract §4).

A pure, deterministic function of a :class:`SyntheticSpec`: the same spec gives the same events.
Nothing here touches the lake or the database; ``devflow generate`` writes the output through the
ingest path (:mod:`devflow.analytics.generate`).

What the data looks like:

- every user has a project (workspace, files, languages), an OS (path shapes), a time zone and
  working hours; weekdays are worked, weekends rarely;
- a working day is a few sessions separated by breaks longer than 30 minutes (the extension's
  idle rotation); regular sessions are mostly 20–120 minutes with a tail past 4 hours
  (:mod:`.schedule`);
- events are keystroke-level with the extension's shapes (:mod:`.day_writer`);
- a few *planted* users behave so that each insight rule fires for them (:mod:`.personas`).

Modules: :mod:`.spec` (what to generate), :mod:`.users` (developers and their projects),
:mod:`.personas` (behaviour profiles), :mod:`.schedule` (working days, day start, breaks),
:mod:`.day_writer` (the events of one day), :mod:`.extension` (the extension's rules and batches),
:mod:`.dataset` (user-days and whole datasets), :mod:`.labels` (the sessions each persona
should get nudged in: ground truth for backtests).
"""

from devflow.analytics.synthetic.dataset import (
    SyntheticDataset,
    UserDay,
    day_range,
    generate,
    generate_user_day,
    iter_user_days,
)
from devflow.analytics.synthetic.day_writer import SessionSummary
from devflow.analytics.synthetic.extension import (
    RAPID_MIN_SWITCHES,
    RAPID_WINDOW_MS,
    SESSION_IDLE_ROTATION_MS,
    extension_batches,
)
from devflow.analytics.synthetic.labels import (
    LABELS_SCHEMA,
    SessionLabel,
    dataset_labels,
    labels_table,
    session_labels,
)
from devflow.analytics.synthetic.personas import (
    DELETE_HEAVY_REWRITING,
    HIGH_CHURN,
    LONG_SESSION,
    PLANTED_PERSONAS,
    RAPID_CONTEXT_SWITCHING,
    REGULAR,
    VERY_LONG_SESSION,
)
from devflow.analytics.synthetic.spec import SyntheticSpec
from devflow.analytics.synthetic.users import SourceFile, SyntheticUser, module_of, plan_users, planted_users

__all__ = [
    "DELETE_HEAVY_REWRITING",
    "HIGH_CHURN",
    "LABELS_SCHEMA",
    "LONG_SESSION",
    "PLANTED_PERSONAS",
    "RAPID_CONTEXT_SWITCHING",
    "RAPID_MIN_SWITCHES",
    "RAPID_WINDOW_MS",
    "REGULAR",
    "SESSION_IDLE_ROTATION_MS",
    "VERY_LONG_SESSION",
    "SessionLabel",
    "SessionSummary",
    "SourceFile",
    "SyntheticDataset",
    "SyntheticSpec",
    "SyntheticUser",
    "UserDay",
    "dataset_labels",
    "day_range",
    "extension_batches",
    "generate",
    "generate_user_day",
    "iter_user_days",
    "labels_table",
    "module_of",
    "plan_users",
    "planted_users",
    "session_labels",
]
