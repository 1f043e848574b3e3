"""Password hashing with argon2id, and generated passwords for new accounts."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults follow RFC 9106's recommended argon2id profile; when a later
# version raises them, check_needs_rehash() notices and the next sign-in upgrades the hash.
_HASHER = PasswordHasher()

# Verified against when the email is unknown, so a miss costs as long as a wrong password
# and response times do not reveal which accounts exist.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password against a hash (or a dummy when there is no account) without raising."""
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Tell whether a hash was made with other parameters than the current ones."""
    return _HASHER.check_needs_rehash(password_hash)


def generate_password() -> str:
    """Make a random password: 20 characters from a 31-letter alphabet, about 99 bits."""
    # No look-alike characters (0/O, 1/l/I): the password is read off a terminal and typed.
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    raw = "".join(secrets.choice(alphabet) for _ in range(20))
    return "-".join(raw[i : i + 5] for i in range(0, 20, 5))
