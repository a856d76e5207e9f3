"""The raw event and quarantine views analysts see: how DuckDB and Polars read the Hive partitions.

What the readers include:

* **Every visible ``*.parquet`` file under ``events/``** (temporary files end in ``.tmp`` and never
  match), not only the files registered in ``lake_files``. Readers therefore need no database and
  never miss an acknowledged row whose file was renamed into place but not registered yet.
* **De-duplicated by (``session_id``, ``fingerprint``)**, keeping the first row in ingestion order
  (``received_at``, ``batch_id``, ``batch_index``; contract §4.5/§4.7). Re-sent events, a spool
  replayed after a crash, and the short window in which a compaction output and its inputs both
  exist all hold physically identical rows (compaction keeps every column), so the de-duplicated
  view never double-counts and never loses a row while compaction runs.
* **De-duplicated within partitions.** Copies share their fingerprint, hence the whole event: the
  same ``timestamp`` (so the same ``date`` partition) and ``type``. Grouping by (``date``,
  ``session_id``, ``type``, ``fingerprint``) is therefore the same as grouping by (``session_id``,
  ``fingerprint``), and a filter on any of those columns is applied before the grouping: one day
  reads one partition, not the lake. (``user_id`` is not in the key: the contract counts a pair
  once even if a lake held it under two accounts.) DuckDB groups, computing only the columns a
  query reads: the columns parsed from the event are the same in every copy (the fingerprint
  hashes the whole parsed event), so any copy's value is the first copy's (``any_value``, much
  cheaper); only what the server adds or keeps verbatim (``received_at``, ``batch_id``,
  ``batch_index``, ``raw``) is picked by ingestion order (``arg_min``). Polars sorts by ingestion
  order and keeps the first of each key (it pushes key filters through ``unique``).
* **Distinct counts need no de-duplication.** Copies share ``date``, ``session_id`` and
  ``user_id`` (a session belongs to one user, contract §4.5), so ``count(DISTINCT user_id)`` and the
  like are the same over ``events_all`` and cost a plain scan.

Local lakes are read by DuckDB's own glob (re-evaluated at every query). An object-store lake is
read through a pyarrow dataset over the same filesystem as the writer; that dataset lists the
files once, when the view is created.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.dataset as pads

from devflow.lake.storage import LakeStorage
from devflow.telemetry import EVENTS_DIR, QUARANTINE_DIR, event_schema, quarantine_schema

if TYPE_CHECKING:
    import duckdb
    import polars as pl

INGESTION_ORDER = ("received_at", "batch_id", "batch_index")
#: The de-duplication key: (session_id, fingerprint) plus columns every copy shares (see above).
DEDUPE_KEY = ("date", "session_id", "type", "fingerprint")
DATE_COLUMN = "date"  # the Hive partition column, from the folder name
#: The columns copies may differ in (the server's, and the event's JSON spelled as received): the
#: first copy's is picked; every other column is parsed from the fingerprinted event or is the
#: session owner's, the same in every copy.
FIRST_COPY_ONLY = (*INGESTION_ORDER, "raw")
#: Up to this many users, the zones are a MAP constant in the view (no join: a query that reads no
#: local column pays nothing); beyond it, a join on the users relation.
ZONE_MAP_LIMIT = 20_000


def _with_date(schema: pa.Schema) -> pa.Schema:
    return schema.append(pa.field(DATE_COLUMN, pa.date32()))


def parquet_glob(storage: LakeStorage, kind: str = EVENTS_DIR) -> str:
    """The glob of every visible Parquet file of ``kind`` (``events`` or ``quarantine``)."""
    return storage.uri(f"{kind}/date=*/*.parquet")


def _duckdb_source(con: duckdb.DuckDBPyConnection, storage: LakeStorage, kind: str, schema: pa.Schema) -> str:
    """A FROM-clause for ``kind``: the Parquet glob, or a registered Arrow object when unreadable."""
    name = f"__devflow_{kind}_source"
    if not storage.list_parquet(kind):
        # DuckDB cannot scan a glob that matches nothing; an empty typed table keeps the view valid.
        con.register(name, pa.Table.from_batches([], _with_date(schema)))
        return name
    if storage.is_local:
        glob = parquet_glob(storage, kind).replace("'", "''")
        return (
            f"read_parquet('{glob}', hive_partitioning = true, hive_types = {{'date': DATE}}, "
            "union_by_name = true)"
        )
    con.register(name, _dataset(storage, kind))
    return name


def _dataset(storage: LakeStorage, kind: str) -> pads.Dataset:
    return pads.dataset(
        storage.full_path(kind),
        filesystem=storage.fs,
        format="parquet",
        partitioning=pads.partitioning(pa.schema([pa.field(DATE_COLUMN, pa.date32())]), flavor="hive"),
        exclude_invalid_files=False,
    )


def deduplicated_sql(con: duckdb.DuckDBPyConnection, source: str) -> str:
    """SQL keeping, of each (session_id, fingerprint), the first row in ingestion order.

    One row per :data:`DEDUPE_KEY`. The columns of :data:`FIRST_COPY_ONLY` are the first copy's
    (``arg_min`` over the ingestion order); every other column is the same in all copies and read
    from any copy (much cheaper than an ordered pick): the event's own fields, which the
    fingerprint hashes (§4.7), and ``user_id`` (a session belongs to one user: the ingest rejects
    another user's events for it, contract §4.5).
    """
    columns = [row[0] for row in con.sql(f"DESCRIBE {source}").fetchall()]
    first = "(" + ", ".join(f'"{c}"' for c in INGESTION_ORDER) + ")"
    select = []
    for column in columns:
        quoted = f'"{column}"'
        if column in DEDUPE_KEY:
            select.append(quoted)
        elif column in FIRST_COPY_ONLY:
            select.append(f"arg_min({quoted}, {first}) AS {quoted}")
        else:
            select.append(f"any_value({quoted}) AS {quoted}")
    keys = ", ".join(f'"{c}"' for c in DEDUPE_KEY)
    # Identifiers are the lake's own column names and code-given view names, never user input.
    return f"SELECT {', '.join(select)} FROM {source} GROUP BY {keys}"  # noqa: S608


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def local_columns_sql(instant: str, zones: Mapping[str, str] | str, alias: str = "e") -> str:
    """``local_time``, ``local_date``, ``local_hour``, ``local_weekday`` of column ``instant`` of
    ``alias`` in its user's zone: ``zones`` maps user ids to IANA zones (others: UTC), or is the
    alias of a joined relation with ``time_zone``."""
    if isinstance(zones, str):
        zone = "coalesce(z.time_zone, 'UTC')"
    elif zones:
        keys = ", ".join(_quote(k) for k in zones)
        values = ", ".join(_quote(v) for v in zones.values())
        zone = f"coalesce(MAP([{keys}], [{values}])[{alias}.user_id], 'UTC')"
    else:
        zone = "'UTC'"
    local = f'timezone({zone}, {alias}."{instant}")'
    return (
        f"{local} AS local_time, CAST({local} AS DATE) AS local_date, "
        f"CAST(hour({local}) AS INTEGER) AS local_hour, CAST(isodow({local}) AS INTEGER) AS local_weekday"
    )


def with_local_columns(source: str, instant: str, zones: Mapping[str, str] | str) -> str:
    """``SELECT`` every column of ``source`` plus the local-time columns of ``instant``; ``zones``
    maps user ids to IANA zones (others: UTC), or names a relation of (``user_id``, ``time_zone``)
    to join."""
    if isinstance(zones, str):
        joined = f"{source} e LEFT JOIN {zones} z ON z.user_id = e.user_id"
        return f"SELECT e.*, {local_columns_sql(instant, 'z')} FROM {joined}"  # noqa: S608
    return f"SELECT e.*, {local_columns_sql(instant, zones)} FROM {source} e"  # noqa: S608


def register_lake_views(
    con: duckdb.DuckDBPyConnection,
    storage: LakeStorage,
    *,
    events_view: str = "events",
    raw_events_view: str = "events_all",
    quarantine_view: str = "quarantine",
    zones: Mapping[str, str] | str | None = None,
) -> None:
    """Create DuckDB views: ``events`` (de-duplicated), ``events_all`` (every stored row, duplicates
    included) and ``quarantine``. Each has the Hive ``date`` column. With ``zones`` (user id → IANA
    zone, or the name of a relation of ``user_id``, ``time_zone``), ``events`` also has the
    local-time columns of each user's zone (:func:`with_local_columns`)."""
    events_source = _duckdb_source(con, storage, EVENTS_DIR, event_schema())
    # View names come from code, sources from the lake URL (quoted in _duckdb_source).
    con.execute(f"CREATE OR REPLACE VIEW {raw_events_view} AS SELECT * FROM {events_source}")  # noqa: S608
    unique_sql = deduplicated_sql(con, raw_events_view)
    if zones is None:
        con.execute(f"CREATE OR REPLACE VIEW {events_view} AS {unique_sql}")
    else:
        unique = f"__devflow_{events_view}_unique"
        con.execute(f"CREATE OR REPLACE VIEW {unique} AS {unique_sql}")
        con.execute(
            f"CREATE OR REPLACE VIEW {events_view} AS {with_local_columns(unique, 'timestamp', zones)}"
        )
    quarantine_source = _duckdb_source(con, storage, QUARANTINE_DIR, quarantine_schema())
    con.execute(f"CREATE OR REPLACE VIEW {quarantine_view} AS SELECT * FROM {quarantine_source}")  # noqa: S608


def connect_lake(storage: LakeStorage) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB connection with the lake views registered."""
    import duckdb

    con = duckdb.connect(
        config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
    )
    register_lake_views(con, storage)
    return con


def scan_events(storage: LakeStorage, *, deduplicate: bool = True) -> pl.LazyFrame:
    """The events as a Polars LazyFrame over the Hive partitions (de-duplicated by default)."""
    import polars as pl

    if not storage.list_parquet(EVENTS_DIR):
        frame = pl.from_arrow(pa.Table.from_batches([], _with_date(event_schema())))
        assert isinstance(frame, pl.DataFrame)
        return frame.lazy()
    if storage.is_local:
        lazy = pl.scan_parquet(
            parquet_glob(storage, EVENTS_DIR), hive_partitioning=True, hive_schema={DATE_COLUMN: pl.Date}
        )
    else:
        lazy = pl.scan_pyarrow_dataset(_dataset(storage, EVENTS_DIR))
    if not deduplicate:
        return lazy
    return lazy.sort(list(INGESTION_ORDER)).unique(subset=list(DEDUPE_KEY), keep="first", maintain_order=True)
