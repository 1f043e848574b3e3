"""/readyz answers within a few seconds when a dependency accepts connections but never answers.

A hung check would hold a gunicorn thread for as long as its client's retries last; anyone
on the internet can send /readyz, so a handful of them would take every thread of a node.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from hotline import create_app
from hotline.extensions import db
from hotline.ops import health
from tests.conftest import RedisServer, make_settings
from tests.seaweed import SeaweedServer
from tests.storage.conftest import BUCKET


@pytest.fixture
def blackhole() -> Iterator[str]:
    """An address that completes TCP connections and then says nothing, ever."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.mark.slow
def test_readyz_answers_503_quickly_while_the_object_store_hangs(
    tmp_path: Path,
    database_url: str,
    redis_server: RedisServer,
    s3_env: SeaweedServer,
    s3_prefix: str,
    blackhole: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = create_app(make_settings(tmp_path, database_url, redis_server.url, storage_url=f"s3://{BUCKET}/{s3_prefix}"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", blackhole)  # the store's client is made on first use
    answers: list[tuple[float, int, dict[str, object]]] = []

    def probe() -> None:
        started = time.monotonic()
        response = app.test_client().get("/readyz")
        answers.append((time.monotonic() - started, response.status_code, response.get_json()["checks"]))

    threads = [threading.Thread(target=probe) for _ in range(6)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        with app.app_context():
            db.dispose()
    assert len(answers) == 6
    for seconds, status, checks in answers:
        assert status == 503
        assert checks["storage"]["ok"] is False  # type: ignore[index]
        assert checks["database"]["ok"] is True and checks["redis"]["ok"] is True  # type: ignore[index]
        assert seconds < health.DEADLINE_SECONDS + 1.5, seconds


def _pings(url: str) -> int:
    stats = redis.Redis.from_url(url).info("commandstats")
    return int(stats.get("cmdstat_ping", {}).get("calls", 0))


def test_hammering_readyz_costs_one_round_of_checks_a_second(
    tmp_path: Path, database_url: str, redis_server: RedisServer
) -> None:
    app = create_app(make_settings(tmp_path, database_url, redis_server.url))
    client = app.test_client()
    before = _pings(redis_server.url)
    started = time.monotonic()
    answers = [client.get("/readyz").status_code for _ in range(50)]
    elapsed = time.monotonic() - started
    with app.app_context():
        db.dispose()
    assert answers == [200] * 50
    assert _pings(redis_server.url) - before <= 1 + int(elapsed / health.CACHE_SECONDS)
