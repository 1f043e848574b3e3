"""/readyz must say so when the object store cannot be used, on either backend."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from hotline import create_app
from hotline.extensions import db
from hotline.ops import health
from tests.conftest import RedisServer, make_settings
from tests.storage.conftest import BUCKET


def _readyz(app: object) -> tuple[int, dict[str, object]]:
    response = app.test_client().get("/readyz")  # type: ignore[attr-defined]
    with app.app_context():  # type: ignore[attr-defined]
        db.dispose()
    return response.status_code, response.get_json()["checks"]["storage"]


def test_readyz_fails_when_the_local_store_vanishes_after_start(
    tmp_path: Path, database_url: str, redis_server: RedisServer
) -> None:
    app = create_app(make_settings(tmp_path, database_url, redis_server.url))
    store = tmp_path / "storage"
    if store.exists():
        shutil.rmtree(store)
    store.write_text("a file where the store's directory was")
    status, storage = _readyz(app)
    assert status == 503
    assert storage["ok"] is False


def test_readyz_fails_when_the_s3_bucket_is_gone(
    tmp_path: Path, database_url: str, redis_server: RedisServer, s3_prefix: str, raw_s3: object
) -> None:
    bucket = "attack-readyz-" + s3_prefix[2:]
    raw_s3.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    app = create_app(make_settings(tmp_path, database_url, redis_server.url, storage_url=f"s3://{bucket}/x"))
    assert _readyz(app)[0] == 200
    raw_s3.delete_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    time.sleep(health.CACHE_SECONDS)  # the last answer is reused that long
    status, storage = _readyz(app)
    assert status == 503
    assert storage["ok"] is False and "does not exist" in str(storage["error"]), storage
    assert BUCKET  # the session's bucket is untouched
