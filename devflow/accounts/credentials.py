"""Credential primitives: HS256 JWTs and ``dvf_`` API tokens (contract §1.4, §5.1)."""

from __future__ import annotations

import base64
import hashlib
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


def issue_jwt(secret: str, user_id: uuid.UUID, provider: str, now: float | None = None) -> str:
    """Sign ``{sub, provider, iat, exp=iat+7d}`` with HS256."""
    iat = int(now if now is not None else time.time())
    claims = {"sub": str(user_id), "provider": provider, "iat": iat, "exp": iat + JWT_TTL_SECONDS}
    return jwt.encode(claims, secret, algorithm="HS256", headers={"typ": "JWT"})


def decode_jwt(secret: str, token: str) -> JwtClaims | None:
    """Claims of a valid token, else None.

    Valid means: HS256 only, verified signature, ``exp`` in the future (no leeway), UUID ``sub``.
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
        sub = claims["sub"]
        if not isinstance(sub, str):
            return None
        user_id = uuid.UUID(sub)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return None
    if claims["exp"] <= time.time():
        return None
    provider = claims.get("provider")
    return JwtClaims(user_id=user_id, provider=provider if isinstance(provider, str) else "password")


def new_api_token() -> str:
    """``dvf_`` + base64url (no padding) of 32 CSPRNG bytes: 47 characters in total."""
    raw = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
    return API_TOKEN_PREFIX + raw


def api_token_hash(token: str) -> str:
    """Lower-case hex SHA-256 of the part after ``dvf_`` (what is stored)."""
    return hashlib.sha256(token[len(API_TOKEN_PREFIX) :].encode("utf-8")).hexdigest()


def api_token_prefix(token: str) -> str:
    return token[4:10]
