"""Settings parsing (contract Appendix A)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from devflow.config import ConfigError, Settings


def test_defaults_use_embedded_sqlite_and_local_lake(tmp_path: Path) -> None:
    s = Settings.from_env({"DEVFLOW_DATA_DIR": str(tmp_path)})
    assert s.database_url == f"sqlite:///{(tmp_path / 'devflow.sqlite3').resolve()}"
    assert s.lake_url == str(tmp_path / "lake")
    assert s.port == 3000
    # Contract 1.1: without FRONTEND_URL, pairing links point at the service's own pages.
    assert s.frontend_url is None
    assert s.public_url == "http://localhost:3000"
    assert s.web_app_url == "http://localhost:3000/"
    assert s.verification_uri == "http://localhost:3000/extension/pair"
    assert s.metrics_etl_interval_seconds == 60
    assert s.metrics_etl_batch_size == 1_000_000
    assert s.auth_rate_limit_per_minute == 10
    assert s.metrics_line_counting == "line-delta"
    assert not s.production


def test_database_url_wins_over_db_vars() -> None:
    env = {"DATABASE_URL": "postgresql://u:p@db:5432/x", "DB_HOST": "other"}
    assert Settings.from_env(env).database_url == "postgresql+psycopg://u:p@db:5432/x"


def test_legacy_db_vars_build_a_postgres_url() -> None:
    s = Settings.from_env({"DB_HOST": "db.internal", "DB_PASSWORD": "p@ss", "DB_SSLMODE": "require"})
    assert (
        s.database_url == "postgresql+psycopg://postgres:p%40ss@db.internal:5432/devflow_db?sslmode=require"
    )


@pytest.mark.parametrize("raw", ["abc", "-5", "0", "", "nan", "inf"])
def test_invalid_numbers_fall_back_to_defaults(raw: str) -> None:
    s = Settings.from_env(
        {
            "PORT": raw,
            "INSIGHT_COOLDOWN_MINUTES": raw,
            "RULE_HIGH_CHURN_RATIO": raw,
            "METRICS_ETL_BATCH_SIZE": raw,
        }
    )
    assert s.port == 3000
    assert s.insight_cooldown_minutes == 45
    assert s.rule_high_churn_ratio == 0.4
    assert s.metrics_etl_batch_size == 1_000_000


def test_valid_numbers_are_used_including_fractions() -> None:
    s = Settings.from_env(
        {"PORT": "8080", "RULE_HIGH_CHURN_RATIO": "0.25", "INSIGHT_COOLDOWN_MINUTES": "1.5"}
    )
    assert (s.port, s.rule_high_churn_ratio, s.insight_cooldown_minutes) == (8080, 0.25, 1.5)


@pytest.mark.parametrize(
    ("raw", "enabled"),
    [
        ("false", False),
        ("FALSE", False),
        ("0", False),
        ("", True),
        ("no", True),
        ("true", True),
        (None, True),
    ],
)
def test_enabled_flags(raw: str | None, enabled: bool) -> None:
    env = {} if raw is None else {"INSIGHTS_ENABLED": raw, "METRICS_ETL_ENABLED": raw}
    s = Settings.from_env(env)
    assert s.insights_enabled is enabled
    assert s.metrics_etl_enabled is enabled


def test_rate_limit_zero_disables_and_garbage_defaults() -> None:
    assert Settings.from_env({"AUTH_RATE_LIMIT_PER_MINUTE": "0"}).auth_rate_limit_per_minute == 0
    assert Settings.from_env({"AUTH_RATE_LIMIT_PER_MINUTE": "25"}).auth_rate_limit_per_minute == 25
    assert Settings.from_env({"AUTH_RATE_LIMIT_PER_MINUTE": "x"}).auth_rate_limit_per_minute == 10


def test_bcrypt_cost_defaults_to_12_and_refuses_what_bcrypt_cannot_use() -> None:
    assert Settings.from_env({}).password_bcrypt_cost == 12
    assert Settings.from_env({"PASSWORD_BCRYPT_COST": " 4 "}).password_bcrypt_cost == 4
    assert Settings.from_env({"PASSWORD_BCRYPT_COST": "31"}).password_bcrypt_cost == 31
    for raw in ("3", "32", "ten", "-5", "12.5"):
        with pytest.raises(ConfigError, match="PASSWORD_BCRYPT_COST"):
            Settings.from_env({"PASSWORD_BCRYPT_COST": raw})


def test_trust_proxy() -> None:
    assert Settings.from_env({}).trust_proxy is None
    assert Settings.from_env({"TRUST_PROXY": "true"}).trust_proxy == 1
    assert Settings.from_env({"TRUST_PROXY": "2"}).trust_proxy == 2
    assert Settings.from_env({"TRUST_PROXY": "false"}).trust_proxy is None


def test_lists_are_trimmed() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    s = Settings.from_env(
        {
            "CORS_ALLOWED_ORIGINS": " http://a.com ,http://b.com:8080,, ",
            "ADMIN_USER_IDS": f" {str(a).upper()} , {b},not-a-uuid",
        }
    )
    assert s.cors_allowed_origins == ("http://a.com", "http://b.com:8080")
    assert s.admin_user_ids == frozenset({a, b})


def test_frontend_url_trailing_slashes_and_empty() -> None:
    """Checklist #59."""
    s = Settings.from_env({"FRONTEND_URL": "https://app.example.com//"})
    assert s.verification_uri == "https://app.example.com/extension/pair"
    assert s.web_app_url == "https://app.example.com//"
    assert Settings.from_env({"FRONTEND_URL": ""}).verification_uri == "http://localhost:3000/extension/pair"


