"""Query validation of the metric endpoints and the ETL endpoint's guards (checklist 91–95, 99, 104, 105)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient

from devflow.config import Settings
from tests.support.accounts import TestUser, create_user

ENDPOINTS = ["churn", "context-switching"]


@pytest.fixture()
def client(module_client: TestClient[Any]) -> TestClient[Any]:
    """The module's one app: these checks only read, each as a new user."""
    return module_client


@pytest.fixture()
def user(module_settings: Settings) -> TestUser:
    return create_user(module_settings)


def _get(client: TestClient[Any], user: TestUser, endpoint: str, query: str) -> Any:
    return client.get(f"/api/v1/metrics/{endpoint}?{query}", headers=user.jwt_headers)


def _message(response: Any) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "Validation failed"
    assert set(body) == {"error", "message"}
    return str(body["message"])


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-05-08", "from and to are required (YYYY-MM-DD)"),  # 91
        ("to=2026-05-08", "from and to are required (YYYY-MM-DD)"),
        ("from=&to=2026-05-08", "from and to are required (YYYY-MM-DD)"),
        ("", "from and to are required (YYYY-MM-DD)"),
        ("from=2026/05/01&to=2026-05-08", "from and to must be YYYY-MM-DD"),  # 92
        ("from=2026-13-45&to=2026-05-08", "from and to must be YYYY-MM-DD"),
        ("from=2026-02-01&to=2026-02-30", "from and to must be YYYY-MM-DD"),
        ("from=2026-05-01&from=2026-05-02&to=2026-05-08", "from and to must be YYYY-MM-DD"),
        ("from=２０２６-05-01&to=2026-05-08", "from and to must be YYYY-MM-DD"),
        ("from=2026-05-10&to=2026-05-01", "from must be <= to"),  # 93
        ("from=2025-01-01&to=2026-01-02", "range must be at most 366 days"),  # 94
        ("from=2026-13-45&to=2026-05-01", "from and to must be YYYY-MM-DD"),  # order: 2 before 3
    ],
)
def test_date_validation_in_order(
    client: TestClient[Any], user: TestUser, endpoint: str, query: str, message: str
) -> None:
    """Checklist #91, #94."""
    assert _message(_get(client, user, endpoint, query)) == message


@pytest.mark.parametrize("top_n", ["0", "21", "abc", "1.5", "", "-1", "+5", "05x"])
@pytest.mark.parametrize("grain", ["daily", "session"])
def test_top_n_must_be_1_to_20(client: TestClient[Any], user: TestUser, top_n: str, grain: str) -> None:
    """Checklist #99."""
    query = f"from=2026-05-08&to=2026-05-14&grain={grain}&top_n={top_n}"
    assert _message(_get(client, user, "context-switching", query)) == "top_n must be an integer 1..20"


def test_range_checks_come_before_top_n(client: TestClient[Any], user: TestUser) -> None:
    """Checklist #99."""
    query = "from=2026-05-10&to=2026-05-01&top_n=0"
    assert _message(_get(client, user, "context-switching", query)) == "from must be <= to"


def test_valid_top_n_and_churn_ignores_top_n(client: TestClient[Any], user: TestUser) -> None:
    """Checklist #99."""
    for top_n in ("1", "20", "07"):
        response = _get(client, user, "context-switching", f"from=2026-05-08&to=2026-05-08&top_n={top_n}")
        assert response.status_code == 200
    assert _get(client, user, "churn", "from=2026-05-08&to=2026-05-08&top_n=abc").status_code == 200


def test_leap_year_range_has_366_series_entries(client: TestClient[Any], user: TestUser) -> None:
    """Checklist #94."""
    body = _get(client, user, "churn", "from=2024-01-01&to=2024-12-31").json()
    assert len(body["series"]) == 366
    assert body["series"][0]["date"] == "2024-01-01" and body["series"][-1]["date"] == "2024-12-31"


def test_empty_range_gives_null_ratio_and_dense_zero_series(client: TestClient[Any], user: TestUser) -> None:
    """Checklist #95."""
    body = _get(client, user, "churn", "from=2026-05-08&to=2026-05-14").json()
    assert body["ratio"] is None
    assert body["total_lines_added"] == 0 and body["total_lines_deleted"] == 0
    assert body["definition"] == "line-delta" and body["grain"] == "daily"
    assert body["from"] == "2026-05-08" and body["to"] == "2026-05-14"
    assert [e["date"] for e in body["series"]] == [f"2026-05-{d:02d}" for d in range(8, 15)]
    assert all(
        e == {"date": e["date"], "lines_added": 0, "lines_deleted": 0, "ratio": None} for e in body["series"]
    )
    switching = _get(client, user, "context-switching", "from=2026-05-08&to=2026-05-14").json()
    assert switching["switch_count"] == 0 and switching["top_files"] == []
    assert switching["definition"] == "editor-switch-count"
    assert len(switching["series"]) == 7


def test_grain_weird_is_daily_and_session_grain_shape(client: TestClient[Any], user: TestUser) -> None:
    body = _get(client, user, "churn", "from=2026-05-08&to=2026-05-09&grain=weird").json()
    assert body["grain"] == "daily" and "series" in body
    body = _get(client, user, "churn", "from=2026-05-08&to=2026-05-09&grain=session").json()
    assert body == {
        "sessions": [],
        "definition": "line-delta",
        "from": "2026-05-08",
        "to": "2026-05-09",
        "grain": "session",
    }


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_unauthenticated_is_401_before_validation(client: TestClient[Any], endpoint: str) -> None:
    response = client.get(f"/api/v1/metrics/{endpoint}?from=bad")
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized"}


def test_token_caller_gets_200(client: TestClient[Any], user: TestUser) -> None:
    """Checklist #104."""
    response = client.get("/api/v1/metrics/churn?from=2026-05-08&to=2026-05-08", headers=user.token_headers)
    assert response.status_code == 200


def test_etl_run_guards(make_settings: Callable[..., Settings], make_client: Callable[..., Any]) -> None:
    """Checklist #105."""
    settings = make_settings()
    admin, other = create_user(settings), create_user(settings)
    client = make_client(ADMIN_USER_IDS=f" {str(admin.id).upper()} ")
    assert client.post("/api/v1/metrics/etl/run").status_code == 401
    response = client.post("/api/v1/metrics/etl/run", headers=admin.token_headers)
    assert (response.status_code, response.json()) == (403, {"error": "API tokens cannot trigger ETL"})
    response = client.post("/api/v1/metrics/etl/run", headers=other.jwt_headers)
    assert (response.status_code, response.json()) == (403, {"error": "Admin only"})
    # bodiless: any content type and content is ignored
    response = client.post(
        "/api/v1/metrics/etl/run",
        headers={**admin.jwt_headers, "Content-Type": "application/json"},
        content=b"{",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"processed_count", "watermark_before", "watermark_after", "duration_ms"}
    assert all(type(v) is int for v in body.values())
    assert body["processed_count"] == body["watermark_after"] - body["watermark_before"] == 0
