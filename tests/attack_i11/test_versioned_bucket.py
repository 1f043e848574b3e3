"""Shredding on a versioned bucket leaves the wrapped key readable: the start-up says so."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import pytest

from hotline.pipeline.services import check_storage_at_startup
from hotline.storage.s3 import S3BlobStore
from tests.conftest import RedisServer, make_settings


def test_a_versioned_bucket_keeps_a_shredded_key_and_start_up_warns(
    tmp_path: Path, database_url: str, redis_server: RedisServer, raw_s3: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bucket = f"versioned-{uuid.uuid4().hex[:10]}"
    raw_s3.create_bucket(Bucket=bucket)
    raw_s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    store = S3BlobStore(bucket, "p")
    store.put("recordings/1/RE1.wav.dek", b"wrapped data key")
    store.delete("recordings/1/RE1.wav.dek")
    assert not store.exists("recordings/1/RE1.wav.dek")
    versions = raw_s3.list_object_versions(Bucket=bucket).get("Versions", [])
    assert [v["Key"] for v in versions] == ["p/recordings/1/RE1.wav.dek"]  # the attack: still there

    caplog.set_level(logging.WARNING)
    check_storage_at_startup(make_settings(tmp_path, database_url, redis_server.url, storage_url=f"s3://{bucket}/p"))
    assert "versioning" in caplog.text and bucket in caplog.text
