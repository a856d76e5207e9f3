"""Wire shapes of the accounts context: request-body schemas and response Structs.

The three schema-validated bodies (register, login, token issue; contract §1.3) are checked by a
small declarative validator that reports every problem the way JSON-Schema validators do:
``{"instancePath": "/email", "message": "must match format \"email\""}``. Bodies are decoded
as plain JSON first (so ``400 Invalid JSON`` and the contract's check order stay in our hands),
then validated here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec

from devflow.accounts.passwords import is_valid_email
from devflow.kernel.errors import SchemaValidationFailed
from devflow.kernel.jsontext import ABSENT

# Column limits: a longer value could not be stored, so it is a validation error, not a 500.
EMAIL_MAX_LENGTH = 320


@dataclass(frozen=True, slots=True)
class StringField:
    """One string property of a request object."""

    name: str
    required: bool = True
    min_length: int | None = None
    max_length: int | None = None
    format_name: str | None = None
    format_check: Callable[[str], bool] | None = None
    # Stored strings cannot hold NUL on PostgreSQL: reject it up front instead of failing later.
    allow_nul: bool = True


def _problems(body: Any, fields: tuple[StringField, ...]) -> list[dict[str, str]]:
    if body is ABSENT:  # §1.2: an absent body is an object with no fields
        body = {}
    if not isinstance(body, dict):
        return [{"instancePath": "", "message": "must be object"}]
    problems: list[dict[str, str]] = []
    for spec in fields:
        if spec.name not in body:
            if spec.required:
                problems.append({"instancePath": "", "message": f"must have required property '{spec.name}'"})
            continue
        value = body[spec.name]
        path = f"/{spec.name}"
        if not isinstance(value, str):
            problems.append({"instancePath": path, "message": "must be string"})
            continue
        if spec.min_length is not None and len(value) < spec.min_length:
            problems.append(
                {"instancePath": path, "message": f"must NOT have fewer than {spec.min_length} characters"}
            )
        if spec.max_length is not None and len(value) > spec.max_length:
            problems.append(
                {"instancePath": path, "message": f"must NOT have more than {spec.max_length} characters"}
            )
        if not spec.allow_nul and "\x00" in value:
            problems.append({"instancePath": path, "message": "must NOT contain NUL characters"})
        if spec.format_check is not None and not spec.format_check(value):
            problems.append({"instancePath": path, "message": f'must match format "{spec.format_name}"'})
    return problems


def _validated(body: Any, fields: tuple[StringField, ...]) -> dict[str, str]:
    problems = _problems(body, fields)
    if problems:
        raise SchemaValidationFailed(problems)
    assert isinstance(body, dict)
    return {spec.name: body[spec.name] for spec in fields if spec.name in body}


_EMAIL = StringField("email", max_length=EMAIL_MAX_LENGTH, format_name="email", format_check=is_valid_email)
REGISTER_FIELDS = (
    _EMAIL,
    StringField("password", min_length=8),
    StringField("username", required=False, min_length=3, max_length=50, allow_nul=False),
)
LOGIN_FIELDS = (_EMAIL, StringField("password"))
TOKEN_FIELDS = (StringField("name", min_length=1, max_length=64, allow_nul=False),)


@dataclass(frozen=True, slots=True)
class Credentials:
    """A validated register or login body."""

    email: str
    password: str
    username: str | None = None


def parse_register(body: Any) -> Credentials:
    """``POST /auth/register`` body, or ``400`` schema-validation error."""
    data = _validated(body, REGISTER_FIELDS)
    return Credentials(email=data["email"], password=data["password"], username=data.get("username"))


def parse_login(body: Any) -> Credentials:
    """``POST /auth/login`` body, or ``400`` schema-validation error."""
    data = _validated(body, LOGIN_FIELDS)
    return Credentials(email=data["email"], password=data["password"])


def parse_token_name(body: Any) -> str:
    """``POST /auth/tokens`` body: the token name (1–64 characters), or ``400``."""
    return _validated(body, TOKEN_FIELDS)["name"]


class UserOut(msgspec.Struct):
    """The public view of a user: exactly these four keys (contract §3.2)."""

    id: str
    username: str
    email: str | None
    provider: str


class AuthOut(msgspec.Struct):
    """Register and login: the user and the JWT that is also set as the cookie."""

    user: UserOut
    token: str


class TokenCreated(msgspec.Struct):
    """``POST /auth/tokens``: the only response that ever carries a token's plaintext."""

    id: str
    name: str
    token: str
    token_prefix: str
    created_at: str


class TokenItem(msgspec.Struct):
    """One row of ``GET /auth/tokens``: never the hash or plaintext."""

    id: str
    name: str
    token_prefix: str
    last_used_at: str | None
    created_at: str
    revoked_at: str | None


class TokenList(msgspec.Struct):
    tokens: list[TokenItem]


class PairingCreated(msgspec.Struct):
    """``POST /auth/pairings`` (contract §3.5)."""

    pairing_id: str
    user_code: str
    verification_uri: str
    expires_in: int


# -- request bodies as the OpenAPI description shows them (the validators above are what runs) ---

Email = Annotated[str, msgspec.Meta(max_length=EMAIL_MAX_LENGTH, extra_json_schema={"format": "email"})]


class RegisterIn(msgspec.Struct):
    """``POST /auth/register``; unknown fields are ignored."""

    email: Email
    password: Annotated[
        str, msgspec.Meta(min_length=8, description="At least 8 characters; only the first 72 bytes count")
    ]
    username: (
        Annotated[str, msgspec.Meta(min_length=3, max_length=50, description="Taken names are replaced")]
        | msgspec.UnsetType
    ) = msgspec.UNSET


class LoginIn(msgspec.Struct):
    """``POST /auth/login``."""

    email: Email
    password: str


class TokenIn(msgspec.Struct):
    """``POST /auth/tokens``."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class OkOut(msgspec.Struct):
    """``POST /auth/pairings/{user_code}/approve``: ``{"ok": true}``."""

    ok: bool


class ExchangeOut(msgspec.Struct, omit_defaults=True):
    """``POST /auth/pairings/{pairing_id}/exchange``: ``token`` only with ``approved``, exactly once."""

    status: Literal["pending", "approved", "consumed"]
    token: str | msgspec.UnsetType = msgspec.UNSET


class ExchangeExpired(msgspec.Struct):
    """The ``410`` body of the exchange (one of the two non-error-shaped bodies, §1.3)."""

    status: Literal["expired"]
