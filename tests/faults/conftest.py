"""Fixtures for the fault suite: a hotline on a real port with its own Redis server (so a
scenario may kill it), FakeTwilio for Twilio's REST API, and the end-of-run tally table."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask

from hotline import create_app
from hotline.extensions import db
from hotline.simulator.fake_twilio import FakeTwilio
from tests.conftest import LiveServer, RedisServer, _clean, free_port, make_settings
from tests.faults.harness import TALLIES, TcpProxy, is_postgres, via_proxy


@dataclass
class Hotline:
    app: Flask
    url: str
    fake: FakeTwilio
    redis: RedisServer
    database_url: str
    proxy: TcpProxy | None


@pytest.fixture
def fault_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis server of the scenario's own, which it may kill and restart."""
    server = RedisServer(tmp_path_factory.mktemp("fault-redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def hotline(tmp_path: Path, database_url: str, fault_redis: RedisServer, fake_twilio: FakeTwilio) -> Iterator[Hotline]:
    """The whole app over HTTP; on PostgreSQL its connections go through a proxy that can
    refuse them, as a database server that is down does."""
    proxy = None
    url = database_url
    if is_postgres(database_url):
        from sqlalchemy.engine import make_url

        target = make_url(database_url)
        proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
        proxy.accept()
        url = via_proxy(database_url, proxy)
    port = free_port()
    settings = make_settings(
        tmp_path,
        url,
        fault_redis.url,
        public_url=f"http://127.0.0.1:{port}",
        twilio_api_base_url=fake_twilio.base_url,
        pipeline={
            "fetch_attempts": 4,
            "reconcile_seconds": 1,
            "job_timeout_seconds": 60,
            "recording_callback_grace_seconds": 1,
            "twilio_reconcile_seconds": 1,
            "liveness_seconds": 5,
        },
        **_fast_database_budget(),
    )
    _clean(database_url)
    application = create_app(settings)
    with LiveServer(application, port) as server:
        yield Hotline(application, server.url, fake_twilio, fault_redis, database_url, proxy)
    db.dispose()
    if proxy is not None:
        proxy.refuse()
    _clean(database_url)
    try:
        redis.Redis.from_url(fault_redis.url).flushall()
    except redis.RedisError:
        pass


def _fast_database_budget() -> dict[str, Any]:
    """Webhooks give up on a locked database after 1 s here (6 s by default), so the
    scenarios stay short; everything else about the voice settings is as shipped."""
    return {
        "voice": {
            "reprompts": 2,
            "gather_timeout": 6,
            "record_max_seconds": 180,
            "record_silence_timeout": 6,
            "db_budget_seconds": 1,
        }
    }


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print every scenario's tally: calls placed, complete, lost, duplicated."""
    if not TALLIES:
        return
    terminalreporter.section("fault suite: what every call left behind")
    for found in TALLIES:
        terminalreporter.write_line(found.line())
