"""One typed Settings object, read from the environment once (contract Appendix A).

Nothing else in devflow reads ``os.environ``: everything receives a ``Settings``.
Tests build their own with ``Settings.from_env({...})``.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

log = logging.getLogger("devflow.config")


OAUTH_GOOGLE_AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
OAUTH_GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
OAUTH_GOOGLE_USERINFO_URL = "https://www.googleapis.com/oauth2/v3/userinfo"
OAUTH_GITHUB_AUTHORIZE_URL = "https://github.com/login/oauth/authorize"
OAUTH_GITHUB_TOKEN_URL = "https://github.com/login/oauth/access_token"
OAUTH_GITHUB_API_URL = "https://api.github.com"


# Contract 1.1 Appendix A: a production HS256 key of fewer bytes is refused at start-up.
MIN_PRODUCTION_JWT_SECRET_BYTES = 32


#: Server-side path privacy modes, from least to most strict (a user may only move right of the
#: server's mode): keep < redact-home < hash.
PATH_PRIVACY_MODES: tuple[str, ...] = ("keep", "redact-home", "hash")


def path_privacy_rank(mode: str) -> int:
    """Position of ``mode`` in :data:`PATH_PRIVACY_MODES` (higher is stricter)."""
    return PATH_PRIVACY_MODES.index(mode)


def _path_privacy(env: Mapping[str, str]) -> str:
    mode = (env.get("PATH_PRIVACY") or "keep").strip().lower() or "keep"
    if mode not in PATH_PRIVACY_MODES:
        # A typo must not silently store the paths a privacy policy meant to hide.
        raise ConfigError(f"PATH_PRIVACY must be one of {', '.join(PATH_PRIVACY_MODES)}")
    return mode


def _optional_days(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        days = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number of days") from exc
    if days < 1:
        raise ConfigError(f"{name} must be at least 1")
    return days


class ConfigError(RuntimeError):
    """The environment cannot produce a runnable configuration (e.g. production without JWT_SECRET)."""


def _positive_number(env: Mapping[str, str], name: str, default: float) -> float:
    """Contract rule: used only if it parses as a finite number > 0, else the default."""
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        return default
    if not math.isfinite(value) or value <= 0:
        return default
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    value = _positive_number(env, name, float(default))
    return max(1, int(value))


def _enabled(env: Mapping[str, str], name: str) -> bool:
    """``false`` / ``0`` (case-insensitive) disable; unset, empty or anything else enables."""
    raw = env.get(name)
    if raw is None:
        return True
    return raw.strip().lower() not in {"false", "0"}


def _non_empty(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    return raw.strip()


def _csv(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name) or ""
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _admin_ids(env: Mapping[str, str]) -> frozenset[uuid.UUID]:
    ids: set[uuid.UUID] = set()
    for part in _csv(env, "ADMIN_USER_IDS"):
        try:
            ids.add(uuid.UUID(part))
        except ValueError:
            log.warning("ADMIN_USER_IDS entry is not a UUID and is ignored")
    return frozenset(ids)


def _rate_limit(env: Mapping[str, str]) -> int:
    """Integer >= 0; 0 disables (exception to the numeric rule). Anything else → 10."""
    raw = (env.get("AUTH_RATE_LIMIT_PER_MINUTE") or "").strip()
    if raw.isdigit():
        return int(raw)
    return 10


BCRYPT_COST = 12  # bcrypt's work factor for new password hashes
BCRYPT_MIN_COST, BCRYPT_MAX_COST = 4, 31  # the range bcrypt accepts


def _bcrypt_cost(env: Mapping[str, str]) -> int:
    """PASSWORD_BCRYPT_COST: a security setting, so a value bcrypt cannot use stops the start."""
    raw = (env.get("PASSWORD_BCRYPT_COST") or "").strip()
    if raw == "":
        return BCRYPT_COST
    if not raw.isdigit() or not BCRYPT_MIN_COST <= int(raw) <= BCRYPT_MAX_COST:
        raise ConfigError(
            f"PASSWORD_BCRYPT_COST must be a whole number from {BCRYPT_MIN_COST} to {BCRYPT_MAX_COST}"
        )
    return int(raw)


def _trust_proxy(env: Mapping[str, str]) -> int | None:
    raw = (env.get("TRUST_PROXY") or "").strip().lower()
    if raw == "":
        return None
    if raw == "true":
        return 1
    if raw.isdigit() and int(raw) >= 1:
        return int(raw)
    if raw in {"false", "0"}:
        return None
    log.warning("TRUST_PROXY is neither an integer >= 1 nor 'true'; ignored")
    return None


def _database_url(env: Mapping[str, str], data_dir: Path) -> str:
    explicit = _non_empty(env, "DATABASE_URL")
    if explicit:
        # Accept the libpq-style scheme too; SQLAlchemy needs the driver spelled out.
        for prefix in ("postgres://", "postgresql://"):
            if explicit.startswith(prefix):
                return "postgresql+psycopg://" + explicit[len(prefix) :]
        return explicit
    host = _non_empty(env, "DB_HOST")
    if host:
        port = (env.get("DB_PORT") or "5432").strip() or "5432"
        name = _non_empty(env, "DB_NAME") or "devflow_db"
        user = _non_empty(env, "DB_USER") or "postgres"
        password = env.get("DB_PASSWORD", "postgres")
        sslmode = _non_empty(env, "DB_SSLMODE") or "prefer"
        return (
            f"postgresql+psycopg://{quote_plus(user)}:{quote_plus(password)}@{host}:{port}/"
            f"{quote_plus(name)}?sslmode={quote_plus(sslmode)}"
        )
    return f"sqlite:///{(data_dir / 'devflow.sqlite3').resolve()}"


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of the service. Build with :meth:`from_env`; derive variants with :meth:`replace`."""

    port: int = 3000
    production: bool = False
    jwt_secret: str = ""
    data_dir: Path = Path("data")
    database_url: str = ""
    lake_url: str = ""
    cors_allowed_origins: tuple[str, ...] = ()
    # Where browsers reach this service (its built-in pages); trailing "/" removed.
    public_url: str = "http://localhost:3000"
    # A separately deployed dashboard, if any: pairing links then point at it.
    frontend_url: str | None = None
    web_app_url: str = "http://localhost:3000"
    vscode_deeplink: str | None = None
    oauth_callback_base_url: str | None = None
    google_client_id: str | None = None
    google_client_secret: str | None = None
    github_client_id: str | None = None
    github_client_secret: str | None = None
    oauth_google_authorize_url: str = OAUTH_GOOGLE_AUTHORIZE_URL
    oauth_google_token_url: str = OAUTH_GOOGLE_TOKEN_URL
    oauth_google_userinfo_url: str = OAUTH_GOOGLE_USERINFO_URL
    oauth_github_authorize_url: str = OAUTH_GITHUB_AUTHORIZE_URL
    oauth_github_token_url: str = OAUTH_GITHUB_TOKEN_URL
    oauth_github_api_url: str = OAUTH_GITHUB_API_URL
    admin_user_ids: frozenset[uuid.UUID] = frozenset()
    log_level: str = "info"
    google_api_key: str | None = field(default=None, repr=False)
    gemini_model: str = "gemini-2.5-flash"
    gemini_base_url: str | None = None
    # New: per-call Gemini timeout (contract §7.4 says 30 s); tests shorten it to stay fast.
    gemini_timeout_seconds: float = 30.0
    insights_enabled: bool = True
    insight_check_interval_seconds: float = 600.0
    insight_cooldown_minutes: float = 45.0
    snooze_duration_minutes: float = 30.0
    insight_activity_window_minutes: float = 30.0
    rule_very_long_session_min: float = 240.0
    rule_long_session_min: float = 120.0
    rule_high_churn_ratio: float = 0.4
    rule_rapid_switch_count: float = 30.0
    rule_delete_heavy_total: float = 50.0
    metrics_etl_enabled: bool = True
    metrics_etl_interval_seconds: float = 60.0
    metrics_etl_batch_size: int = 1_000_000
    metrics_line_counting: str = "line-delta"
    coding_time_gap_minutes: float = 10.0
    auth_rate_limit_per_minute: int = 10
    # New: bcrypt cost of new password hashes; the test suite lowers it (as Django's and Laravel's do).
    password_bcrypt_cost: int = BCRYPT_COST
    trust_proxy: int | None = None
    # New (devflow-specific): lake writer tuning. The contract bounds the flush interval at 10 s.
    lake_flush_interval_seconds: float = 2.0
    # Bounds the rows a worker holds between flushes and the flush's transient Arrow buffers.
    lake_flush_max_bytes: int = 6 * 1024 * 1024
    # New (issue 16): data rights. Path privacy at ingest; retention in days (None: forever).
    path_privacy: str = "keep"
    raw_events_retention_days: int | None = None
    quarantine_retention_days: int | None = 30
    # An OAuth account deletes itself with a JWT issued at most this many minutes ago.
    deletion_fresh_signin_minutes: float = 10.0
    # New (issue 15): connections per process (PostgreSQL; unset = 10 plus 20 overflow).
    database_pool_size: int | None = None
    # New (issue 15): Prometheus exposition at GET /metrics, off by default; bearer token if set.
    metrics_exporter_enabled: bool = False
    metrics_exporter_token: str | None = field(default=None, repr=False)
    # New (issue 15): "text" (default) or "json" (one JSON object per line, with the request id).
    log_format: str = "text"

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (tests use it to vary one knob)."""
        return replace(self, **changes)

    @property
    def verification_uri(self) -> str:
        """Where the extension sends the user to approve a pairing (contract §5.2)."""
        return (self.frontend_url or self.public_url) + "/extension/pair"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every variable of contract Appendix A (legacy names included) from ``env``.

        Raises :class:`ConfigError` when production mode lacks a ``JWT_SECRET`` of at least 32 bytes,
        or both ``FRONTEND_URL`` and ``PUBLIC_URL``.
        """
        env = os.environ if env is None else env
        production = any(
            (env.get(name) or "").strip().lower() == "production" for name in ("DEVFLOW_ENV", "NODE_ENV")
        )
        data_dir = Path(_non_empty(env, "DEVFLOW_DATA_DIR") or "./data")
        port = _positive_int(env, "PORT", 3000)
        frontend = _non_empty(env, "FRONTEND_URL")
        explicit_public = _non_empty(env, "PUBLIC_URL")
        if production and frontend is None and explicit_public is None:
            raise ConfigError("FRONTEND_URL or PUBLIC_URL is required in production mode")
        public_url = (explicit_public or f"http://localhost:{port}").rstrip("/")
        jwt_secret = env.get("JWT_SECRET") or ""
        if production:
            if not jwt_secret:
                raise ConfigError("JWT_SECRET is required in production mode")
            if len(jwt_secret.encode("utf-8", "surrogatepass")) < MIN_PRODUCTION_JWT_SECRET_BYTES:
                raise ConfigError(
                    f"JWT_SECRET must be at least {MIN_PRODUCTION_JWT_SECRET_BYTES} bytes in production mode"
                )
        line_counting = (env.get("METRICS_LINE_COUNTING") or "line-delta").strip().lower()
        if line_counting not in {"line-delta", "typing-heuristic"}:
            log.warning("METRICS_LINE_COUNTING=%r is unknown; using line-delta", line_counting)
            line_counting = "line-delta"
        log_level = (env.get("LOG_LEVEL") or "info").strip().lower()
        if log_level not in {"debug", "info", "warning", "error"}:
            log_level = "info"
        return cls(
            port=port,
            production=production,
            jwt_secret=jwt_secret,
            data_dir=data_dir,
            database_url=_database_url(env, data_dir),
            lake_url=_non_empty(env, "DEVFLOW_LAKE_URL") or str(data_dir / "lake"),
            cors_allowed_origins=_csv(env, "CORS_ALLOWED_ORIGINS"),
            public_url=public_url,
            frontend_url=frontend.rstrip("/") if frontend is not None else None,
            web_app_url=_non_empty(env, "WEB_APP_URL") or frontend or public_url + "/",
            vscode_deeplink=_non_empty(env, "VSCODE_DEEPLINK"),
            oauth_callback_base_url=_non_empty(env, "OAUTH_CALLBACK_BASE_URL"),
            google_client_id=_non_empty(env, "GOOGLE_CLIENT_ID"),
            google_client_secret=_non_empty(env, "GOOGLE_CLIENT_SECRET"),
            github_client_id=_non_empty(env, "GITHUB_CLIENT_ID"),
            github_client_secret=_non_empty(env, "GITHUB_CLIENT_SECRET"),
            oauth_google_authorize_url=_non_empty(env, "OAUTH_GOOGLE_AUTHORIZE_URL")
            or OAUTH_GOOGLE_AUTHORIZE_URL,
            oauth_google_token_url=_non_empty(env, "OAUTH_GOOGLE_TOKEN_URL") or OAUTH_GOOGLE_TOKEN_URL,
            oauth_google_userinfo_url=_non_empty(env, "OAUTH_GOOGLE_USERINFO_URL")
            or OAUTH_GOOGLE_USERINFO_URL,
            oauth_github_authorize_url=_non_empty(env, "OAUTH_GITHUB_AUTHORIZE_URL")
            or OAUTH_GITHUB_AUTHORIZE_URL,
            oauth_github_token_url=_non_empty(env, "OAUTH_GITHUB_TOKEN_URL") or OAUTH_GITHUB_TOKEN_URL,
            oauth_github_api_url=(_non_empty(env, "OAUTH_GITHUB_API_URL") or OAUTH_GITHUB_API_URL).rstrip(
                "/"
            ),
            admin_user_ids=_admin_ids(env),
            log_level=log_level,
            google_api_key=_non_empty(env, "GOOGLE_API_KEY"),
            gemini_model=_non_empty(env, "GEMINI_MODEL") or "gemini-2.5-flash",
            gemini_base_url=_non_empty(env, "GEMINI_BASE_URL"),
            gemini_timeout_seconds=_positive_number(env, "GEMINI_TIMEOUT_SECONDS", 30),
            insights_enabled=_enabled(env, "INSIGHTS_ENABLED"),
            insight_check_interval_seconds=_positive_number(env, "INSIGHT_CHECK_INTERVAL_SECONDS", 600),
            insight_cooldown_minutes=_positive_number(env, "INSIGHT_COOLDOWN_MINUTES", 45),
            snooze_duration_minutes=_positive_number(env, "SNOOZE_DURATION_MINUTES", 30),
            insight_activity_window_minutes=_positive_number(env, "INSIGHT_ACTIVITY_WINDOW_MINUTES", 30),
            rule_very_long_session_min=_positive_number(env, "RULE_VERY_LONG_SESSION_MIN", 240),
            rule_long_session_min=_positive_number(env, "RULE_LONG_SESSION_MIN", 120),
            rule_high_churn_ratio=_positive_number(env, "RULE_HIGH_CHURN_RATIO", 0.4),
            rule_rapid_switch_count=_positive_number(env, "RULE_RAPID_SWITCH_COUNT", 30),
            rule_delete_heavy_total=_positive_number(env, "RULE_DELETE_HEAVY_TOTAL", 50),
            metrics_etl_enabled=_enabled(env, "METRICS_ETL_ENABLED"),
            metrics_etl_interval_seconds=_positive_number(env, "METRICS_ETL_INTERVAL_SECONDS", 60),
            metrics_etl_batch_size=_positive_int(env, "METRICS_ETL_BATCH_SIZE", 1_000_000),
            metrics_line_counting=line_counting,
            coding_time_gap_minutes=_positive_number(env, "CODING_TIME_GAP_MINUTES", 10),
            auth_rate_limit_per_minute=_rate_limit(env),
            password_bcrypt_cost=_bcrypt_cost(env),
            trust_proxy=_trust_proxy(env),
            lake_flush_interval_seconds=min(10.0, _positive_number(env, "DEVFLOW_LAKE_FLUSH_SECONDS", 2.0)),
            lake_flush_max_bytes=_positive_int(env, "DEVFLOW_LAKE_FLUSH_MAX_BYTES", 6 * 1024 * 1024),
            path_privacy=_path_privacy(env),
            raw_events_retention_days=_optional_days(env, "RAW_EVENTS_RETENTION_DAYS", None),
            quarantine_retention_days=_optional_days(env, "QUARANTINE_RETENTION_DAYS", 30),
            deletion_fresh_signin_minutes=_positive_number(env, "DELETION_FRESH_SIGNIN_MINUTES", 10),
            database_pool_size=(
                _positive_int(env, "DATABASE_POOL_SIZE", 10)
                if _non_empty(env, "DATABASE_POOL_SIZE")
                else None
            ),
            metrics_exporter_enabled=(env.get("METRICS_EXPORTER_ENABLED") or "").strip().lower() == "true",
            metrics_exporter_token=_non_empty(env, "METRICS_EXPORTER_TOKEN"),
            log_format="json" if (env.get("LOG_FORMAT") or "").strip().lower() == "json" else "text",
        )

    def with_dev_secret(self) -> Settings:
        """Outside production, an unset JWT_SECRET is generated once and kept in the data dir."""
        if self.jwt_secret:
            return self
        if self.production:
            raise ConfigError("JWT_SECRET is required in production mode")
        path = self.data_dir / "jwt_secret"
        if path.exists():
            secret = path.read_text().strip()
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            secret = secrets.token_urlsafe(48)
            tmp = path.with_name(f".jwt_secret.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secret)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)  # atomic create-if-absent, content already in place
            except FileExistsError:  # another process won the race; use its secret
                secret = path.read_text().strip()
            else:
                log.warning("JWT_SECRET is unset: generated a development secret in %s", path)
            finally:
                tmp.unlink(missing_ok=True)
        return self.replace(jwt_secret=secret)


def warn_if_proxy_unconfigured(settings: Settings) -> None:
    """The one start-up warning of §1.8 when private/loopback peers will skip the per-IP limit.

    Here rather than beside the limiter so that ``devflow serve``'s supervisor process, which only
    starts the workers, never imports the application."""
    if settings.auth_rate_limit_per_minute > 0 and settings.trust_proxy is None:
        log.warning(
            "TRUST_PROXY is unset: login/register requests from loopback or private addresses skip "
            "the per-IP rate limit (the per-email limit still applies). Set TRUST_PROXY=<number of "
            "proxies> when running behind a reverse proxy."
        )
