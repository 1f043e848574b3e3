"""Envelope encryption: AES-256-GCM per object, data keys wrapped by a rotatable master key.

Every object gets a fresh random 32-byte data key. The payload is sealed with that key; the
key itself is sealed ("wrapped") with the current master key. Two consequences:

* Rotation rewrites only the 72-byte key header (`rewrap`), never the payload.
* Crypto-shredding: once the wrapped key is destroyed, the payload cannot be decrypted by
  anyone, including holders of the master key (provided no copy of the header survives,
  e.g. in a backup: retiring the master key after a rotation makes such copies useless).

Binary layout, version 1 (sizes in bytes; no length fields, every part but the last is fixed):

    header  = b"HLK" 0x01 | key_id (8) | wrap_nonce (12) | wrapped data key (32 + 16 tag)
    body    = b"HLB" 0x01 | nonce (12) | ciphertext + tag (len(plaintext) + 16)
    to_bytes() = header + body

The header is fixed-size, so the header and body can live together (`Sealed.to_bytes`) or
apart, the header as a small sidecar object (what `hotline.storage.EncryptedStore` does,
because object stores such as S3 cannot rewrite the first bytes of an object in place).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import overload

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_ID_BYTES = 8
HEADER_MAGIC = b"HLK\x01"
BODY_MAGIC = b"HLB\x01"
WRAPPED_KEY_BYTES = NONCE_BYTES + KEY_BYTES + TAG_BYTES
HEADER_BYTES = len(HEADER_MAGIC) + KEY_ID_BYTES + WRAPPED_KEY_BYTES
BODY_MIN_BYTES = len(BODY_MAGIC) + NONCE_BYTES + TAG_BYTES

CURRENT_KEY_VAR = "HOTLINE_MASTER_KEY"
OLD_KEYS_VAR = "HOTLINE_OLD_MASTER_KEYS"

# Domain labels keep a wrapped data key from ever verifying as a payload and vice versa.
_WRAP_LABEL = b"hotline/data-key/v1:"
_BODY_LABEL = b"hotline/payload/v1:"


class DecryptionError(Exception):
    """An object could not be decrypted: tampered, wrong associated data, or wrong key."""


class UnknownKeyError(DecryptionError):
    """The object's data key was wrapped by a master key the ring does not hold."""


class MalformedEnvelope(DecryptionError):
    """The bytes are not an envelope this code can read."""


def key_id(master_key: bytes) -> str:
    """Return the public id of a master key: 8 bytes of a labelled SHA-256, in hex."""
    # The label means this id is never the plain hash of the key that someone else
    # (a backup tool, a log line) might also compute and publish.
    return hashlib.sha256(b"hotline/key-id/v1:" + master_key).digest()[:KEY_ID_BYTES].hex()


@dataclass(frozen=True)
class KeyHeader:
    """A wrapped data key and the id of the master key that wrapped it."""

    key_id: str
    wrapped_key: bytes

    def to_bytes(self) -> bytes:
        """Serialise to the fixed-size versioned header."""
        return HEADER_MAGIC + bytes.fromhex(self.key_id) + self.wrapped_key

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyHeader:
        """Parse a header produced by to_bytes."""
        if len(data) != HEADER_BYTES or data[: len(HEADER_MAGIC)] != HEADER_MAGIC:
            raise MalformedEnvelope("not a version 1 key header")
        start = len(HEADER_MAGIC)
        return cls(
            key_id=data[start : start + KEY_ID_BYTES].hex(),
            wrapped_key=data[start + KEY_ID_BYTES :],
        )


