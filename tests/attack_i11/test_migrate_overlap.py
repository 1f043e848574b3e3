"""`storage migrate --to` a store that contains the source (or sits inside it) is refused.

The destination's listing then holds the source's objects under other keys, so --prune
would delete every recording of the source; a destination inside the source would copy
objects into the source itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask import Flask

from hotline import create_app
from hotline.extensions import db, runtime
from hotline.pipeline.services import services_for
from hotline.storage.base import BlobStore
from hotline.storage.s3 import S3BlobStore
from tests.conftest import RedisServer, make_settings
from tests.storage.conftest import BUCKET


def _fill(app: Flask) -> BlobStore:
    with app.app_context():
        services = services_for(runtime.get(app).settings)
        services.store.put_and_verify("recordings/1/RE0001.wav", os.urandom(500), b"aad")
        return services.blobs


@pytest.mark.parametrize("where", ["parent", "child", "same-spelled-differently"])
def test_migrating_a_local_store_to_an_overlapping_one_is_refused(app: Flask, where: str) -> None:
    source = _fill(app)
    before = sorted(source.keys())
    root = Path(runtime.get(app).settings.storage_path).resolve()
    target = {"parent": root.parent, "child": root / "copy", "same-spelled-differently": root / "." / "x" / ".."}[where]
    result = app.test_cli_runner().invoke(args=["storage", "migrate", "--to", f"file://{target}", "--prune"])
    assert result.exit_code != 0, result.output
    assert sorted(source.keys()) == before and len(before) == 2


def test_migrating_an_s3_prefix_to_its_bucket_root_is_refused(
    tmp_path: Path, database_url: str, redis_server: RedisServer, s3_prefix: str
) -> None:
    source = S3BlobStore(BUCKET, s3_prefix)
    source.put("recordings/1/RE0001.wav", b"ciphertext")
    app = create_app(make_settings(tmp_path, database_url, redis_server.url, storage_url=f"s3://{BUCKET}/{s3_prefix}"))
    try:
        result = app.test_cli_runner().invoke(args=["storage", "migrate", "--to", f"s3://{BUCKET}", "--prune"])
    finally:
        with app.app_context():
            db.dispose()
    assert result.exit_code != 0, result.output
    assert list(source.keys()) == ["recordings/1/RE0001.wav"]
