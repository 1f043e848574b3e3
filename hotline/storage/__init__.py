"""Blob storage backends and the encrypted object store built on them."""

from hotline.storage.base import (
    BlobNotFound,
    BlobStore,
    InvalidKey,
    StorageMisconfigured,
    StorageUnavailable,
    validate_key,
)
from hotline.storage.encrypted import EncryptedStore, VerificationError
from hotline.storage.local import LocalBlobStore

__all__ = [
    "BlobNotFound",
    "BlobStore",
    "EncryptedStore",
    "InvalidKey",
    "LocalBlobStore",
    "StorageMisconfigured",
    "StorageUnavailable",
    "VerificationError",
    "validate_key",
]
