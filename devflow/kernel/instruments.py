"""Prometheus instruments of every layer (issue 15), off unless :func:`enable` was called.

Disabled, each recording function is one global read: the hot paths pay nothing measurable.
Enabled with a folder, prometheus-client's multi-process mode is used (the uvicorn workers each
write their own value files there and a scrape of any worker sums them); without one, the
process's own registry is exposed (a single process: ``devflow worker``, the tests).
``prometheus_client`` is imported on enable only, so servers that do not export never load it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

#: Latency buckets (seconds) of the request histogram: ingest answers in milliseconds, reports in tenths.
REQUEST_BUCKETS: Final = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Flush and ETL pass duration buckets (seconds).
WORK_BUCKETS: Final = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def multiprocess_folder(data_dir: Path) -> Path:
    """Where the uvicorn workers of one server keep their value files."""
    return data_dir / "prometheus"


@dataclass(frozen=True, slots=True)
class _Instruments:
    multiprocess_dir: Path | None
    requests: Any
    latency: Any
    events: Any
    spool_bytes: Any
    spool_oldest_age: Any
    flush_duration: Any
    etl_duration: Any
    etl_lag: Any
    jobs: Any


_active: _Instruments | None = None
_registries: list[Any] = [None]  # the single-process registry, once enabled
_guard = threading.Lock()


def enable(multiprocess_dir: Path | None) -> None:
    """Create the instruments once per process (later calls keep the first set-up)."""
    global _active
    with _guard:
        if _active is not None:
            return
        if multiprocess_dir is not None:
            multiprocess_dir.mkdir(parents=True, exist_ok=True)
            # prometheus-client reads this variable itself when it creates each value file.
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(multiprocess_dir)
        import prometheus_client as prom
        from prometheus_client import values

        if multiprocess_dir is not None:
            values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        registry = prom.CollectorRegistry(auto_describe=True)
        _active = _Instruments(
            multiprocess_dir=multiprocess_dir,
            requests=prom.Counter(
                "devflow_http_requests",
                "HTTP requests by route template, method and status",
                ["route", "method", "status"],
                registry=registry,
            ),
            latency=prom.Histogram(
                "devflow_http_request_duration_seconds",
                "HTTP request latency by route template, method and status",
                ["route", "method", "status"],
                buckets=REQUEST_BUCKETS,
                registry=registry,
            ),
            events=prom.Counter(
                "devflow_telemetry_events",
                "Telemetry events accepted, or rejected by reason (the reason's kind)",
                ["outcome", "reason"],
                registry=registry,
            ),
            spool_bytes=prom.Gauge(
                "devflow_spool_bytes",
                "Bytes in the spool not yet in the lake",
                registry=registry,
                multiprocess_mode="livesum",
            ),
            spool_oldest_age=prom.Gauge(
                "devflow_spool_oldest_unflushed_age_seconds",
                "Age of the oldest event not yet flushed to the lake (at the flusher's last tick)",
                registry=registry,
                multiprocess_mode="livemax",
            ),
            flush_duration=prom.Histogram(
                "devflow_lake_flush_duration_seconds",
                "Duration of lake flushes that moved rows",
                buckets=WORK_BUCKETS,
                registry=registry,
            ),
            etl_duration=prom.Histogram(
                "devflow_etl_pass_duration_seconds",
                "Duration of metrics ETL passes",
                buckets=WORK_BUCKETS,
                registry=registry,
            ),
            etl_lag=prom.Gauge(
                "devflow_etl_freshness_lag_seconds",
                "Age of the newest lake file the last ETL pass had to leave for later (0: caught up)",
                registry=registry,
                multiprocess_mode="mostrecent",
            ),
            jobs=prom.Counter(
                "devflow_scheduler_job_runs",
                "Scheduler job runs by job and outcome (ran, skipped: held elsewhere, failed)",
                ["job", "outcome"],
                registry=registry,
            ),
        )
        _registries[0] = registry


def enabled() -> bool:
    """Whether this process records and exposes metrics."""
    return _active is not None


def exposition() -> tuple[bytes, str]:
    """The text exposition (every worker's values in multi-process mode) and its content type."""
    active = _active
    if active is None:
        raise RuntimeError("metrics are not enabled")
    import prometheus_client as prom
    from prometheus_client import multiprocess

    if active.multiprocess_dir is not None:
        registry = prom.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(active.multiprocess_dir))  # type: ignore[no-untyped-call]
    else:
        registry = _registries[0]
    return prom.generate_latest(registry), prom.CONTENT_TYPE_LATEST


def process_exiting() -> None:
    """Drop this process's live gauges (multi-process mode) when it shuts down."""
    active = _active
    if active is not None and active.multiprocess_dir is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid(), path=str(active.multiprocess_dir))  # type: ignore[no-untyped-call]


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """One HTTP request answered."""
    active = _active
    if active is not None:
        labels = (route, method, str(status))
        active.requests.labels(*labels).inc()
        active.latency.labels(*labels).observe(seconds)


def count_events(accepted: int, reasons: Iterable[str]) -> None:
    """A telemetry batch's accepted count and its rejections' reasons (``kind:detail`` → ``kind``)."""
    active = _active
    if active is None:
        return
    if accepted:
        active.events.labels("accepted", "").inc(accepted)
    kinds: dict[str, int] = {}
    for reason in reasons:
        kind = reason.split(":", 1)[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    for kind, count in kinds.items():
        active.events.labels("rejected", kind).inc(count)


def set_spool(unflushed_bytes: int, oldest_age_seconds: float) -> None:
    """The spool's backlog as the flusher sees it."""
    active = _active
    if active is not None:
        active.spool_bytes.set(unflushed_bytes)
        active.spool_oldest_age.set(oldest_age_seconds)


def observe_flush(seconds: float) -> None:
    """One lake flush that moved rows."""
    active = _active
    if active is not None:
        active.flush_duration.observe(seconds)


def observe_etl_pass(seconds: float, lag_seconds: float) -> None:
    """One ETL pass and the freshness lag it left."""
    active = _active
    if active is not None:
        active.etl_duration.observe(seconds)
        active.etl_lag.set(lag_seconds)


def count_job(job: str, outcome: str) -> None:
    """One scheduler tick of ``job``: ``ran``, ``skipped`` or ``failed``."""
    active = _active
    if active is not None:
        active.jobs.labels(job, outcome).inc()