@dataclass(frozen=True)
class Sealed:
    """An encrypted object: its key header plus the nonce and ciphertext of its payload."""

    key_id: str
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes

    @property
    def header(self) -> KeyHeader:
        """Return the part that rotation rewrites and shredding destroys."""
        return KeyHeader(self.key_id, self.wrapped_key)

    def with_header(self, header: KeyHeader) -> Sealed:
        """Return the same payload under another key header."""
        return replace(self, key_id=header.key_id, wrapped_key=header.wrapped_key)

    def body_bytes(self) -> bytes:
        """Serialise the payload part alone (nonce and ciphertext)."""
        return BODY_MAGIC + self.nonce + self.ciphertext

    def to_bytes(self) -> bytes:
        """Serialise header and payload as one self-describing blob."""
        return self.header.to_bytes() + self.body_bytes()

    @classmethod
    def from_parts(cls, header: bytes | KeyHeader, body: bytes) -> Sealed:
        """Rebuild from a header (bytes or parsed) and a body stored separately."""
        parsed = header if isinstance(header, KeyHeader) else KeyHeader.from_bytes(header)
        if len(body) < BODY_MIN_BYTES or body[: len(BODY_MAGIC)] != BODY_MAGIC:
            raise MalformedEnvelope("not a version 1 envelope body")
        start = len(BODY_MAGIC)
        return cls(
            key_id=parsed.key_id,
            wrapped_key=parsed.wrapped_key,
            nonce=body[start : start + NONCE_BYTES],
            ciphertext=body[start + NONCE_BYTES :],
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Sealed:
        """Parse a blob produced by to_bytes."""
        return cls.from_parts(data[:HEADER_BYTES], data[HEADER_BYTES:])


class MasterKeyRing:
    """The current master key (wraps new data keys) and older ones (only unwrap)."""

    def __init__(self, current: bytes, old: Iterable[bytes] = ()) -> None:
        """Build a ring from raw 32-byte keys."""
        self._ciphers: dict[str, AESGCM] = {}
        for position, key in enumerate([current, *old]):
            if len(key) != KEY_BYTES:
                which = "current master key" if position == 0 else f"old master key {position}"
                raise ValueError(f"{which} must be {KEY_BYTES} bytes, not {len(key)}")
            # setdefault: a key listed twice (e.g. current also left among the old) is harmless.
            self._ciphers.setdefault(key_id(key), AESGCM(key))
        self.current_id = key_id(current)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> MasterKeyRing:
        """Build a ring from HOTLINE_MASTER_KEY and the optional HOTLINE_OLD_MASTER_KEYS."""
        value = environ.get(CURRENT_KEY_VAR, "").strip()
        if not value:
            raise ValueError(f"{CURRENT_KEY_VAR} is not set (base64 of 32 random bytes)")
        return cls(_decode_key(value, CURRENT_KEY_VAR), _old_keys(environ))

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Return the ids of every key in the ring, current first."""
        return tuple(self._ciphers)

    def __repr__(self) -> str:
        # Never the keys themselves: rings end up in tracebacks and debug logs.
        return f"MasterKeyRing(current={self.current_id}, keys={len(self._ciphers)})"

    def wrap(self, data_key: bytes) -> KeyHeader:
        """Wrap a data key under the current master key."""
        nonce = os.urandom(NONCE_BYTES)
        aad = _WRAP_LABEL + bytes.fromhex(self.current_id)
        sealed = self._ciphers[self.current_id].encrypt(nonce, data_key, aad)
        return KeyHeader(self.current_id, nonce + sealed)

    def unwrap(self, header: KeyHeader) -> bytes:
        """Recover a data key with whichever ring key wrapped it."""
        cipher = self._ciphers.get(header.key_id)
        if cipher is None:
            raise UnknownKeyError(f"data key wrapped by master key {header.key_id}, which is not in the ring")
        if len(header.wrapped_key) != WRAPPED_KEY_BYTES:
            raise MalformedEnvelope("wrapped data key has the wrong length")
        nonce, sealed = header.wrapped_key[:NONCE_BYTES], header.wrapped_key[NONCE_BYTES:]
        try:
            return cipher.decrypt(nonce, sealed, _WRAP_LABEL + bytes.fromhex(header.key_id))
        except InvalidTag as exc:
            raise DecryptionError("wrapped data key failed authentication") from exc

    def encrypt(self, plaintext: bytes, *, associated_data: bytes) -> Sealed:
        """Seal plaintext under a fresh data key wrapped by the current master key."""
        data_key = AESGCM.generate_key(bit_length=8 * KEY_BYTES)
        return seal_with(AESGCM(data_key), self.wrap(data_key), plaintext, associated_data=associated_data)

    def decrypt(self, sealed: Sealed, *, associated_data: bytes) -> bytes:
        """Open a sealed object; raise DecryptionError on any mismatch or tampering."""
        return open_with(AESGCM(self.unwrap(sealed.header)), sealed, associated_data=associated_data)


def seal_with(data_key: AESGCM, header: KeyHeader, plaintext: bytes, *, associated_data: bytes) -> Sealed:
    """Seal plaintext with an already unwrapped data key whose wrapped form is header.

    A random 96-bit nonce per message keeps a data key safe for billions of messages, so
    small values (database fields) may share one data key; see hotline.crypto.fields.
    """
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = data_key.encrypt(nonce, plaintext, _require_aad(associated_data))
    return Sealed(header.key_id, header.wrapped_key, nonce, ciphertext)


def open_with(data_key: AESGCM, sealed: Sealed, *, associated_data: bytes) -> bytes:
    """Open a sealed object with its already unwrapped data key."""
    aad = _require_aad(associated_data)
    if len(sealed.nonce) != NONCE_BYTES:
        raise MalformedEnvelope("nonce has the wrong length")
    try:
        return data_key.decrypt(sealed.nonce, sealed.ciphertext, aad)
    except InvalidTag as exc:
        raise DecryptionError("payload failed authentication (tampered, or wrong associated data)") from exc


def _require_aad(associated_data: bytes) -> bytes:
    """Refuse empty associated data: every object must be bound to its identity."""
    if not associated_data:
        raise ValueError("associated_data must name the object (e.g. b'recording:RE...')")
    return _BODY_LABEL + associated_data


def _old_keys(environ: Mapping[str, str]) -> list[bytes]:
    """Decode HOTLINE_OLD_MASTER_KEYS, a comma-separated list of base64 keys."""
    return [
        _decode_key(item.strip(), f"{OLD_KEYS_VAR} entry {n}")
        for n, item in enumerate(environ.get(OLD_KEYS_VAR, "").split(","), 1)
        # Tolerate a trailing comma or an empty variable.
        if item.strip()
    ]


def _decode_key(value: str, name: str) -> bytes:
    """Decode one base64 master key, naming its variable (never its value) on error."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{name} is not valid base64") from exc
    if len(raw) != KEY_BYTES:
        raise ValueError(f"{name} must decode to {KEY_BYTES} bytes, not {len(raw)}")
    return raw


@overload
def rewrap(sealed: KeyHeader, ring: MasterKeyRing) -> KeyHeader: ...
@overload
def rewrap(sealed: Sealed, ring: MasterKeyRing) -> Sealed: ...
def rewrap(sealed: KeyHeader | Sealed, ring: MasterKeyRing) -> KeyHeader | Sealed:
    """Re-wrap the data key under the ring's current key, leaving the payload untouched.

    The ring must still hold the old key (in HOTLINE_OLD_MASTER_KEYS) for the unwrap. A
    header already under the current key is returned as is, so an interrupted rotation
    can simply be run again.
    """
    header = sealed.header if isinstance(sealed, Sealed) else sealed
    if header.key_id == ring.current_id:
        return sealed
    fresh = ring.wrap(ring.unwrap(header))
    return sealed.with_header(fresh) if isinstance(sealed, Sealed) else fresh
