"""The lake tables telemetry produces, described for the lake writer and compaction."""

from __future__ import annotations

from devflow.lake.tables import PartitionedTable
from devflow.telemetry.arrow import complete_events
from devflow.telemetry.schema import EVENTS_DIR, QUARANTINE_DIR, event_schema, quarantine_schema

#: Accepted events, partitioned by the UTC date of the event, sorted by user then event time.
EVENTS_TABLE = PartitionedTable(
    name=EVENTS_DIR,
    make_schema=event_schema,
    date_column="timestamp",
    sort_keys=(("user_id", "ascending"), ("timestamp", "ascending")),
    finish=complete_events,
)
#: Rejected events, partitioned by the UTC date they were received.
QUARANTINE_TABLE = PartitionedTable(
    name=QUARANTINE_DIR,
    make_schema=quarantine_schema,
    date_column="received_at",
    sort_keys=(("user_id", "ascending"), ("received_at", "ascending")),
)
#: In the spool's record-code order (events 1, quarantine 2): never reorder.
TELEMETRY_TABLES = (EVENTS_TABLE, QUARANTINE_TABLE)
