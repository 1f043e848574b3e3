"""The blob store interface: a flat namespace of immutable-looking byte objects.

It is deliberately the intersection of a filesystem and S3 (put/get/exists/delete/list by
prefix), so the S3-compatible backend can implement it without emulation.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator

MAX_KEY_LENGTH = 1024  # S3's limit, in bytes; keys are ASCII so characters == bytes.
# Segments of letters, digits, "_", "." and "-", separated by single slashes.
_KEY = re.compile(r"[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*")
_PREFIX = re.compile(r"[A-Za-z0-9_./-]*")


class InvalidKey(ValueError):
    """A key that could escape the store's root or that some backend cannot hold."""


class BlobNotFound(KeyError):
    """No object is stored under this key."""


class StorageUnavailable(OSError):
    """The store cannot be used now; the message says why in one short line, without secrets.

    An OSError, as a local disk's failures are: whatever handles a full or unmounted disk
    handles an unreachable object store the same way.
    """


class StorageMisconfigured(StorageUnavailable):
    """Wrong credentials, a missing bucket, no access: waiting will not fix it."""


def validate_key(key: str) -> str:
    """Return the key unchanged if it is safe on every backend; raise InvalidKey if not."""
    if not isinstance(key, str) or not key:
        raise InvalidKey("a key must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(f"key is longer than {MAX_KEY_LENGTH} characters")
    if not _KEY.fullmatch(key):
        raise InvalidKey(
            f"invalid key {key!r}: only A-Z a-z 0-9 _ . - and single / between segments, no leading or trailing /"
        )
    # A segment starting with "." rules out "." and ".." (path traversal) and leaves dot-names
    # free for a backend's own bookkeeping, such as LocalBlobStore's temporary files.
    if any(part.startswith(".") for part in key.split("/")):
        raise InvalidKey(f"invalid key {key!r}: no segment may start with '.'")
    return key


def validate_prefix(prefix: str) -> str:
    """Return a listing prefix unchanged if it is made of key characters and has no '..'."""
    if not _PREFIX.fullmatch(prefix) or prefix.startswith("/") or ".." in prefix:
        raise InvalidKey(f"invalid key prefix {prefix!r}")
    return prefix


class BlobStore(ABC):
    """Bytes stored under keys. Implementations validate every key with validate_key."""

    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Store data under key, replacing any previous object atomically."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """Return the object under key; raise BlobNotFound if there is none."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Return whether an object is stored under key."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object under key; do nothing if there is none (as S3 does)."""

    @abstractmethod
    def keys(self, prefix: str = "") -> Iterator[str]:
        """Yield every key starting with prefix, in lexicographic order."""

    def check(self) -> str | None:
        """None if the store can be used now, else a short reason (for start-up and /readyz)."""
        return None
