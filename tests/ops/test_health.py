"""/healthz answers while the process lives; /readyz says which of database, Redis, storage fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from hotline import create_app
from hotline.extensions import db
from tests.conftest import RedisServer, make_settings


def test_healthz_needs_no_database_nor_sign_in(tmp_path: Path, redis_server: RedisServer) -> None:
    # A database that cannot be opened: liveness must not depend on it.
    missing = f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}"
    app = create_app(make_settings(tmp_path, missing, redis_server.url))
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_reports_each_check_with_its_latency(app: Flask) -> None:
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "redis", "storage"}
    for result in body["checks"].values():
        assert result["ok"] is True
        assert isinstance(result["ms"], int | float) and result["ms"] >= 0
        assert "error" not in result


@pytest.fixture
def stopped_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def test_readyz_is_503_naming_redis_when_redis_is_down(
    tmp_path: Path, database_url: str, stopped_redis: RedisServer
) -> None:
    # A password in the URL: nothing of it may appear in the answer.
    url = f"redis://:hunter2secret@127.0.0.1:{stopped_redis.port}/0"
    app = create_app(make_settings(tmp_path, database_url, url))
    client = app.test_client()
    stopped_redis.stop()
    try:
        response = client.get("/readyz")
    finally:
        with app.app_context():
            db.dispose()
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"]["ok"] is False
    assert "Connection" in body["checks"]["redis"]["error"]
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["storage"]["ok"] is True
    text = response.get_data(as_text=True)
    assert "hunter2secret" not in text and "redis://" not in text


def test_readyz_is_503_when_the_store_is_not_writable(
    tmp_path: Path, database_url: str, redis_server: RedisServer
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store's directory should be")
    app = create_app(make_settings(tmp_path, database_url, redis_server.url, storage_path=str(blocker)))
    response = app.test_client().get("/readyz")
    with app.app_context():
        db.dispose()
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert checks["storage"]["ok"] is False and checks["redis"]["ok"] is True


def test_probes_need_no_csrf_token_nor_session(app: Flask) -> None:
    # A HEAD (what some load balancers send) is answered too, and no session cookie is set.
    client = app.test_client()
    for path in ("/healthz", "/readyz"):
        response = client.head(path)
        assert response.status_code == 200, path
        assert "Set-Cookie" not in response.headers
