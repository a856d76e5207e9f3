"""Observability (issue 15): ``GET /metrics`` (Prometheus, multi-process across the uvicorn workers,
bearer-token protected, 404 when disabled), request ids, and ``LOG_FORMAT=json`` logs."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from devflow.config import Settings
from tests.support.accounts import TestUser, create_user
from tests.support.server import ServerProcess, server_env
from tests.telemetry.payloads import file_save

EXPORTER_TOKEN = "scrape-token-0123456789abcdef"


def _request(
    url: str, *, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series in a text exposition (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        match = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)", line)
        if match is None or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(match.group(3))
    return 0.0


@pytest.mark.slow
def test_metrics_of_two_workers_after_traffic(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = make_settings().with_dev_secret()
    user: TestUser = create_user(settings)
    env = server_env(
        settings,
        DEVFLOW_LAKE_FLUSH_SECONDS="0.2",
        METRICS_ETL_ENABLED="true",
        METRICS_ETL_INTERVAL_SECONDS="0.5",
        METRICS_EXPORTER_ENABLED="true",
        METRICS_EXPORTER_TOKEN=EXPORTER_TOKEN,
        LOG_FORMAT="json",
        LOG_LEVEL="debug",
    )
    log_path = tmp_path / "server.log"
    server = ServerProcess(env, log_path=log_path, extra_args=["--workers", "2"]).start()
    try:
        base = server.base_url
        auth = {"Authorization": f"Bearer {user.token}"}
        for i in range(6):  # keep-alive off: the batches spread over both workers
            body = {"events": [file_save(ts=f"2026-05-14T09:12:0{i}.000Z"), {"type": "nope"}]}
            status, headers, _ = _request(base + "/api/v1/telemetry", method="POST", body=body, headers=auth)
            assert status == 202 and re.fullmatch(r"[0-9a-f]{24}", headers["x-request-id"])
        status, headers, _ = _request(base + "/api/v1/health", headers={"X-Request-ID": "trace-abc_1.2"})
        assert (status, headers["x-request-id"]) == (200, "trace-abc_1.2")

        assert _request(base + "/metrics")[0] == 401
        assert _request(base + "/metrics", headers={"Authorization": "Bearer wrong"})[0] == 401
        scrape = {"Authorization": f"Bearer {EXPORTER_TOKEN}"}
        deadline = time.monotonic() + 60
        while True:
            status, headers, raw = _request(base + "/metrics", headers=scrape)
            assert status == 200 and headers["content-type"].startswith("text/plain")
            text = raw.decode()
            flushed = sample(text, "devflow_lake_flush_duration_seconds_count")
            passes = sample(text, "devflow_etl_pass_duration_seconds_count")
            etl_ran = sample(text, "devflow_scheduler_job_runs_total", job="metrics-etl", outcome="ran")
            if (flushed and passes and etl_ran) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
    finally:
        server.stop()

    route = {"route": "/api/v1/telemetry", "method": "POST", "status": "202"}
    assert sample(text, "devflow_http_requests_total", **route) == 6
    assert sample(text, "devflow_http_request_duration_seconds_count", **route) == 6
    assert (
        sample(text, "devflow_http_requests_total", route="/api/v1/health", method="GET", status="200") >= 1
    )
    assert sample(text, "devflow_telemetry_events_total", outcome="accepted", reason="") == 6
    assert sample(text, "devflow_telemetry_events_total", outcome="rejected", reason="unknown_type") == 6
    assert flushed >= 1 and passes >= 1 and etl_ran >= 1
    assert "devflow_spool_bytes" in text and "devflow_spool_oldest_unflushed_age_seconds" in text
    assert "devflow_etl_freshness_lag_seconds" in text
    # Multi-process mode: each worker keeps its values in its own files (its histograms exist from
    # the start), a scrape of either sums them; at shutdown each dropped its live gauges.
    folder = settings.data_dir / "prometheus"
    assert len(list(folder.glob("histogram_*.db"))) == 2
    assert not list(folder.glob("gauge_livesum_*.db"))

    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert lines, "LOG_FORMAT=json writes one JSON object per line"
    traced = [line for line in lines if line.get("request_id") == "trace-abc_1.2"]
    assert traced and traced[0]["logger"] == "devflow.http" and "/api/v1/health" in traced[0]["message"]
    log_text = log_path.read_text()
    for secret in (user.token, EXPORTER_TOKEN, settings.jwt_secret):
        assert secret not in log_text


def test_metrics_are_not_served_when_disabled(client: TestClient[Any]) -> None:
    response = client.get("/metrics")
    assert response.status_code == 404
    assert "devflow_http_requests" not in response.text
    assert re.fullmatch(r"[0-9a-f]{24}", response.headers["x-request-id"])


def test_metrics_in_process_without_token(
    make_client: Callable[..., TestClient[Any]], settings: Settings
) -> None:
    """One process (the tests, ``--workers 1``): its own registry; no token configured → open."""
    client = make_client(METRICS_EXPORTER_ENABLED="true")
    user = create_user(settings)
    accepted = {"outcome": "accepted", "reason": ""}
    before = sample(client.get("/metrics").text, "devflow_telemetry_events_total", **accepted)
    response = client.post("/api/v1/telemetry", json={"events": [file_save()]}, headers=user.token_headers)
    assert response.status_code == 202
    text = client.get("/metrics").text
    assert sample(text, "devflow_telemetry_events_total", **accepted) == before + 1
    assert sample(text, "devflow_http_requests_total", route="/metrics", method="GET", status="200") >= 1
    client.get("/no/such/page")
    text = client.get("/metrics").text
    assert sample(text, "devflow_http_requests_total", route="unmatched", method="GET", status="404") >= 1
