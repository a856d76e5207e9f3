"""ETL bookkeeping: watermarks in ingestion order, the batch size, files registered out of order,
and files left unregistered by a crash (contract §3.7 ``POST /metrics/etl/run``, §6.5)."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
from sqlalchemy import select

from bench.bulk_events import synthetic_events
from devflow.config import Settings
from devflow.db.engine import make_engine, make_session_factory
from devflow.lake.partitions import write_partitioned
from devflow.lake.registry import LakeFile, register_files
from devflow.lake.storage import LakeStorage
from devflow.metrics.etl import EtlEnv, recompute_everything, run_pass
from devflow.metrics.models import EtlRun
from devflow.metrics.queries import Figures, MetricsReader, daily_series
from devflow.telemetry import EVENTS_TABLE
from tests.support.accounts import create_user
from tests.support.lake import write_event_files

DAY = dt.date(2026, 5, 14)


def _env(settings: Settings) -> EtlEnv:
    engine = make_engine(settings.database_url)
    return EtlEnv(
        settings=settings, db=make_session_factory(engine), storage=LakeStorage.from_url(settings.lake_url)
    )


def _events(user_id: str, n: int, seed: int) -> object:
    return synthetic_events(n, user_ids=[user_id], start=DAY, days=1, seed=seed)


def _switches(env: EtlEnv, user_id: str) -> int:
    reader = MetricsReader(env.storage)
    return sum(
        f.switch_count for _, f in daily_series(reader, env.settings.metrics_line_counting, user_id, DAY, DAY)
    )


def test_batch_size_whole_files_and_watermarks(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(METRICS_ETL_BATCH_SIZE="250")
    user = str(create_user(settings).id)
    env = _env(settings)
    for seed, n in enumerate((200, 100, 300)):
        write_event_files(env.storage, env.db, _events(user, n, seed))
    passes = [run_pass(env) for _ in range(4)]
    # 200 fits; 200+100 > 250 stops; a 300-row file alone exceeds the batch but a pass takes ≥ 1 file
    assert [p.processed_count for p in passes] == [200, 100, 300, 0]
    assert [(p.watermark_before, p.watermark_after) for p in passes] == [
        (0, 200),
        (200, 300),
        (300, 600),
        (600, 600),
    ]
    with env.db() as session:
        runs = session.scalars(select(EtlRun).order_by(EtlRun.id)).all()
    assert [r.processed_count for r in runs] == [200, 100, 300, 0]
    assert all(r.finished_at is not None and r.definition == "line-delta" for r in runs)


def test_a_lower_seq_committed_late_is_still_taken_in(make_settings: Callable[..., Settings]) -> None:
    """PostgreSQL can make seq 11 visible before seq 10; the pass tracks taken files, not a max seq."""
    settings = make_settings()
    user = str(create_user(settings).id)
    env = _env(settings)
    write_event_files(env.storage, env.db, _events(user, 50, 1))
    run_pass(env)
    late = write_partitioned(env.storage, EVENTS_TABLE, _events(user, 30, 2))
    write_event_files(env.storage, env.db, _events(user, 20, 3))
    before = _switches(env, user)
    assert run_pass(env).processed_count == 20
    register_files(env.db, late)  # registered after a pass took in a newer file
    with env.db() as session:
        seqs = session.scalars(select(LakeFile.seq).order_by(LakeFile.seq)).all()
    assert len(seqs) == 3
    result = run_pass(env)
    assert result.processed_count == 30 and result.watermark_after == 100
    assert _switches(env, user) > before


def test_unregistered_file_is_registered_after_the_grace_period(
    make_settings: Callable[..., Settings],
) -> None:
    """A crash between the writer's rename and its INSERT leaves a visible, unregistered file."""
    settings = make_settings()
    user = str(create_user(settings).id)
    env = _env(settings)
    orphan = write_partitioned(env.storage, EVENTS_TABLE, _events(user, 40, 7))
    assert run_pass(env).processed_count == 0  # too young: its writer may still register it
    old = time.time() - 3600
    for f in orphan:
        os.utime(env.storage.full_path(f.path), (old, old))
    result = run_pass(env)
    assert result.processed_count == 40
    assert _switches(env, user) > 0
    assert run_pass(env).processed_count == 0


def test_rebuild_in_user_chunks_equals_one_piece(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    users = [str(create_user(settings).id) for _ in range(3)]
    env = _env(settings)
    write_event_files(env.storage, env.db, synthetic_events(3000, user_ids=users, start=DAY, days=3, seed=5))

    def snapshot() -> dict[str, list[dict[str, object]]]:
        return {
            f.path: env.storage.read_table(f.path).to_pylist()
            for prefix in ("metrics_daily", "metrics_session")
            for f in env.storage.list_parquet(prefix)
        }

    recompute_everything(env, "line-delta", chunk_rows=10**9)
    whole = snapshot()
    recompute_everything(env, "line-delta", chunk_rows=400)
    assert snapshot() == whole
    assert len(whole) >= 4


def test_reader_cache_follows_replaced_partitions_and_stays_bounded(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    user = str(create_user(settings).id)
    env = _env(settings)
    write_event_files(env.storage, env.db, synthetic_events(900, user_ids=[user], start=DAY, days=3, seed=1))
    run_pass(env)
    tiny = MetricsReader(env.storage, max_rows=1)  # every load evicts the others
    roomy = MetricsReader(env.storage)
    days = [DAY + dt.timedelta(days=i) for i in range(3)]

    def totals(reader: MetricsReader) -> list[int]:
        return [f.switch_count for _, f in daily_series(reader, "line-delta", user, days[0], days[-1])]

    before = totals(roomy)
    assert totals(tiny) == before and sum(before) > 0
    write_event_files(env.storage, env.db, synthetic_events(300, user_ids=[user], start=DAY, days=3, seed=2))
    run_pass(env)
    after = totals(roomy)  # the same reader sees the swapped partitions
    assert after == totals(tiny) == totals(MetricsReader(env.storage))
    assert sum(after) > sum(before)


class _SlowStore(LakeStorage):
    """The real local lake, slow to answer a read (as an object store is) and counting them."""

    def __init__(self, storage: LakeStorage) -> None:
        super().__init__(None, storage.root, storage.url)
        self.reads: Counter[str] = Counter()
        self._count = threading.Lock()

    def read_table(self, relative_path: str) -> pa.Table:
        with self._count:
            self.reads[relative_path] += 1
        time.sleep(0.2)
        return super().read_table(relative_path)


def test_concurrent_first_reads_load_each_partition_once(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    user = str(create_user(settings).id)
    env = _env(settings)
    write_event_files(env.storage, env.db, synthetic_events(600, user_ids=[user], start=DAY, days=3, seed=3))
    run_pass(env)
    store = _SlowStore(env.storage)
    reader = MetricsReader(store)
    first, last = DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=3)
    for zone in (None, "Asia/Kathmandu"):  # UTC days, then local days (their own cached figures)
        expected = daily_series(MetricsReader(env.storage), "line-delta", user, first, last, zone)
        assert sum(f.switch_count for _, f in expected) > 0
        store.reads.clear()
        start = threading.Barrier(8)

        def dashboard_read(zone: str | None, start: threading.Barrier) -> list[tuple[dt.date, Figures]]:
            start.wait()  # a dashboard's requests right after a start: every partition still cold
            return daily_series(reader, "line-delta", user, first, last, zone)

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(dashboard_read, [zone] * 8, [start] * 8))
        assert answers == [expected] * 8
        assert store.reads and max(store.reads.values()) == 1, store.reads
