"""Envelope encryption of recordings and other sensitive objects."""

from hotline.crypto.envelope import (
    DecryptionError,
    KeyHeader,
    MalformedEnvelope,
    MasterKeyRing,
    Sealed,
    UnknownKeyError,
    key_id,
    rewrap,
)

__all__ = [
    "DecryptionError",
    "KeyHeader",
    "MalformedEnvelope",
    "MasterKeyRing",
    "Sealed",
    "UnknownKeyError",
    "key_id",
    "rewrap",
]
