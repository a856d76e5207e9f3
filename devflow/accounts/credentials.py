"""Credential primitives: HS256 JWTs and ``dvf_`` API tokens (contract §1.4, §5.1)."""

from __future__ import annotations

import base64
import hashlib
import math
import secrets
import time
import uuid
from dataclasses import dataclass

import jwt

JWT_TTL_SECONDS = 604800
API_TOKEN_PREFIX = "dvf_"


@dataclass(frozen=True, slots=True)
class JwtClaims:
    user_id: uuid.UUID
    provider: str
    expires_at: float  # the ``exp`` claim, seconds since the epoch


def issue_jwt(secret: str, user_id: uuid.UUID, provider: str, now: float | None = None) -> str:
    """Sign ``{sub, provider, iat, exp=iat+7d}`` with HS256."""
    iat = int(now if now is not None else time.time())
    claims = {"sub": str(user_id), "provider": provider, "iat": iat, "exp": iat + JWT_TTL_SECONDS}
    return jwt.encode(claims, secret, algorithm="HS256", headers={"typ": "JWT"})


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def decode_jwt(secret: str, token: str) -> JwtClaims | None:
    """Claims of a valid token, else None.

    Valid means: HS256 only, verified signature, ``exp`` a JSON number in the future (no leeway),
    ``sub`` a UUID string; a claim of the wrong type (``exp`` as a string, ``sub`` as a number, a
    non-numeric ``iat``, a non-string ``provider``) makes the token invalid (contract 1.1 §1.4).
    """
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != "HS256":
            return None
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            # iat is not a validity condition in §1.4: a replica whose clock lags the issuer's by a
            # second must not reject (401 → the dashboard logs out) a token issued a moment ago.
            options={"require": ["exp", "sub"], "verify_iat": False},
            leeway=0,
        )
    except (jwt.PyJWTError, ValueError, TypeError, KeyError, OverflowError):
        return None
    if not isinstance(claims, dict):
        return None
    exp, sub, provider = claims.get("exp"), claims.get("sub"), claims.get("provider", "password")
    if not _is_number(exp) or not isinstance(sub, str) or not isinstance(provider, str):
        return None
    assert isinstance(exp, int | float)
    if "iat" in claims and not _is_number(claims["iat"]):
        return None
    try:
        user_id = uuid.UUID(sub)
    except ValueError:
        return None
    if exp <= time.time():
        return None
    return JwtClaims(user_id=user_id, provider=provider, expires_at=float(exp))


def jwt_issued_at(secret: str, token: str) -> float | None:
    """The ``iat`` of a valid token (None: invalid, or issued without one)."""
    if decode_jwt(secret, token) is None:
        return None
    iat = jwt.decode(token, secret, algorithms=["HS256"], options={"verify_exp": False}).get("iat")
    return float(iat) if isinstance(iat, int | float) and _is_number(iat) else None


def new_api_token() -> str:
    """``dvf_`` + base64url (no padding) of 32 CSPRNG bytes: 47 characters in total."""
    raw = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
    return API_TOKEN_PREFIX + raw


def api_token_hash(token: str) -> str:
    """Lower-case hex SHA-256 of the part after ``dvf_`` (what is stored)."""
    return hashlib.sha256(token[len(API_TOKEN_PREFIX) :].encode("utf-8")).hexdigest()


def api_token_prefix(token: str) -> str:
    return token[4:10]
