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


_DUMMY: dict[tuple[int, int, int], str] = {}


def dummy_hash() -> str:
    """A PIN hash of nobody's PIN, with the current cost, to verify when there is no real one.

    Checking a tip number that does not exist must take as long as checking a wrong PIN.
    """
    shape = (_HASHER.time_cost, _HASHER.memory_cost, _HASHER.parallelism)
    if shape not in _DUMMY:
        _DUMMY[shape] = _HASHER.hash("no such tip")
    return _DUMMY[shape]
