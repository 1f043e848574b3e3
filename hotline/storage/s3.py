"""A BlobStore on S3 or any S3-compatible server (SeaweedFS, MinIO, Ceph), through boto3.

Only ciphertext reaches it: EncryptedStore wraps this like any other BlobStore. The client
is configured the way every AWS tool is, from boto3's own environment variables
(AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, or a
profile or instance role), so nothing secret passes through our settings.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from hotline.storage.base import (
    BlobNotFound,
    BlobStore,
    InvalidKey,
    StorageMisconfigured,
    StorageUnavailable,
    validate_key,
    validate_prefix,
)

# botocore's "standard" retry mode retries 5xx answers, throttling, and connection errors
# and timeouts with exponential backoff and jitter; bounded so a job fails (and RQ retries
# it later) rather than hanging on an outage: 5 attempts, 5 s to connect, 30 s per read.
RETRIES = Config(
    retries={"mode": "standard", "total_max_attempts": 5},
    connect_timeout=5,
    read_timeout=30,
)
# The start-up and readiness check must answer quickly, even when the server does not.
PROBE = Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=2, read_timeout=5)

# botocore says at INFO, for every client, where it found credentials and the endpoint.
logging.getLogger("botocore.credentials").setLevel(logging.WARNING)
logging.getLogger("botocore.configprovider").setLevel(logging.WARNING)

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_BAD_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "AuthFailure"}


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def unavailable(exc: Exception, where: str, bucket: str) -> StorageUnavailable:
    """Translate a boto3 failure into one short line saying what is wrong (never a secret)."""
    if isinstance(exc, NoCredentialsError):
        return StorageMisconfigured(f"{where}: no S3 credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
    if isinstance(exc, ClientError):
        code, status = _error_code(exc), _status(exc)
        if code == "NoSuchBucket":
            return StorageMisconfigured(f"{where}: the bucket {bucket!r} does not exist")
        if code in _BAD_CREDENTIALS:
            return StorageMisconfigured(
                f"{where}: the S3 credentials were refused ({code}): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        if code == "AccessDenied" or status == 403:
            return StorageMisconfigured(f"{where}: access denied to bucket {bucket!r} ({code or status})")
        return StorageUnavailable(f"{where}: the object store answered {status} {code}".rstrip())
    # Connection refused, timeouts, DNS (after botocore's retries): the server may come back.
    return StorageUnavailable(f"{where}: cannot reach the object store ({type(exc).__name__})")


def make_client(config: Config = RETRIES) -> Any:
    """An S3 client from boto3's environment; path-style addressing on a custom endpoint.

    Virtual-hosted addressing (bucket.host) needs DNS for every bucket, which an
    S3-compatible server on a plain host name or an IP address does not have.
    """
    custom = bool(os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))
    if custom:
        config = config.merge(Config(s3={"addressing_style": "path"}))
    return boto3.session.Session().client("s3", config=config)


class S3BlobStore(BlobStore):
    """Objects under `prefix` in `bucket`; a key is stored as prefix + key.

    Failures other than a missing key raise StorageUnavailable (StorageMisconfigured for
    credentials and buckets), after botocore's bounded retries.
    """

    def __init__(self, bucket: str, prefix: str = "", client: Any = None, page_size: int = 1000) -> None:
        """Use bucket (which must exist) and a prefix ending in "/" or empty."""
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self.bucket = bucket
        self.prefix = validate_prefix(prefix)
        self.client = client if client is not None else make_client()
        self._probe_client: Any = None
        self.page_size = page_size  # keys per listing request; 1000 is S3's maximum

    def __repr__(self) -> str:
        return f"S3BlobStore({self.url!r})"

    @property
    def url(self) -> str:
        """The storage URL of this store, s3://bucket/prefix."""
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _name(self, key: str) -> str:
        return self.prefix + validate_key(key)

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Raise boto3's failures as StorageUnavailable."""
        try:
            yield
        except (BotoCoreError, ClientError) as exc:
            raise unavailable(exc, self.url, self.bucket) from exc

    def put(self, key: str, data: bytes) -> None:
        """Upload in one PUT: S3 makes an object visible whole or not at all."""
        name = self._name(key)
        with self._translated():
            self.client.put_object(Bucket=self.bucket, Key=name, Body=data)

    def get(self, key: str) -> bytes:
        """Download the whole object."""
        name = self._name(key)
        with self._translated():
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=name)
            except ClientError as exc:
                if _error_code(exc) in _NOT_FOUND:
                    raise BlobNotFound(key) from exc
                raise
            body: bytes = response["Body"].read()
        return body

    def exists(self, key: str) -> bool:
        """HEAD the object."""
        name = self._name(key)
        with self._translated():
            try:
                self.client.head_object(Bucket=self.bucket, Key=name)
            except ClientError as exc:
                if _error_code(exc) in _NOT_FOUND:
                    return False
                raise
        return True

    def delete(self, key: str) -> None:
        """Delete the object; S3 answers the same whether or not it existed.

        On a bucket with versioning enabled this only adds a delete marker and the old
        versions stay readable: crypto-shredding needs a bucket without versioning (or a
        lifecycle rule that expires noncurrent versions at once).
        """
        name = self._name(key)
        with self._translated():
            self.client.delete_object(Bucket=self.bucket, Key=name)

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Yield keys starting with prefix, page by page (S3 lists in lexicographic order)."""
        validate_prefix(prefix)
        return self._list(prefix)

    def _list(self, prefix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        with self._translated():
            pages = paginator.paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix, PaginationConfig={"PageSize": self.page_size}
            )
            for page in pages:
                for item in page.get("Contents", ()):
                    key = str(item["Key"])[len(self.prefix) :]
                    try:
                        yield validate_key(key)
                    except InvalidKey:
                        # Not ours: a folder marker ("a/") another tool wrote, a dot-name.
                        continue

    def probe(self) -> None:
        """Raise StorageUnavailable (or StorageMisconfigured) unless the bucket can be listed."""
        if self._probe_client is None:
            self._probe_client = make_client(PROBE)
        try:
            # A listing rather than a HEAD: a HEAD's error has no body, so no code saying why.
            self._probe_client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)
        except (BotoCoreError, ClientError) as exc:
            raise unavailable(exc, self.url, self.bucket) from None

    def versioning(self) -> str | None:
        """The bucket's versioning status ("Enabled", "Suspended"), None if never enabled or unknown."""
        if self._probe_client is None:
            self._probe_client = make_client(PROBE)
        try:
            status = self._probe_client.get_bucket_versioning(Bucket=self.bucket).get("Status")
        except (BotoCoreError, ClientError):
            return None  # not allowed to ask (a narrow policy): nothing to say
        return str(status) if status else None

    def check(self) -> str | None:
        """None if the bucket can be listed, else a short reason (no secrets in it)."""
        try:
            self.probe()
        except StorageUnavailable as exc:
            return str(exc)
        return None
