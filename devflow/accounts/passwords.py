"""Password hashing (bcrypt, cost 12 unless ``PASSWORD_BCRYPT_COST`` says otherwise) and email
normalisation (contract §3.2).

bcrypt only looks at the first 72 bytes of a password, and the ``bcrypt`` package refuses longer
input instead of truncating, so passwords are cut to 72 UTF-8 bytes here: a 100-character
password works, and two passwords sharing their first 72 bytes are the same password (as in
every bcrypt implementation). The functions are CPU-bound (~0.25 s at cost 12): call them from a
worker thread, never on the event loop. A stored hash carries its own cost, so changing the setting
affects new hashes only.
"""

from __future__ import annotations

import functools
import re
import secrets

import bcrypt

from devflow.config import BCRYPT_COST

BCRYPT_MAX_BYTES = 72

# A cost-12 hash of a throw-away password nobody knows. Logins for unknown emails verify against
# it so that they take as long as a wrong password for an existing account (contract §3.2 step 5).
DUMMY_HASH = b"$2b$12$imk10pusUuexrG40V9Cs7u8DWk5tVikgY2xJp3gbsVdcyvSV7VHrS"

# Contract §3.2: runs of atext joined by single dots, '@', two or more labels of [a-z0-9] with
# inner hyphens. ASCII-only matching: with Unicode case folding, [a-z] would also accept e.g. the
# Kelvin sign.
_ATEXT = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
EMAIL_PATTERN = rf"^{_ATEXT}+(?:\.{_ATEXT}+)*@{_LABEL}(?:\.{_LABEL})+$"
_EMAIL_RE = re.compile(EMAIL_PATTERN, re.IGNORECASE | re.ASCII)


def is_valid_email(value: str) -> bool:
    """True when ``value`` matches the contract's email pattern exactly (no surrounding whitespace)."""
    return _EMAIL_RE.fullmatch(value) is not None


def normalise_email(email: str) -> str:
    """``trim`` + lower-case: the key of password accounts and of the per-email rate limit."""
    return email.strip().lower()


def _password_bytes(password: str) -> bytes:
    # "surrogatepass": JSON may carry lone surrogates; they must hash, not raise.
    return password.encode("utf-8", "surrogatepass")[:BCRYPT_MAX_BYTES]


@functools.cache
def dummy_hash(cost: int) -> bytes:
    """A hash that costs what a real account's check costs at ``cost`` (made once per process)."""
    if cost == BCRYPT_COST:
        return DUMMY_HASH
    return bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(cost))


def hash_password(password: str, cost: int = BCRYPT_COST) -> str:
    """bcrypt hash at ``cost`` of the first 72 UTF-8 bytes of ``password``."""
    return bcrypt.hashpw(_password_bytes(password), bcrypt.gensalt(cost)).decode("ascii")


def verify_password(password: str, password_hash: str | None, cost: int = BCRYPT_COST) -> bool:
    """Check ``password`` against a stored hash; with no hash, burn one check on a dummy hash of
    ``cost`` (the cost new accounts get)."""
    if password_hash is None:
        bcrypt.checkpw(_password_bytes(password), dummy_hash(cost))
        return False
    try:
        return bcrypt.checkpw(_password_bytes(password), password_hash.encode("ascii"))
    except ValueError:  # a malformed stored hash is a failed login, not a server error
        return False
