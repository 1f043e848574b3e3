"""Two apps in one process keep their own database, Redis connection and services."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import text

from hotline import create_app
from hotline.extensions import db, queues, runtime
from hotline.pipeline.services import services_for, services_of
from tests.conftest import RedisServer, make_settings


def _app(tmp_path: Path, name: str, redis_url: str) -> Flask:
    settings = make_settings(tmp_path / name, f"sqlite:///{tmp_path / name / 'hotline.db'}", redis_url)
    return create_app(settings)


def test_two_apps_share_no_engine_redis_or_services(tmp_path: Path, redis_server: RedisServer) -> None:
    base = redis_server.url.rsplit("/", 1)[0]
    first, second = _app(tmp_path, "a", f"{base}/1"), _app(tmp_path, "b", f"{base}/2")
    seen = {}
    for app, name in ((first, "a"), (second, "b")):
        with app.app_context():
            db.session.execute(text(f"CREATE TABLE only_{name} (x INTEGER)"))
            db.session.commit()
            queues.redis.set("which", name)
            seen[name] = (db.engine, queues.redis, services_of(), services_for(runtime.get().settings))
    engine_a, redis_a, services_a, by_settings_a = seen["a"]
    engine_b, redis_b, services_b, by_settings_b = seen["b"]
    assert engine_a is not engine_b and engine_a.url != engine_b.url
    assert redis_a is not redis_b
    assert services_a is not services_b and services_a is by_settings_a and services_b is by_settings_b
    # Each app sees its own data, also after the other app was used.
    with first.app_context():
        tables = set(db.session.scalars(text("SELECT name FROM sqlite_master WHERE type = 'table'")))
        assert "only_a" in tables and "only_b" not in tables
        assert queues.redis.get("which") == b"a"
        db.dispose()
    with second.app_context():
        tables = set(db.session.scalars(text("SELECT name FROM sqlite_master WHERE type = 'table'")))
        assert "only_b" in tables and "only_a" not in tables
        assert queues.redis.get("which") == b"b"
        queues.redis.delete("which")
        db.dispose()
    with first.app_context():
        queues.redis.delete("which")