def test_public_url_port_and_trailing_slashes() -> None:
    """#131: with FRONTEND_URL unset and PORT=3000 the link is the service's own pairing page."""
    assert Settings.from_env({"PORT": "3000"}).verification_uri == "http://localhost:3000/extension/pair"
    assert Settings.from_env({"PORT": "8123"}).verification_uri == "http://localhost:8123/extension/pair"
    s = Settings.from_env({"PUBLIC_URL": "https://devflow.example.com/"})
    assert s.verification_uri == "https://devflow.example.com/extension/pair"
    assert s.web_app_url == "https://devflow.example.com/"


SECRET_32 = "k" * 32


@pytest.mark.parametrize("var", ["DEVFLOW_ENV", "NODE_ENV"])
def test_production_requires_secret_and_frontend(var: str) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env({var: "production", "FRONTEND_URL": "https://app.example.com"})
    with pytest.raises(ConfigError):
        Settings.from_env({var: "production", "JWT_SECRET": SECRET_32})
    s = Settings.from_env(
        {var: "production", "JWT_SECRET": SECRET_32, "FRONTEND_URL": "https://app.example.com"}
    )
    assert s.production
    s = Settings.from_env({var: "production", "JWT_SECRET": SECRET_32, "PUBLIC_URL": "https://d.example.com"})
    assert s.verification_uri == "https://d.example.com/extension/pair"


@pytest.mark.parametrize("var", ["DEVFLOW_ENV", "NODE_ENV"])
def test_production_jwt_secret_of_31_bytes_is_refused(var: str) -> None:
    """#130: a 31-byte secret is refused, naming the variable; 32 bytes are enough (bytes, not chars)."""
    env = {var: "production", "FRONTEND_URL": "https://app.example.com"}
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        Settings.from_env({**env, "JWT_SECRET": "k" * 31})
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        Settings.from_env({**env, "JWT_SECRET": "é" * 15})  # 15 characters, 30 bytes
    assert Settings.from_env({**env, "JWT_SECRET": "é" * 16}).production  # 32 bytes
    assert Settings.from_env({**env, "JWT_SECRET": SECRET_32}).jwt_secret == SECRET_32


def test_unknown_line_counting_falls_back() -> None:
    assert Settings.from_env({"METRICS_LINE_COUNTING": "typing-heuristic"}).metrics_line_counting == (
        "typing-heuristic"
    )
    assert Settings.from_env({"METRICS_LINE_COUNTING": "bogus"}).metrics_line_counting == "line-delta"


def test_dev_secret_generated_once_and_kept(tmp_path: Path) -> None:
    s = Settings.from_env({"DEVFLOW_DATA_DIR": str(tmp_path)})
    first = s.with_dev_secret().jwt_secret
    second = Settings.from_env({"DEVFLOW_DATA_DIR": str(tmp_path)}).with_dev_secret().jwt_secret
    assert first and first == second
    assert (tmp_path / "jwt_secret").stat().st_mode & 0o077 == 0
    assert (
        Settings.from_env({"DEVFLOW_DATA_DIR": str(tmp_path), "JWT_SECRET": "x"}).with_dev_secret().jwt_secret
        == "x"
    )


def test_serve_refuses_to_start_with_a_short_production_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """#130 through the command: exit status 2 and a message naming JWT_SECRET, before any I/O."""
    from devflow.cli import main

    monkeypatch.setenv("DEVFLOW_DATA_DIR", str(tmp_path / "never-created"))
    monkeypatch.setenv("DEVFLOW_ENV", "production")
    monkeypatch.setenv("FRONTEND_URL", "https://app.example.com")
    monkeypatch.setenv("JWT_SECRET", "k" * 31)
    assert main(["serve"]) == 2
    assert "JWT_SECRET" in capsys.readouterr().err
    assert not (tmp_path / "never-created").exists()
