"""Storage URLs: `file:///abs/path` for the local store, `s3://bucket/prefix` for S3."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from hotline.storage.base import BlobStore, validate_prefix

# S3's bucket naming rules (3-63 characters, lower case, digits, dots, hyphens).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


@dataclass(frozen=True)
class StorageUrl:
    """A parsed storage URL: scheme "file" with a path, or "s3" with a bucket and prefix."""

    scheme: str
    path: str = ""
    bucket: str = ""
    prefix: str = ""


def parse_storage_url(url: str) -> StorageUrl:
    """Parse and check a storage URL; raise ValueError saying what is wrong."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        # Credentials belong in AWS_*; never echo them into a log or a terminal.
        shown = url.replace(parts.netloc, "***@" + parts.netloc.rpartition("@")[2], 1)
        raise ValueError(f"{shown!r}: a storage URL takes no credentials (S3's come from AWS_* variables)")
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r}: a storage URL takes no query or fragment")
    if parts.scheme == "file":
        path = unquote(parts.path)
        if parts.netloc not in ("", "localhost") or not path.startswith("/"):
            raise ValueError(f"{url!r}: write file:///absolute/path")
        return StorageUrl("file", path=path)
    if parts.scheme == "s3":
        if not _BUCKET.fullmatch(parts.netloc):
            raise ValueError(f"{url!r}: {parts.netloc!r} is not a valid S3 bucket name")
        prefix = parts.path.strip("/")
        try:
            validate_prefix(prefix)
        except ValueError as exc:
            raise ValueError(f"{url!r}: {exc}") from None
        return StorageUrl("s3", bucket=parts.netloc, prefix=prefix + "/" if prefix else "")
    raise ValueError(f"{url!r}: a storage URL is file:///path or s3://bucket/prefix")


def open_blob_store(url: str) -> BlobStore:
    """The BlobStore a storage URL names (S3's client configured from the AWS_* variables)."""
    parsed = parse_storage_url(url)
    if parsed.scheme == "s3":
        from hotline.storage.s3 import S3BlobStore  # boto3 loads in a few hundred ms: only when used

        return S3BlobStore(parsed.bucket, parsed.prefix)
    from hotline.storage.local import LocalBlobStore

    return LocalBlobStore(Path(parsed.path))
