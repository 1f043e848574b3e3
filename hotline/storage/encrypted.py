"""Encrypted objects on any BlobStore: payload and wrapped data key stored side by side.

Layout: the payload body (nonce + ciphertext) is stored under `key`; its 72-byte key
header (wrapped data key + master key id) under `key + ".dek"`. Keeping the header in a
sidecar object is what makes rotation cheap on S3, which cannot rewrite part of an object:
`rotate` rewrites only the sidecars, and `shred` only needs to destroy a sidecar to make
the payload unreadable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from hotline.crypto.envelope import KeyHeader, MasterKeyRing, Sealed, rewrap
from hotline.storage.base import BlobStore, InvalidKey, validate_key

KEY_SUFFIX = ".dek"


class VerificationError(Exception):
    """What was read back from storage is not what was written."""


class EncryptedStore:
    """Seal on the way in, open on the way out; nothing plaintext reaches the BlobStore."""

    def __init__(self, blobs: BlobStore, ring: MasterKeyRing) -> None:
        """Wrap a blob store with a master key ring."""
        self.blobs = blobs
        self.ring = ring

    def __repr__(self) -> str:
        return f"EncryptedStore({self.blobs!r}, {self.ring!r})"

    @staticmethod
    def _key(key: str) -> str:
        """Validate an object key, refusing names that would collide with sidecars."""
        if validate_key(key).endswith(KEY_SUFFIX):
            raise InvalidKey(f"invalid key {key!r}: the suffix {KEY_SUFFIX} is reserved for data keys")
        return key

    def put_encrypted(self, key: str, plaintext: bytes, aad: bytes) -> None:
        """Encrypt plaintext bound to aad (e.g. b"recording:RE...") and store it under key."""
        self._key(key)
        sealed = self.ring.encrypt(plaintext, associated_data=aad)
        # Header first: if we crash between the two writes the leftover is a useless data
        # key, never a payload that nothing can decrypt while appearing to be stored.
        self.blobs.put(key + KEY_SUFFIX, sealed.header.to_bytes())
        self.blobs.put(key, sealed.body_bytes())

    def get_decrypted(self, key: str, aad: bytes) -> bytes:
        """Read and decrypt; raise BlobNotFound if missing or shredded, DecryptionError if altered."""
        self._key(key)
        header = self.blobs.get(key + KEY_SUFFIX)
        return self.ring.decrypt(Sealed.from_parts(header, self.blobs.get(key)), associated_data=aad)

    def put_and_verify(self, key: str, plaintext: bytes, aad: bytes) -> str:
        """Store, read back, decrypt and compare; return the plaintext's SHA-256 in hex.

        For recordings whose only other copy (at Twilio) is deleted once this returns.
        """
        digest = hashlib.sha256(plaintext).hexdigest()
        self.put_encrypted(key, plaintext, aad)
        if hashlib.sha256(self.get_decrypted(key, aad)).hexdigest() != digest:
            raise VerificationError(f"{key}: the stored object does not decrypt to what was written")
        return digest

    def exists(self, key: str) -> bool:
        """Return whether a readable (not shredded) object is stored under key."""
        self._key(key)
        return self.blobs.exists(key + KEY_SUFFIX) and self.blobs.exists(key)

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Yield the keys of stored objects (not their sidecars) starting with prefix."""
        return (k for k in self.blobs.keys(prefix) if not k.endswith(KEY_SUFFIX))

    def shred(self, key: str) -> None:
        """Destroy the object: its data key first, which alone makes it unreadable.

        Deleting the payload afterwards only reclaims space. The wrapped key can survive in
        backups or, on a local disk, in freed blocks; it is still sealed by the master key,
        so a rotation followed by destroying the old master key finishes the job.
        """
        self._key(key)
        self.blobs.delete(key + KEY_SUFFIX)
        self.blobs.delete(key)

    def rotate(self, new_ring: MasterKeyRing) -> int:
        """Re-wrap every data key under new_ring's current key; return how many changed.

        new_ring must also hold the keys being retired (HOTLINE_OLD_MASTER_KEYS). Payloads
        are never read or rewritten. Headers already under the new key are skipped, so an
        interrupted rotation is resumed by running it again.
        """
        changed = 0
        # Listed up front: the writes below add and rename files under the same prefix.
        for sidecar in list(self.blobs.keys()):
            if not sidecar.endswith(KEY_SUFFIX):
                continue
            header = KeyHeader.from_bytes(self.blobs.get(sidecar))
            fresh = rewrap(header, new_ring)
            if fresh is not header:
                self.blobs.put(sidecar, fresh.to_bytes())
                changed += 1
        self.ring = new_ring
        return changed
