"""Templates, their filters and the static-file URLs of the built-in pages.

One Jinja environment per process, loaded from the package (so an installed wheel serves the same
pages), with autoescaping on and undefined names as errors: a template bug fails loudly in the tests
instead of rendering an empty string.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

STATIC_DIR = Path(str(resources.files("devflow.web") / "static"))
STATIC_PREFIX = "/static"

# Pages are per-user and carry no third-party content: nothing but this origin, no scripts at all,
# never inside a frame (the approval page must not be clickjacked).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@functools.cache
def static_url(name: str) -> str:
    """``/static/<name>?v=<content hash>``: a changed file gets a new URL, so assets may be cached long."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    return f"{STATIC_PREFIX}/{name}?v={digest}"


def _as_datetime(value: dt.datetime | str | None) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def format_when(value: dt.datetime | str | None, empty: str = "never") -> str:
    """``14 May 2026, 09:41 UTC`` (every time on the pages is UTC, like the metrics' days)."""
    moment = _as_datetime(value)
    if moment is None:
        return empty
    moment = moment.astimezone(dt.UTC)
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def format_number(value: float | int | None) -> str:
    """``12,345``; ``—`` when there is no value."""
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def format_duration(seconds: float) -> str:
    """Coding time as people read it: ``3 h 05 min``, ``42 min``, ``0 min``."""
    minutes = int(seconds // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def format_ratio(value: float | None) -> str:
    """A churn ratio with two decimals, ``—`` when nothing was added."""
    return "—" if value is None else f"{value:.2f}"


def format_evidence(value: float | int | str | None) -> str:
    """An evidence value as the recommendation cites it."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return format_number(value)


@functools.cache
def environment() -> Environment:
    """The process's template environment (compiled templates are cached in it)."""
    env = Environment(
        loader=PackageLoader("devflow.web", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(
        when=format_when,
        number=format_number,
        ratio=format_ratio,
        evidence=format_evidence,
        duration=format_duration,
    )
    env.globals["static_url"] = static_url
    return env


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """Litestar's template configuration over :func:`environment` (it adds ``csrf_input``)."""
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment()))


@functools.cache
def error_page(status: int) -> bytes:
    """The HTML error page for ``status`` (no user, no form: also served by the edge gate)."""
    title, message = ERROR_TEXTS.get(status, ERROR_TEXTS[400 if status < 500 else 500])
    html = (
        environment()
        .get_template("error.html")
        .render(status=status, title=title, message=message, viewer=None, csrf_input="")
    )
    return html.encode("utf-8")


ERROR_TEXTS: dict[int, tuple[str, str]] = {
    400: ("Bad request", "The page could not make sense of that request."),
    401: ("Please sign in", "You need to sign in to see this page."),
    403: (
        "Not allowed",
        "This request was refused. If you submitted a form, it may have expired or come from another "
        "site: go back, reload the page and try again.",
    ),
    404: ("Page not found", "There is nothing at this address."),
    405: ("Not allowed here", "This page does not accept that kind of request."),
    409: ("Already done", "That was already done."),
    410: ("Gone", "This is no longer available."),
    413: ("Too large", "What you sent is too large."),
    429: ("Too many attempts", "Too many attempts in a short time. Wait a minute and try again."),
    500: ("Something went wrong", "Something went wrong on our side. Try again in a moment."),
    502: ("Sign-in provider failed", "The sign-in provider did not answer properly. Try again."),
    503: ("Temporarily unavailable", "The service is temporarily unavailable. Try again in a moment."),
}


def page_context(**values: Any) -> dict[str, Any]:
    """A template context; every page names the signed-in ``viewer`` (or None)."""
    values.setdefault("viewer", None)
    values.setdefault("notice", None)
    return values
