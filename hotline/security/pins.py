"""Hash the follow-up PIN a caller chooses; the digits themselves are never stored."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2id with modest cost: a PIN is hashed inside a live webhook, which must answer fast.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_pin(pin: str) -> str:
    """Hash a PIN with argon2id."""
    return _HASHER.hash(pin)


def pin_matches(pin_hash: str, pin: str) -> bool:
    """Check a PIN against its hash without raising."""
    try:
        return _HASHER.verify(pin_hash, pin)
    except (VerificationError, InvalidHashError):
        return False
