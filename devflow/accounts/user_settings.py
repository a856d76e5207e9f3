"""A user's own settings: the IANA time zone of their days and a path-privacy mode.

``path_privacy`` is the user's choice, which may only be as strict as or stricter than the
server's ``PATH_PRIVACY`` (order: keep < redact-home < hash); the mode applied to their events is
the stricter of the two (:func:`effective_path_privacy`). ``None`` clears either field.
"""

from __future__ import annotations

import uuid
import zoneinfo
from typing import Any, Literal

import msgspec
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from devflow.accounts.models import User
from devflow.config import PATH_PRIVACY_MODES, path_privacy_rank
from devflow.db.engine import read_only_connection
from devflow.kernel.errors import NotFound, SchemaValidationFailed, ValidationFailed
from devflow.kernel.jsontext import ABSENT

TIME_ZONE_MAX_LENGTH = 64  # the column's width
_TIME_ZONE_OF = select(User.time_zone).where(User.id == bindparam("user_id"))

PathPrivacy = Literal["keep", "redact-home", "hash"]


class SettingsOut(msgspec.Struct):
    """``GET/PATCH /me/settings``: the user's own values and the mode their events get."""

    time_zone: str | None
    path_privacy: PathPrivacy | None
    server_path_privacy: PathPrivacy
    effective_path_privacy: PathPrivacy


class SettingsPatch(msgspec.Struct, forbid_unknown_fields=True):
    """``PATCH /me/settings``: absent fields stay, ``null`` clears."""

    time_zone: str | msgspec.UnsetType | None = msgspec.UNSET
    path_privacy: PathPrivacy | msgspec.UnsetType | None = msgspec.UNSET


def is_valid_time_zone(name: str) -> bool:
    """An IANA zone name the server's tz database knows (``UTC``, ``Europe/Paris``…)."""
    if not name or len(name) > TIME_ZONE_MAX_LENGTH or "\x00" in name:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def stricter(a: str, b: str | None) -> str:
    """The stricter of two path-privacy modes (``b`` None: ``a``)."""
    if b is None or b not in PATH_PRIVACY_MODES:
        return a
    return a if path_privacy_rank(a) >= path_privacy_rank(b) else b


def parse_settings_patch(body: Any, server_mode: str) -> SettingsPatch:
    """A validated PATCH body, or ``400`` (unknown zone, unknown mode, a mode laxer than the server's)."""
    if body is ABSENT:
        body = {}
    try:
        patch = msgspec.convert(body, SettingsPatch)
    except msgspec.ValidationError as exc:
        path = str(exc).rsplit("at `$.", 1)[-1].rstrip("`") if "at `$." in str(exc) else ""
        raise SchemaValidationFailed(
            [{"instancePath": f"/{path}" if path else "", "message": str(exc).split(" - at ")[0]}]
        ) from exc
    if isinstance(patch.time_zone, str) and not is_valid_time_zone(patch.time_zone):
        raise ValidationFailed("time_zone must be an IANA time zone name such as Europe/Paris")
    if isinstance(patch.path_privacy, str) and path_privacy_rank(patch.path_privacy) < path_privacy_rank(
        server_mode
    ):
        raise ValidationFailed(
            f"path_privacy may not be less strict than the server's ({server_mode}); "
            "order: keep < redact-home < hash"
        )
    return patch


def _settings_out(user: User, server_mode: str) -> SettingsOut:
    own = user.path_privacy if user.path_privacy in PATH_PRIVACY_MODES else None
    return SettingsOut(
        time_zone=user.time_zone,
        path_privacy=own,  # type: ignore[arg-type]
        server_path_privacy=server_mode,  # type: ignore[arg-type]
        effective_path_privacy=stricter(server_mode, own),  # type: ignore[arg-type]
    )


def load_settings(db: sessionmaker[Session], user_id: uuid.UUID, server_mode: str) -> SettingsOut:
    """The user's settings, or ``404 User not found``."""
    with db() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound("User not found")
        return _settings_out(user, server_mode)


def update_settings(
    db: sessionmaker[Session], user_id: uuid.UUID, patch: SettingsPatch, server_mode: str
) -> SettingsOut:
    """Apply a validated patch in one transaction; ``404 User not found`` for a deleted user."""
    with db.begin() as session:
        user = session.get(User, user_id, with_for_update=True)
        if user is None:
            raise NotFound("User not found")
        if patch.time_zone is not msgspec.UNSET:
            user.time_zone = patch.time_zone
        if patch.path_privacy is not msgspec.UNSET:
            user.path_privacy = patch.path_privacy
        session.flush()
        return _settings_out(user, server_mode)


def user_time_zone(db: sessionmaker[Session], user_id: uuid.UUID) -> str | None:
    """The IANA zone the user chose for their days (None: UTC, or no such user). Every metrics read
    without ``tz`` asks, so it runs on a read-only Core connection, not an ORM session."""
    with read_only_connection(db.kw["bind"]) as connection:
        zone = connection.scalar(_TIME_ZONE_OF, {"user_id": user_id})
    return None if zone is None else str(zone)


def user_path_privacy_modes(db: sessionmaker[Session], user_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The users' own path-privacy choices (users without one are absent)."""
    if not user_ids:
        return {}
    with db() as session:
        rows = session.execute(
            select(User.id, User.path_privacy).where(User.id.in_(user_ids), User.path_privacy.is_not(None))
        ).all()
    return {row.id: row.path_privacy for row in rows if row.path_privacy in PATH_PRIVACY_MODES}


def effective_path_privacy(server_mode: str, user_mode: str | None) -> str:
    """The mode applied to a user's events: the stricter of the server's and the user's."""
    return stricter(server_mode, user_mode)
