"""Parallel password guesses against the real app over HTTP, in threads, with real Redis:
each attempt is counted before it is checked, so no more than five are ever checked."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from hotline import create_app
from hotline.auth.models import AuditEntry
from hotline.extensions import db
from tests.auth.conftest import Account, Held
from tests.conftest import LiveServer, RedisServer, free_port, make_settings

GUESSES = 8
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def server(app: Flask, tmp_path: Path, database_url: str, redis_server: RedisServer) -> Iterator[LiveServer]:
    """The app on a real port over plain HTTP (so the browser's cookies are sent back), on the
    database and Redis of `app`, which cleans both up."""
    port = free_port()
    settings = make_settings(tmp_path, database_url, redis_server.url, public_url=f"http://127.0.0.1:{port}")
    with LiveServer(create_app(settings), port) as live:
        yield live


def _guess(base: str, email: str, start: threading.Barrier, statuses: list[int]) -> None:
    """One attacker's browser: fetch the form, wait for the others, then post a guess."""
    with requests.Session() as browser:
        token = _TOKEN.search(browser.get(f"{base}/login", timeout=30).text)
        assert token
        start.wait(timeout=60)
        answer = browser.post(
            f"{base}/login",
            data={"email": email, "password": "a-wrong-guess", "csrf_token": token.group(1)},
            allow_redirects=False,
            timeout=60,
        )
        statuses.append(answer.status_code)


@pytest.mark.parametrize("known", [True, False])
def test_eight_parallel_guesses_check_only_five(
    app: Flask, server: LiveServer, account: Account, held: Held, known: bool
) -> None:
    # The throttle's clock is held still, so the five checked guesses' delays have not passed
    # for the others however slowly the threads run: the outcome does not depend on timing.
    email = account.email if known else "nobody@example.org"
    start = threading.Barrier(GUESSES)
    statuses: list[int] = []
    threads = [threading.Thread(target=_guess, args=(server.url, email, start, statuses)) for _ in range(GUESSES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert statuses == [200] * GUESSES
    with app.app_context():
        logged = list(db.session.scalars(select(AuditEntry).where(AuditEntry.action.like("login.%"))))
    checked = [e for e in logged if e.action == "login.failed"]
    throttled = [e for e in logged if e.action == "login.throttled"]
    assert len(checked) == 5 and len(throttled) == GUESSES - 5
    if known:
        assert sorted(e.detail["attempt"] for e in checked) == [1, 2, 3, 4, 5]
